//! Slack's request signing (api.slack.com/authentication/verifying-requests-from-slack):
//! `X-Slack-Signature: v0=<hex>` is HMAC-SHA256 under the app's signing
//! secret of `v0:{X-Slack-Request-Timestamp}:{raw body}`, and the timestamp
//! must be within five minutes of now. Replays inside the window are refused
//! by event_id ([`super::SeenIds`]).

use aws_lc_rs::hmac;
use chrono::{DateTime, Utc};
use hardshell_secrets::SecretValue;
use hardshell_vocabulary::Platform;

use super::{Verified, VerifyError, check_body_size, fresh_timestamp, lower_hex};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// The header carrying the signed timestamp (unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";

/// Checks a delivery's `signature` and `timestamp` headers (absent if the
/// request had none) against `body` under `signing_secret`, before parsing.
pub fn verify<'b>(
    signature: Option<&[u8]>,
    timestamp: Option<&[u8]>,
    body: &'b [u8],
    signing_secret: &SecretValue,
    now: DateTime<Utc>,
) -> Result<Verified<'b>, VerifyError> {
    check_body_size(body)?;
    let signature = signature.ok_or(VerifyError::MissingSignature)?;
    let tag = signature
        .strip_prefix(b"v0=")
        .and_then(lower_hex::<32>)
        .ok_or(VerifyError::MalformedSignature)?;
    let stamp = timestamp.ok_or(VerifyError::MissingTimestamp)?;
    fresh_timestamp(Some(stamp), now.timestamp())?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, signing_secret.expose());
    let mut signed = hmac::Context::with_key(&key);
    signed.update(b"v0:");
    signed.update(stamp);
    signed.update(b":");
    signed.update(body);
    let expected = signed.sign();
    // verify_slices_are_equal is constant time over equal lengths (32 here).
    aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_ref(), &tag)
        .map_err(|_| VerifyError::BadSignature)?;
    Ok(Verified::new(Platform::Slack, body))
}
