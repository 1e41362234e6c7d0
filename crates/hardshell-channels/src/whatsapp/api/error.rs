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
    /// A user's file larger than the bound it is fetched within, by Meta's
    /// word or by what arrived.
    #[error("whatsapp file larger than {limit} bytes: not fetched")]
    FileTooLarge { limit: u64 },
    /// The media answer named a download URL the token may not go to; the
    /// reason names its host, never the URL (a capability to the file).
    #[error("whatsapp media download refused before connecting: {0}")]
    MediaUrl(String),
    /// The downloaded file is not the one Meta described.
    #[error("whatsapp file does not match the sha256 meta gave for it: not saved")]
    Digest,
}

/// `text` from the network made fit for an error, a log line or a record:
/// the token replaced, control characters (newlines, escapes, bidi
/// overrides) removed, cut (`network::clean`).
pub(crate) fn clean(text: &str, token: &str) -> String {
    crate::network::clean(text, &[token])
}
