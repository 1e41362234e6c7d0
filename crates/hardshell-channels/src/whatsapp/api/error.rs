//! What a Graph API call can fail with. No variant ever carries the access
//! token: it travels only in the `Authorization` header, transport errors
//! lose their URL, and every text the platform sends back is cleaned and
//! scrubbed of the token before an error keeps it.

use std::time::Duration;

/// A failed Graph API call, or a client that could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhatsappError {
    /// The access token is not a bearer token (RFC 6750's `b64token`, at
    /// most [`super::MAX_TOKEN_BYTES`]), so it cannot be sent in a header.
    #[error("whatsapp access token refused: not a bearer token (letters, digits, - . _ ~ + / =)")]
    Token,
    /// An argument hardshell was about to send is outside what the Cloud API
    /// allows; nothing was sent.
    #[error("whatsapp request refused before sending: {0}")]
    Argument(&'static str),
    /// 401, or Graph error 190: the token is wrong, expired or revoked.
    #[error(
        "whatsapp refused the access token (401): check it in the secret store, or issue a new system user token in Meta's business settings"
    )]
    TokenRefused,
    /// 429, or one of the Graph rate-limit codes (4, 80007, 130429, 131048,
    /// 131056): wait `retry_after`, then try again.
    #[error("whatsapp rate limit (code {code:?}): retry after {retry_after:?}")]
    RateLimited {
        code: Option<i64>,
        retry_after: Duration,
    },
    /// 400: the platform refused the request (too long a text, a number
    /// outside the 24-hour window).
    #[error("whatsapp refused the request (code {code:?}): {message}")]
    BadRequest { code: Option<i64>, message: String },
    /// 403: the app may not act for this number.
    #[error("whatsapp forbade the request (code {code:?}): {message}")]
    Forbidden { code: Option<i64>, message: String },
    /// Any other status: the platform's fault; retrying later is safe.
    #[error("whatsapp answered status {status}")]
    Server { status: u16 },
    /// The request did not complete (connection, TLS, timeout).
    #[error("whatsapp unreachable: {0}")]
    Transport(String),
    /// The answer was not what the Cloud API documents.
    #[error("whatsapp answer malformed: {0}")]
    Malformed(String),
    /// An answer larger than the client reads.
    #[error("whatsapp answer larger than {limit} bytes")]
    TooLarge { limit: u64 },
}

/// The longest text from the network an error keeps.
pub(crate) const MAX_DESCRIPTION_CHARS: usize = 200;

/// `text` from the network made fit for an error, a log line or a record:
/// the token replaced, control characters (newlines, escapes, bidi
/// overrides) removed, cut to [`MAX_DESCRIPTION_CHARS`]. The same rule as
/// Telegram's client (`telegram/api/error.rs`).
pub(crate) fn clean(text: &str, token: &str) -> String {
    let scrubbed = if token.is_empty() {
        text.to_owned()
    } else {
        text.replace(token, "<token>")
    };
    scrubbed
        .chars()
        .filter(|c| !c.is_control() && !is_format_control(*c))
        .take(MAX_DESCRIPTION_CHARS)
        .collect()
}

/// Unicode format characters that reorder or hide text in a terminal or a
/// viewer (bidi overrides and isolates, zero-width joiners).
fn is_format_control(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_removes_the_token_and_control_characters_and_cuts() {
        let text = format!("bad EAAsecret\n\u{1b}[31m\u{202E}x{}", "y".repeat(500));
        let cleaned = clean(&text, "EAAsecret");
        assert!(!cleaned.contains("secret"), "{cleaned}");
        assert!(!cleaned.chars().any(|c| c.is_control() || c == '\u{202E}'));
        assert_eq!(cleaned.chars().count(), MAX_DESCRIPTION_CHARS);
        assert!(cleaned.starts_with("bad <token>[31mx"), "{cleaned}");
    }
}
