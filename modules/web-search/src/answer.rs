//! Brave's answer, read as hostile: the status decides between results and
//! a clean error for the model; a result list becomes a short plain-text
//! list of title, link and description, each cut to a bounded length, with
//! no control or text-direction characters; whatever else Brave (or anyone
//! answering in its name) sent is dropped.

mod results;

use serde_json::Value;
use serde_json::error::Category;

use results::Fields;

/// The most of an answer's body the module reads; more is an error. Brave's
/// twenty web results with their extras are well under this.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// The longest title shown, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// The longest link shown.
pub const MAX_URL_CHARS: usize = 500;
/// The longest description shown.
pub const MAX_DESCRIPTION_CHARS: usize = 400;
/// The longest error code of Brave's that is quoted to the model.
const MAX_CODE_CHARS: usize = 64;
/// The longest error body whose code is read. Brave's are a few hundred
/// bytes; a `serde_json::Value` of a longer hostile one could need fifty
/// times its size.
const MAX_ERROR_BYTES: usize = 16 << 10;

/// The model's answer for a response of `status` with `body`, listing at
/// most `count` results.
pub fn read(status: u16, body: &[u8], count: u8) -> Result<String, String> {
    if !(200..300).contains(&status) {
        return Err(refusal(status, body));
    }
    // Brave leaves `web` out when nothing was found.
    let listed = results::read(body, usize::from(count), &entry)
        .map_err(|error| match error.classify() {
            Category::Data => "Brave Search answered JSON that is not a web search's".to_owned(),
            _ => "Brave Search answered something that is not JSON".to_owned(),
        })?
        .unwrap_or_default();
    if listed.is_empty() {
        return Ok("No results.".to_owned());
    }
    let numbered: Vec<String> = listed
        .iter()
        .enumerate()
        .map(|(n, entry)| format!("{}. {entry}", n + 1))
        .collect();
    Ok(numbered.join("\n"))
}

/// One result as three lines, or `None` for one with neither a title nor
/// a link.
fn entry(result: &Fields) -> Option<String> {
    let field = |text: &Option<String>, limit: usize| {
        text.as_deref()
            .map(|text| plain(text, limit))
            .filter(|text| !text.is_empty())
    };
    let title = field(&result.title, MAX_TITLE_CHARS);
    // Only a web link is shown as one: `javascript:` or `file:` is not a
    // page the owner could open.
    let url = field(&result.url, MAX_URL_CHARS)
        .filter(|url| url.starts_with("https://") || url.starts_with("http://"));
    if title.is_none() && url.is_none() {
        return None;
    }
    let description = field(&result.description, MAX_DESCRIPTION_CHARS);
    Some(format!(
        "{}\n   {}\n   {}",
        title.as_deref().unwrap_or("(untitled)"),
        url.as_deref().unwrap_or("(no link)"),
        description.as_deref().unwrap_or("(no description)")
    ))
}

/// `text` as one line of plain text: Brave's `<strong>` highlighting and
/// the common HTML entities undone, control and text-direction characters
/// and runs of spaces made one space, cut to `limit` characters.
fn plain(text: &str, limit: usize) -> String {
    let text = text
        .replace("<strong>", "")
        .replace("</strong>", "")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let mut line = String::new();
    let mut kept = 0;
    for word in text.split(|c: char| c.is_whitespace() || disturbs(c)) {
        if word.is_empty() {
            continue;
        }
        if !line.is_empty() {
            line.push(' ');
            kept += 1;
        }
        for c in word.chars() {
            if kept >= limit {
                line.push('…');
                return line;
            }
            line.push(c);
            kept += 1;
        }
    }
    line
}

/// Characters that can change what a reader sees around them: controls and
/// Unicode's direction marks, embeddings, overrides and isolates.
fn disturbs(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The model's error for a response that is not a success: what Brave's
/// code says where it says it (its documented `error.code`), and what the
/// owner can do about it.
fn refusal(status: u16, body: &[u8]) -> String {
    let code = error_code(body);
    let quoted = code
        .as_deref()
        .map(|code| format!(", {code}"))
        .unwrap_or_default();
    let key_refused = matches!(status, 401 | 403)
        || code
            .as_deref()
            .is_some_and(|code| code.starts_with("SUBSCRIPTION_TOKEN"));
    // The broker's own refusals (a key not stored yet, an address it will
    // not dial) are plain text of its own; its first line says why.
    if body.starts_with(b"hardshell broker:") {
        let first_line = body.split(|b| *b == b'\n').next().unwrap_or_default();
        let why = plain(&String::from_utf8_lossy(first_line), MAX_DESCRIPTION_CHARS);
        return format!(
            "the search was refused before it reached Brave Search (HTTP {status}, {why}): \
             if the key is not stored yet, the owner stores it with \
             `hardshell secret put BRAVE_SEARCH_API_KEY`"
        );
    }
    if key_refused {
        return format!(
            "Brave Search refused the API key (HTTP {status}{quoted}): the owner sets it \
             with `hardshell secret put BRAVE_SEARCH_API_KEY`"
        );
    }
    if status == 429 {
        return format!(
            "Brave Search's rate limit or quota is reached (HTTP 429{quoted}): try again later"
        );
    }
    format!("Brave Search answered HTTP {status}{quoted}")
}

/// Brave's error code (`error.code`, or the first of `errors[].code`, as
/// its reference shows both), if it is one: upper-case letters, digits
/// and `_`, bounded. Anything else in the body is not quoted, nor the code
/// of a body longer than [`MAX_ERROR_BYTES`].
fn error_code(body: &[u8]) -> Option<String> {
    if body.len() > MAX_ERROR_BYTES {
        return None;
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    let code = value
        .pointer("/error/code")
        .or_else(|| value.pointer("/errors/0/code"))?
        .as_str()?;
    let is_code = !code.is_empty()
        && code.len() <= MAX_CODE_CHARS
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    is_code.then(|| code.to_owned())
}

#[cfg(test)]
mod tests;
