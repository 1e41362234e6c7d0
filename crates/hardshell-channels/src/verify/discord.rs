//! Discord's interaction signing (discord.com/developers/docs/interactions/overview,
//! "Setting Up an Endpoint"): `X-Signature-Ed25519` is the hex Ed25519
//! signature of `{X-Signature-Timestamp}{raw body}` under the application's
//! public key. Discord checks no freshness; we refuse timestamps outside the
//! same five-minute window as Slack's, and replays inside it by interaction id.

use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use chrono::{DateTime, Utc};
use hardshell_vocabulary::Platform;

use super::{Verified, VerifyError, any_case_hex, check_body_size, fresh_timestamp};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// The header carrying the signed timestamp (unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";

/// An application's Ed25519 public key, from the developer portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey([u8; 32]);

/// Parses the public key as the portal shows it: 64 hex digits (either case).
pub fn parse_public_key(text: &str) -> Result<PublicKey, VerifyError> {
    any_case_hex::<32>(text.trim().as_bytes())
        .map(PublicKey)
        .ok_or(VerifyError::MalformedPublicKey)
}

/// Checks a delivery's `signature` and `timestamp` headers (absent if the
/// request had none) against `body` under `key`, before parsing.
pub fn verify<'b>(
    signature: Option<&[u8]>,
    timestamp: Option<&[u8]>,
    body: &'b [u8],
    key: &PublicKey,
    now: DateTime<Utc>,
) -> Result<Verified<'b>, VerifyError> {
    check_body_size(body)?;
    let signature = signature.ok_or(VerifyError::MissingSignature)?;
    let signature = any_case_hex::<64>(signature).ok_or(VerifyError::MalformedSignature)?;
    let stamp = timestamp.ok_or(VerifyError::MissingTimestamp)?;
    fresh_timestamp(Some(stamp), now.timestamp())?;
    let mut signed = Vec::with_capacity(stamp.len() + body.len());
    signed.extend_from_slice(stamp);
    signed.extend_from_slice(body);
    UnparsedPublicKey::new(&ED25519, &key.0)
        .verify(&signed, &signature)
        .map_err(|_| VerifyError::BadSignature)?;
    Ok(Verified::new(Platform::Discord, body))
}
