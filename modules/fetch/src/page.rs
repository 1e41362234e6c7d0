//! A fetched page turned into what the model reads: the status checked, the
//! type checked, the bytes bounded, HTML reduced to its text.
//!
//! The HTML reduction is written here rather than taken from a crate: a
//! full HTML parser (html5ever and its tree) would be most of this module's
//! size and compile time, and the text only needs to be readable, not
//! exact: the model is told it is a page's text and untrusted. It drops
//! tags, comments and what is never shown (`script`, `style`, `noscript`,
//! `template`, `svg`, `head`), breaks lines at block elements, decodes the
//! common entities, and collapses white space.

/// The most of a page read, in bytes; more is cut (and said).
pub const MAX_PAGE_BYTES: usize = 2 << 20;

/// What the response said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<'a> {
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
    /// Whether the body was longer than [`MAX_PAGE_BYTES`] and was cut.
    pub cut: bool,
}

/// The text of `response` for the model, at most `max_chars` characters,
/// headed by where it came from; `Err` for a page that is not text or not
/// there.
pub fn text(url: &str, response: &Response<'_>, max_chars: usize) -> Result<String, String> {
    if !(200..300).contains(&response.status) {
        return Err(format!("{url} answered HTTP {}", response.status));
    }
    let kind = response
        .content_type
        .unwrap_or("text/html")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let raw = String::from_utf8_lossy(response.body);
    let body = match kind.as_str() {
        "text/html" | "application/xhtml+xml" => html_text(&raw),
        "text/plain" | "text/markdown" | "text/csv" | "application/json" | "application/xml"
        | "text/xml" => plain_text(&raw),
        other => return Err(format!("{url} is not a text page ({})", shown(other))),
    };
    let mut out = format!("{url}\n\n");
    let total = body.chars().count();
    out.extend(body.chars().take(max_chars));
    if total > max_chars || response.cut {
        out.push_str("\n\n[the page goes on; cut here]");
    }
    Ok(out)
}

/// A content type as named in an error: printable, bounded.
fn shown(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

/// Plain text: control characters but line breaks and tabs dropped.
fn plain_text(raw: &str) -> String {
    raw.chars()
        .filter(|&c| !c.is_control() || c == '\n' || c == '\t')
        .collect()
}

/// Elements whose content is never shown as text.
const HIDDEN: [&str; 7] = [
    "script", "style", "noscript", "template", "svg", "head", "iframe",
];
/// Elements that start a new line.
const BLOCKS: [&str; 21] = [
    "p",
    "br",
    "div",
    "li",
    "ul",
    "ol",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "section",
    "article",
    "header",
    "footer",
    "blockquote",
    "pre",
    "title",
];

/// The text of an HTML document (see the module).
pub fn html_text(raw: &str) -> String {
    let mut out = String::new();
    let mut rest = raw;
    let mut hidden: Option<String> = None;
    while !rest.is_empty() {
        let Some(start) = rest.find('<') else {
            if hidden.is_none() {
                out.push_str(&decoded(rest));
            }
            break;
        };
        if hidden.is_none() {
            out.push_str(&decoded(&rest[..start]));
        }
        rest = &rest[start..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        // `rest` starts with `<`, one byte; a tag never closed runs to the
        // end (sliced at `>` or the end only: both are character bounds).
        let (tag, after) = match rest[1..].find('>') {
            Some(close) => (&rest[1..=close], &rest[close + 2..]),
            None => (&rest[1..], ""),
        };
        rest = after;
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match &hidden {
            Some(inside) if closing && *inside == name => hidden = None,
            Some(_) => {}
            None if !closing && HIDDEN.contains(&name.as_str()) && !tag.ends_with('/') => {
                hidden = Some(name);
            }
            None if BLOCKS.contains(&name.as_str()) => out.push('\n'),
            None => out.push(' '),
        }
    }
    collapsed(&out)
}

/// White space collapsed: runs of spaces to one, each line trimmed, empty
/// lines dropped (block elements leave many), control characters dropped.
fn collapsed(text: &str) -> String {
    text.lines()
        .map(|line| {
            line.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .filter(|c| !c.is_control())
                .collect::<String>()
        })
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The common entities decoded; an unknown one is left as written.
fn decoded(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let entity = rest[1..]
            .find(';')
            .filter(|&end| end <= 10)
            .map(|end| &rest[1..=end]);
        let decoded = entity.and_then(|name| match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" | "#39" => Some('\''),
            "nbsp" => Some(' '),
            _ => numeric(name),
        });
        match (entity, decoded) {
            (Some(name), Some(c)) => {
                out.push(c);
                rest = &rest[name.len() + 2..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `#65` or `#x41`, if it names a character that is not a control.
fn numeric(name: &str) -> Option<char> {
    let digits = name.strip_prefix('#')?;
    let code = match digits.strip_prefix(['x', 'X']) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => digits.parse().ok()?,
    };
    char::from_u32(code).filter(|c| !c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page<'a>(status: u16, content_type: Option<&'a str>, body: &'a str) -> Response<'a> {
        Response {
            status,
            content_type,
            body: body.as_bytes(),
            cut: false,
        }
    }

    #[test]
    fn html_becomes_its_visible_text() {
        let html = "<!doctype html><html><head><title>T</title><style>p{x:1}</style></head>\
                    <body><h1>Rust &amp; you</h1><p>One&nbsp;<b>bold</b> word.</p>\
                    <script>alert('hidden')</script><!-- a comment --><p>Two &#x41;&#66; &bogus; &lt;tag&gt;</p>\
                    <ul><li>a</li><li>b</li></ul></body></html>";
        let text = html_text(html);
        assert_eq!(
            text,
            "Rust & you\nOne bold word.\nTwo AB &bogus; <tag>\na\nb"
        );
    }

    #[test]
    fn an_unclosed_hidden_element_or_tag_hides_the_rest_and_never_panics() {
        assert_eq!(html_text("shown<script>never shown"), "shown");
        assert_eq!(html_text("a <b"), "a");
        assert_eq!(html_text("<"), "");
        assert_eq!(html_text("&#xFFFFFFFF; &#0; &"), "&#xFFFFFFFF; &#0; &");
        assert_eq!(html_text("x<!-- never closed"), "x");
        // A tag cut off inside a character of more than one byte.
        assert_eq!(html_text("a<é"), "a");
        assert_eq!(html_text("a<bé"), "a");
        assert_eq!(html_text("<p>é</p>ü<"), "é\nü");
    }

    #[test]
    fn the_answer_names_the_page_is_bounded_and_says_it_was_cut() {
        let body = "word ".repeat(1000);
        let text = text("https://e.org/", &page(200, Some("text/plain"), &body), 100).unwrap();
        assert!(text.starts_with("https://e.org/\n\n"));
        assert!(text.ends_with("[the page goes on; cut here]"));
        assert_eq!(
            text.chars().count(),
            "https://e.org/\n\n".len() + 100 + "\n\n[the page goes on; cut here]".len()
        );
    }

    #[test]
    fn a_page_that_is_not_there_or_not_text_is_an_error() {
        let missing = text("https://e.org/x", &page(404, None, "gone"), 100).unwrap_err();
        assert_eq!(missing, "https://e.org/x answered HTTP 404");
        let image = text(
            "https://e.org/i",
            &page(200, Some("image/png\u{7}"), ""),
            100,
        );
        assert_eq!(
            image.unwrap_err(),
            "https://e.org/i is not a text page (image/png)"
        );
        let json = text(
            "https://e.org/j",
            &page(
                200,
                Some("application/json; charset=utf-8"),
                "{\"a\":1}\u{1b}",
            ),
            100,
        );
        assert_eq!(json.unwrap(), "https://e.org/j\n\n{\"a\":1}");
    }
}
