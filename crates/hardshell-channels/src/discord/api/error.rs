//! What a Discord REST call can fail with. No variant carries the token (it
//! is only ever in a sensitive header), nor any text from the network that
//! was not cleaned: control and bidi characters removed, cut short.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

/// The longest wait a 429 is trusted with, so that a wrong answer cannot
/// stall the channel for days.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscordError {
    /// The API root is not an https URL (plain http only on loopback).
    #[error(
        "discord api root refused: must be https (plain http only on a loopback host), without query or credentials"
    )]
    Root,
    /// The token is not of the form the developer portal issues.
    #[error("discord bot token refused: not 20-200 of A-Z a-z 0-9 . _ -")]
    Token,
    /// An argument hardshell was about to send is not what Discord takes;
    /// nothing was sent.
    #[error("discord request refused before sending: {0}")]
    Argument(&'static str),
    /// 401: the token is wrong or was reset.
    #[error(
        "discord refused the bot token (401): check the token in the secret store, or reset it in the developer portal"
    )]
    Unauthorized,
    /// 403: the bot may not act there (missing permission, blocked DMs).
    #[error("discord forbade the request: {message}")]
    Forbidden { message: String },
    /// 429: wait this long, not less.
    #[error("discord rate limit: retry after {wait:?}")]
    RetryAfter { wait: Duration },
    /// Another 4xx: the request was refused (an unknown channel, too long a text).
    #[error("discord refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    /// 5xx or anything else: the platform's fault; retrying later is safe.
    #[error("discord answered status {status}")]
    Server { status: u16 },
    /// The request did not complete (connection, TLS, timeout).
    #[error("discord unreachable: {0}")]
    Transport(String),
    /// The answer was not what the API documents.
    #[error("discord answer malformed: {0}")]
    Malformed(String),
    #[error("discord answer too large")]
    TooLarge,
}

/// Discord's error body (`{"code", "message"}`; a 429 adds `retry_after`,
/// seconds as a float, and `global`).
#[derive(Deserialize, Default)]
struct Failure {
    #[serde(default)]
    message: String,
    retry_after: Option<f64>,
}

pub(super) fn failed(
    status: StatusCode,
    body: &[u8],
    retry_header: Option<f64>,
    secrets: &[&str],
) -> DiscordError {
    // A proxy's HTML page still maps by its status.
    let failure: Failure = serde_json::from_slice(body).unwrap_or_default();
    let message = clean(&failure.message, secrets);
    match status.as_u16() {
        401 => DiscordError::Unauthorized,
        403 => DiscordError::Forbidden { message },
        429 => DiscordError::RetryAfter {
            wait: retry_wait(failure.retry_after.or(retry_header)),
        },
        status @ 400..=499 => DiscordError::Refused { status, message },
        status => DiscordError::Server { status },
    }
}

/// The wait a 429 asked for: a missing, negative or non-finite one is a
/// second, a huge one an hour.
fn retry_wait(secs: Option<f64>) -> Duration {
    secs.filter(|s| s.is_finite() && *s >= 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .unwrap_or(Duration::from_secs(1))
        .min(MAX_RETRY_AFTER)
}

/// `text` from the network made fit for an error or a log line, each of
/// `secrets` (an interaction's token) taken out.
pub(crate) fn clean(text: &str, secrets: &[&str]) -> String {
    crate::network::clean(text, secrets)
}

/// A transport error's causes, without the request's URL.
pub(super) fn transport_text(error: reqwest::Error, secrets: &[&str]) -> String {
    crate::network::transport_text(error, secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_waits_what_its_body_says_bounded() {
        let body =
            br#"{"message":"You are being rate limited.","retry_after":0.25,"global":false}"#;
        let error = failed(StatusCode::TOO_MANY_REQUESTS, body, Some(9.0), &[]);
        let wait = |ms| DiscordError::RetryAfter {
            wait: Duration::from_millis(ms),
        };
        assert_eq!(error, wait(250));
        let header_only = failed(StatusCode::TOO_MANY_REQUESTS, b"<html>", Some(2.0), &[]);
        assert_eq!(header_only, wait(2000));
        for odd in [r#"{"retry_after":-3}"#, r#"{"retry_after":"x"}"#, "{}"] {
            let error = failed(StatusCode::TOO_MANY_REQUESTS, odd.as_bytes(), None, &[]);
            assert_eq!(error, wait(1000), "{odd}");
        }
        let huge = failed(
            StatusCode::TOO_MANY_REQUESTS,
            br#"{"retry_after":1e12}"#,
            None,
            &[],
        );
        assert_eq!(huge, wait(3_600_000));
    }

    #[test]
    fn platform_text_is_cleaned_and_cut() {
        let body = format!(r#"{{"message":"bad\u001b[31m\u202e{}"}}"#, "y".repeat(500));
        let DiscordError::Refused { status, message } =
            failed(StatusCode::BAD_REQUEST, body.as_bytes(), None, &[])
        else {
            panic!("a 400 is a refusal");
        };
        assert_eq!(status, 400);
        assert!(!message.chars().any(|c| c.is_control() || c == '\u{202E}'));
        assert_eq!(message.chars().count(), crate::network::MAX_TEXT_CHARS);
        assert_eq!(
            failed(StatusCode::UNAUTHORIZED, b"", None, &[]),
            DiscordError::Unauthorized
        );
        assert_eq!(
            failed(StatusCode::BAD_GATEWAY, b"", None, &[]),
            DiscordError::Server { status: 502 }
        );
    }
}
