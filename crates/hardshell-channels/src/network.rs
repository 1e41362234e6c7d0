//! What every platform client does with what the network sends back, in one
//! place: text cleaned before an error, a log line or a record keeps it (the
//! credentials it was sent with replaced, control and bidi characters
//! removed, cut), a transport error without its URL (Telegram's holds the
//! token), and a body read only within a bound.

use std::error::Error as _;

/// The longest text from the network an error keeps.
pub(crate) const MAX_TEXT_CHARS: usize = 200;

/// `text` from the network with each of `secrets` replaced by `<token>`,
/// control characters (newlines, escapes) and format characters that
/// reorder or hide text removed, cut to [`MAX_TEXT_CHARS`].
pub(crate) fn clean(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "<token>");
    }
    text.chars()
        .filter(|c| !c.is_control() && !is_format_control(*c))
        .take(MAX_TEXT_CHARS)
        .collect()
}

/// Bidi overrides and isolates, zero-width characters and the BOM.
fn is_format_control(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// A transport error's causes, without the request's URL, cleaned.
pub(crate) fn transport_text(error: reqwest::Error, secrets: &[&str]) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    clean(&text, secrets)
}

/// Why a body was not read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Over the bound, by its declared length or while streaming.
    TooLarge,
    /// The transport failed; its cleaned text.
    Transport(String),
}

/// The body, refused once it is known to exceed `limit` bytes: by its
/// declared length before reading, or while streaming (a length can lie).
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    limit: u64,
    secrets: &[&str],
) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ReadError::Transport(transport_text(e, secrets)))?
    {
        if u64::try_from(body.len() + chunk.len()).unwrap_or(u64::MAX) > limit {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaned_text_loses_every_secret_and_control_and_is_cut() {
        let text = format!(
            "bad 1:SECRET and xoxb-2\n\u{1b}[31m\u{202E}\u{200B}x{}",
            "y".repeat(500)
        );
        let cleaned = clean(&text, &["1:SECRET", "xoxb-2", ""]);
        assert!(
            !cleaned.contains("SECRET") && !cleaned.contains("xoxb-2"),
            "{cleaned}"
        );
        assert!(
            !cleaned
                .chars()
                .any(|c| c.is_control() || is_format_control(c))
        );
        assert_eq!(cleaned.chars().count(), MAX_TEXT_CHARS);
        assert!(
            cleaned.starts_with("bad <token> and <token>[31mx"),
            "{cleaned}"
        );
    }
}
