//! What a Web API call can fail with. No variant carries a token: tokens
//! travel in the `Authorization` header only (marked sensitive), transport
//! errors lose their URL, and the platform's words are kept only as its
//! `error` code, cut down to the characters such a code has.

/// A failed Web API call, or a client that could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    /// The API root is not https (plain http only to loopback, for a local
    /// emulator or the tests' fake).
    #[error("slack api root refused: {0}")]
    Root(&'static str),
    /// A token that is not of the documented form (`xoxb-…`, `xapp-…`).
    #[error("slack {0} refused: not of the form {1}")]
    Token(&'static str, &'static str),
    /// The call needs the app-level token, which this client was not given.
    #[error("slack: {0} needs the app-level token (xapp-…), which is not configured")]
    NoAppToken(&'static str),
    /// 429: retry after this many seconds, not before.
    #[error("slack rate limit on {method}: retry after {secs}s")]
    RetryAfter { method: &'static str, secs: u64 },
    /// `ok: false` for a token Slack does not take (`invalid_auth`,
    /// `not_authed`, `token_revoked`, `account_inactive`...).
    #[error(
        "slack refused the token on {method} ({error}): check it in the secret store, or reinstall the app"
    )]
    Unauthorized { method: &'static str, error: String },
    /// `ok: false` with any other error code (`channel_not_found`,
    /// `msg_too_long`, `message_not_found`...).
    #[error("slack refused {method}: {error}")]
    Refused { method: &'static str, error: String },
    /// Any other status: the platform's fault; retrying later is safe.
    #[error("slack answered {method} with status {status}")]
    Server { method: &'static str, status: u16 },
    /// The request did not complete (connection, TLS, timeout).
    #[error("slack unreachable: {0}")]
    Transport(String),
    /// The answer was not what the Web API documents.
    #[error("slack answer to {method} malformed: {detail}")]
    Malformed {
        method: &'static str,
        detail: &'static str,
    },
    /// A file's URL (or an upload URL) that is not on Slack's files host:
    /// the token and the bytes go nowhere else. The URL is not repeated.
    #[error("slack: a file URL not on slack's files host was refused")]
    NotFilesHost,
    /// An answer larger than any the Web API sends to these calls.
    #[error("slack answer larger than {limit} bytes")]
    TooLarge { limit: u64 },
}

impl SlackError {
    /// Whether the same call may succeed if retried later (after
    /// `RetryAfter::secs` for a rate limit).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RetryAfter { .. } | Self::Server { .. } | Self::Transport(_)
        )
    }
}

/// The longest error code kept; Slack's are a few dozen characters.
const MAX_CODE_CHARS: usize = 64;

/// Slack's `error` code fit for an error, a log line or a record: its codes
/// are lower-case words joined by `_`, so everything else is dropped (no
/// newline, escape or bidi control survives), and it is cut.
pub(crate) fn clean_code(code: &str) -> String {
    let kept: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(MAX_CODE_CHARS)
        .collect();
    if kept.is_empty() {
        "unknown_error".into()
    } else {
        kept
    }
}

/// Text from the network (a transport error's causes) with `secrets`
/// replaced and control characters removed, cut to 200 characters.
pub(crate) fn clean_text(text: &str, secrets: &[&str]) -> String {
    crate::network::clean(text, secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_code_keeps_only_code_characters() {
        assert_eq!(clean_code("channel_not_found"), "channel_not_found");
        assert_eq!(clean_code("bad\n\u{1b}[31m\u{202E}code"), "bad31mcode");
        assert_eq!(clean_code(&"x".repeat(500)).len(), MAX_CODE_CHARS);
        assert_eq!(clean_code("\n\n"), "unknown_error");
    }

    #[test]
    fn text_loses_secrets_and_controls() {
        let cleaned = clean_text("error xoxb-1-SECRET\r\n\u{202E}end", &["xoxb-1-SECRET"]);
        assert_eq!(cleaned, "error <token>end");
    }
}
