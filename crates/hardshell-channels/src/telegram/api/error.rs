//! What a Bot API call can fail with. No variant ever carries the bot token:
//! it is in every request's URL path, so transport errors are stripped of
//! their URL, and every text that came from the network is cleaned and
//! scrubbed of the token before it is kept.

/// A failed Bot API call, or a client that could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelegramError {
    /// The API root is not an https URL (plain http is allowed on loopback only,
    /// for a local emulator).
    #[error("telegram api root refused: {0}")]
    Root(&'static str),
    /// The bot token is not of the form `<digits>:<letters, digits, _ or ->`.
    #[error("telegram bot token refused: not of the form 123456:ABC-def_ghi")]
    Token,
    /// An argument hardshell was about to send is outside what the Bot API
    /// allows; nothing was sent.
    #[error("telegram request refused before sending: {0}")]
    Argument(&'static str),
    /// 409: another process is polling with this token, or a webhook is set.
    #[error("telegram conflict ({description}): {cause}")]
    Conflict {
        cause: ConflictCause,
        description: String,
    },
    /// 429: flood control; retry after `secs` seconds, not before.
    #[error("telegram rate limit: retry after {secs}s")]
    RetryAfter { secs: u64 },
    /// 400: the platform refused the request (too long a text, an unknown chat).
    #[error("telegram refused the request: {description}")]
    BadRequest { description: String },
    /// 401, or 404 for every method (which is how the Bot API answers an
    /// unknown token): the token is wrong or was revoked.
    #[error(
        "telegram refused the bot token (401/404): check the token in the secret store, or revoke and reissue it with @BotFather"
    )]
    Unauthorized,
    /// 403: the bot may not act there (blocked by the user, removed from the group).
    #[error("telegram forbade the request: {description}")]
    Forbidden { description: String },
    /// Any other status: the platform's fault; retrying later is safe.
    #[error("telegram answered status {status}")]
    Server { status: u16 },
    /// The request did not complete (connection, TLS, timeout).
    #[error("telegram unreachable: {0}")]
    Transport(String),
    /// The answer was not what the Bot API documents.
    #[error("telegram answer malformed: {0}")]
    Malformed(String),
    /// An answer or a file larger than the bound given.
    #[error("telegram answer larger than {limit} bytes")]
    TooLarge { limit: u64 },
}

/// Which of the two causes of a 409 to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConflictCause {
    #[error(
        "a webhook is set for this bot: delete it (deleteWebhook) or run the channel in webhook mode"
    )]
    WebhookActive,
    #[error("another process polls with this bot token: stop it (one poller per token)")]
    OtherPoller,
}

impl TelegramError {
    /// Whether the same call may succeed if retried later (after
    /// `RetryAfter::secs` for a rate limit).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RetryAfter { .. } | Self::Server { .. } | Self::Transport(_)
        )
    }
}

/// `text` from the network made fit for an error, a log line or a record:
/// the token replaced, control characters (newlines, escapes, bidi
/// overrides) removed, cut (`network::clean`).
pub(crate) fn clean(text: &str, token: &str) -> String {
    crate::network::clean(text, &[token])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_failures_are_retryable() {
        assert!(TelegramError::RetryAfter { secs: 3 }.is_retryable());
        assert!(TelegramError::Server { status: 502 }.is_retryable());
        assert!(!TelegramError::Unauthorized.is_retryable());
        let conflict = TelegramError::Conflict {
            cause: ConflictCause::OtherPoller,
            description: String::new(),
        };
        assert!(!conflict.is_retryable());
    }
}
