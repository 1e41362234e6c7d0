//! The first look at a token: its shape and its JOSE header, before any key or
//! signature is involved. Pure and total — every input gives `Ok` or `Err`,
//! never a panic — so it is the fuzzing entry point for this module.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::CfAccessError;

/// Tokens longer than this are refused before any decoding. Cloudflare's
/// tokens are one to two kilobytes; the limit leaves room for custom claims.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Key ids longer than this are not Cloudflare's (theirs are 64 hex digits).
const MAX_KID_BYTES: usize = 256;

/// The parts of a token's header that choose how it is verified. Nothing in
/// it is trusted yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnverifiedHeader {
    pub alg: String,
    pub kid: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// Checks that `token` is a compact JWS of three base64url segments and reads
/// its header. Does not check the algorithm, the key or the signature.
pub fn parse_unverified_header(token: &str) -> Result<UnverifiedHeader, CfAccessError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(CfAccessError::TooLarge {
            len: token.len(),
            max: MAX_TOKEN_BYTES,
        });
    }
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(malformed("not three dot-separated segments"));
    };
    if header.is_empty() || payload.is_empty() {
        return Err(malformed("empty header or payload"));
    }
    // The signature may be empty here: an unsigned (`alg: none`) token is
    // well-formed, and is refused for its algorithm, which says more.
    if ![header, payload, signature].iter().all(|s| is_base64url(s)) {
        return Err(malformed("segment is not base64url"));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| malformed("header is not base64url"))?;
    let raw: RawHeader =
        serde_json::from_slice(&bytes).map_err(|_| malformed("header is not a JOSE header"))?;
    if raw.crit.is_some() {
        // RFC 7515 §4.1.11: a `crit` extension we do not understand must be refused.
        return Err(malformed("header has critical extensions"));
    }
    if raw
        .kid
        .as_ref()
        .is_some_and(|kid| kid.len() > MAX_KID_BYTES)
    {
        return Err(malformed("key id is too long"));
    }
    Ok(UnverifiedHeader {
        alg: raw.alg,
        kid: raw.kid,
    })
}

fn is_base64url(segment: &str) -> bool {
    segment
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn malformed(reason: &'static str) -> CfAccessError {
    CfAccessError::Malformed { reason }
}
