//! Webhook verifiers: the one check each platform's signed HTTP delivery must
//! pass before its body is read. Each runs on the raw bytes as they arrived
//! (a parsed and re-serialised body would not match its signature) and
//! returns a [`Verified`] body, which only a verifier can make, so a handler
//! that parses events can take nothing else. Secrets are compared in
//! constant time; the clock is a parameter, so every window is tested exactly.
//! Neither an error's `Display` nor its `Debug` carries a secret or any of the
//! sender's header text: a record gets [`VerifyError::reason`].

use aws_lc_rs::{constant_time, digest};
use hardshell_audit::event::WebhookRejection;
use hardshell_vocabulary::Platform;

pub mod discord;
mod seen;
pub mod slack;
pub mod telegram;
pub mod whatsapp;

pub use seen::{MAX_ID_BYTES, SeenIds};

/// Largest webhook body a verifier accepts. Every platform's event fits well
/// within it (Telegram documents none, but OpenClaw's spool caps at 1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How far a signed timestamp may lie from `now`, either way: Slack's window,
/// which we also give Discord (which documents none).
pub const FRESHNESS_SECS: i64 = 300;

/// A webhook body whose signature (or secret token) was checked. Only the
/// verifiers in this module make one; the body is the exact bytes checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified<'b> {
    platform: Platform,
    body: &'b [u8],
}

impl<'b> Verified<'b> {
    fn new(platform: Platform, body: &'b [u8]) -> Self {
        Self { platform, body }
    }

    /// The platform whose check it passed.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The raw body, byte for byte as it was verified.
    pub fn body(&self) -> &'b [u8] {
        self.body
    }
}

/// Why a webhook delivery was refused. Every variant is the sender's doing
/// (a forged, replayed or broken request), so none is worth retrying as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The body is larger than any platform sends.
    #[error("webhook body of {len} bytes is over the {MAX_BODY_BYTES}-byte limit")]
    BodyTooLarge { len: usize },
    /// No signature header.
    #[error("webhook has no signature header")]
    MissingSignature,
    /// A signature header that is not of the platform's form.
    #[error("webhook signature header is malformed")]
    MalformedSignature,
    /// A well-formed signature that does not match the body.
    #[error("webhook signature does not match its body")]
    BadSignature,
    /// No timestamp header.
    #[error("webhook has no timestamp header")]
    MissingTimestamp,
    /// A timestamp header that is not decimal unix seconds.
    #[error("webhook timestamp header is malformed")]
    MalformedTimestamp,
    /// Signed longer ago than the freshness window: a possible replay.
    #[error("webhook timestamp is {age_secs} s old (over {FRESHNESS_SECS} s)")]
    StaleTimestamp { age_secs: i64 },
    /// Signed later than now by more than the window.
    #[error("webhook timestamp is {ahead_secs} s in the future (over {FRESHNESS_SECS} s)")]
    FutureTimestamp { ahead_secs: i64 },
    /// No Telegram secret-token header.
    #[error("webhook has no secret token header")]
    MissingSecretToken,
    /// A Telegram secret token that is not the configured one.
    #[error("webhook secret token is wrong")]
    WrongSecretToken,
    /// The configured Telegram secret is not one Telegram accepts, so no
    /// request could carry it: refuse everything rather than compare.
    #[error("the configured webhook secret is unusable (1-256 of A-Z a-z 0-9 _ -)")]
    UnusableSecret,
    /// The configured Discord public key is not 64 hex digits.
    #[error("the configured public key is not 32 bytes of hex")]
    MalformedPublicKey,
    /// A WhatsApp handshake query that is not one of `hub.mode`,
    /// `hub.verify_token`, `hub.challenge` each once.
    #[error("verification handshake query is malformed")]
    MalformedQuery,
    /// A WhatsApp handshake whose `hub.mode` is not `subscribe`.
    #[error("verification handshake mode is not subscribe")]
    NotSubscribe,
    /// A WhatsApp handshake without `hub.verify_token`.
    #[error("verification handshake has no verify token")]
    MissingVerifyToken,
    /// A WhatsApp handshake whose verify token is not the configured one.
    #[error("verification handshake verify token is wrong")]
    WrongVerifyToken,
    /// A `hub.challenge` we would not echo (1-64 of 0-9 A-Z a-z _ -).
    #[error("verification handshake challenge is malformed")]
    MalformedChallenge,
}

impl VerifyError {
    /// The refusal's name for audit records and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::BodyTooLarge { .. } => "body_too_large",
            VerifyError::MissingSignature => "missing_signature",
            VerifyError::MalformedSignature => "malformed_signature",
            VerifyError::BadSignature => "bad_signature",
            VerifyError::MissingTimestamp => "missing_timestamp",
            VerifyError::MalformedTimestamp => "malformed_timestamp",
            VerifyError::StaleTimestamp { .. } => "stale_timestamp",
            VerifyError::FutureTimestamp { .. } => "future_timestamp",
            VerifyError::MissingSecretToken => "missing_secret_token",
            VerifyError::WrongSecretToken => "wrong_secret_token",
            VerifyError::UnusableSecret => "unusable_secret",
            VerifyError::MalformedPublicKey => "malformed_public_key",
            VerifyError::MalformedQuery => "malformed_query",
            VerifyError::NotSubscribe => "not_subscribe",
            VerifyError::MissingVerifyToken => "missing_verify_token",
            VerifyError::WrongVerifyToken => "wrong_verify_token",
            VerifyError::MalformedChallenge => "malformed_challenge",
        }
    }
}

impl VerifyError {
    /// The refusal as the audit log records it (`webhook_rejected`).
    pub fn rejection(&self) -> WebhookRejection {
        match self {
            VerifyError::MissingSignature | VerifyError::MissingTimestamp => {
                WebhookRejection::MissingSignature
            }
            VerifyError::MalformedSignature
            | VerifyError::MalformedTimestamp
            | VerifyError::MalformedPublicKey => WebhookRejection::MalformedSignature,
            VerifyError::BadSignature => WebhookRejection::BadSignature,
            VerifyError::StaleTimestamp { .. } | VerifyError::FutureTimestamp { .. } => {
                WebhookRejection::StaleTimestamp
            }
            VerifyError::MissingSecretToken
            | VerifyError::WrongSecretToken
            | VerifyError::UnusableSecret => WebhookRejection::WrongSecretToken,
            VerifyError::MissingVerifyToken | VerifyError::WrongVerifyToken => {
                WebhookRejection::WrongVerifyToken
            }
            VerifyError::BodyTooLarge { .. }
            | VerifyError::MalformedQuery
            | VerifyError::NotSubscribe
            | VerifyError::MalformedChallenge => WebhookRejection::Malformed,
        }
    }
}

fn check_body_size(body: &[u8]) -> Result<(), VerifyError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(VerifyError::BodyTooLarge { len: body.len() });
    }
    Ok(())
}

/// Compares a presented token with the configured one without revealing,
/// through timing, how much of it matched or how long the configured one is:
/// both are hashed first, then the digests compared in constant time.
fn tokens_match(presented: &[u8], configured: &[u8]) -> bool {
    let presented = digest::digest(&digest::SHA256, presented);
    let configured = digest::digest(&digest::SHA256, configured);
    constant_time::verify_slices_are_equal(presented.as_ref(), configured.as_ref()).is_ok()
}

/// Decodes exactly `N` bytes of lowercase hex, the form Slack and Meta send
/// (their own libraries compare the hex text, so uppercase never matches).
fn lower_hex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// Decodes exactly `N` bytes of hex in either case, as Discord's libraries do.
fn any_case_hex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// Parses decimal unix seconds (at most 12 digits, no sign) and checks them
/// against `now` within [`FRESHNESS_SECS`] either way.
fn fresh_timestamp(text: Option<&[u8]>, now: i64) -> Result<(), VerifyError> {
    let text = text.ok_or(VerifyError::MissingTimestamp)?;
    if text.is_empty() || text.len() > 12 || !text.iter().all(u8::is_ascii_digit) {
        return Err(VerifyError::MalformedTimestamp);
    }
    let signed_at = text
        .iter()
        .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
    let age = now.saturating_sub(signed_at);
    if age > FRESHNESS_SECS {
        return Err(VerifyError::StaleTimestamp { age_secs: age });
    }
    if -age > FRESHNESS_SECS {
        return Err(VerifyError::FutureTimestamp { ahead_secs: -age });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
