//! WhatsApp Cloud API webhooks (developers.facebook.com/docs/graph-api/webhooks/getting-started):
//! every POST carries `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the
//! raw body under the app secret, which we require (Meta has no timestamp, so
//! replays are refused by message id, [`super::SeenIds`]); subscribing the
//! endpoint is a GET handshake that must present the configured verify token
//! before its challenge is echoed.

use aws_lc_rs::hmac;
use hardshell_secrets::SecretValue;
use hardshell_vocabulary::Platform;

use super::{Verified, VerifyError, check_body_size, lower_hex, tokens_match};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Longest handshake query read: Meta's is three short parameters.
pub const MAX_QUERY_BYTES: usize = 1024;

/// Checks a delivery's `signature` header (absent if the request had none)
/// against `body` under `app_secret`, before parsing.
pub fn verify<'b>(
    signature: Option<&[u8]>,
    body: &'b [u8],
    app_secret: &SecretValue,
) -> Result<Verified<'b>, VerifyError> {
    check_body_size(body)?;
    let signature = signature.ok_or(VerifyError::MissingSignature)?;
    let tag = signature
        .strip_prefix(b"sha256=")
        .and_then(lower_hex::<32>)
        .ok_or(VerifyError::MalformedSignature)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, app_secret.expose());
    // hmac::verify compares in constant time.
    hmac::verify(&key, body, &tag).map_err(|_| VerifyError::BadSignature)?;
    Ok(Verified::new(Platform::Whatsapp, body))
}

/// Answers the subscription handshake: `query` is the GET request's raw query
/// string. Returns the challenge to echo as the response body, only if
/// `hub.mode` is `subscribe` and `hub.verify_token` is the configured one.
pub fn handshake(query: &str, verify_token: &SecretValue) -> Result<String, VerifyError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(VerifyError::MalformedQuery);
    }
    let mut mode = None;
    let mut token = None;
    let mut challenge = None;
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match name.as_ref() {
            "hub.mode" => &mut mode,
            "hub.verify_token" => &mut token,
            "hub.challenge" => &mut challenge,
            _ => return Err(VerifyError::MalformedQuery),
        };
        // A repeated parameter could mean different things to different
        // readers of the same query: refuse it.
        if slot.replace(value).is_some() {
            return Err(VerifyError::MalformedQuery);
        }
    }
    if mode.as_deref() != Some("subscribe") {
        return Err(VerifyError::NotSubscribe);
    }
    let token = token.ok_or(VerifyError::MissingVerifyToken)?;
    if !tokens_match(token.as_bytes(), verify_token.expose()) {
        return Err(VerifyError::WrongVerifyToken);
    }
    let challenge = challenge.ok_or(VerifyError::MalformedChallenge)?;
    let echoable = (1..=64).contains(&challenge.len())
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if !echoable {
        return Err(VerifyError::MalformedChallenge);
    }
    Ok(challenge.into_owned())
}
