//! The verifiers against each platform's published scheme: every allow path
//! beside its deny paths, and no secret in any refusal's text.

use chrono::{DateTime, TimeZone, Utc};
use hardshell_secrets::SecretValue;
use zeroize::Zeroizing;

use super::*;

mod discord;
mod slack;
mod telegram;
mod whatsapp;

use slack::{SLACK_BODY, SLACK_SECRET, SLACK_SIG, SLACK_TS, slack};
use telegram::TG_SECRET;
use whatsapp::{WA_SECRET, WA_TOKEN, handshake, whatsapp, whatsapp_sign};

pub(super) fn secret(text: &str) -> SecretValue {
    SecretValue::new(Zeroizing::new(text.as_bytes().to_vec())).unwrap()
}

pub(super) fn at(unix: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(unix, 0).unwrap()
}

/// Flips the lowest bit of one hex digit, keeping it a lowercase hex digit.
pub(super) fn flip_hex_bit(text: &str, index: usize) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let value = (bytes[index] as char).to_digit(16).unwrap() ^ 1;
    bytes[index] = char::from_digit(value, 16).unwrap() as u8;
    String::from_utf8(bytes).unwrap()
}

#[test]
fn oversized_bodies_are_refused_before_any_check() {
    let body = vec![b'a'; MAX_BODY_BYTES + 1];
    let big = Err(VerifyError::BodyTooLarge {
        len: MAX_BODY_BYTES + 1,
    });
    let token = secret("s3cret");
    assert_eq!(
        crate::verify::telegram::verify(Some(b"s3cret"), &body, &token).map(|_| ()),
        big
    );
    assert_eq!(
        crate::verify::whatsapp::verify(None, &body, &token).map(|_| ()),
        big
    );
    let slack = crate::verify::slack::verify(None, None, &body, &token, at(0)).map(|_| ());
    assert_eq!(slack, big);
}

/// Drives every refusal with canary secrets and checks that neither the
/// refusal's text nor its record name carries a secret or header text.
#[test]
fn no_refusal_shows_a_secret() {
    let canaries = [TG_SECRET, WA_SECRET, WA_TOKEN, SLACK_SECRET];
    let ts: i64 = SLACK_TS.parse().unwrap();
    let wa_sig = whatsapp_sign(b"x");
    let refusals = [
        crate::verify::telegram::verify(Some(b"wrong"), b"{}", &secret(TG_SECRET)).map(|_| ()),
        crate::verify::telegram::verify(
            Some(TG_SECRET.as_bytes()),
            b"{}",
            &secret(&format!("{TG_SECRET} ")),
        )
        .map(|_| ()),
        crate::verify::telegram::verify(None, b"{}", &secret(TG_SECRET)).map(|_| ()),
        slack(
            Some(&flip_hex_bit(SLACK_SIG, 9)),
            Some(SLACK_TS),
            SLACK_BODY,
            ts,
        ),
        slack(Some(SLACK_SIG), Some(SLACK_TS), SLACK_BODY, ts + 1000),
        slack(Some(SLACK_SECRET), Some(SLACK_SECRET), SLACK_BODY, ts),
        whatsapp(Some(&flip_hex_bit(&wa_sig, 9)), b"x"),
        whatsapp(Some(WA_SECRET), b"x"),
        handshake(&format!(
            "hub.mode=subscribe&hub.verify_token={WA_SECRET}&hub.challenge=1"
        ))
        .map(|_| ()),
        handshake(&format!(
            "hub.mode={WA_TOKEN}&hub.verify_token={WA_TOKEN}&hub.challenge=1"
        ))
        .map(|_| ()),
        handshake(&format!(
            "hub.mode=subscribe&hub.verify_token={WA_TOKEN}&hub.challenge={WA_TOKEN}."
        ))
        .map(|_| ()),
    ];
    for refusal in refusals {
        let err = refusal.unwrap_err();
        let shown = format!("{err} {err:?} {}", err.reason());
        for canary in canaries {
            assert!(!shown.contains(canary), "{shown}");
        }
        assert!(!shown.contains("canary"), "{shown}");
    }
}

#[test]
fn reasons_are_snake_case() {
    let all = [
        VerifyError::BodyTooLarge { len: 1 },
        VerifyError::MissingSignature,
        VerifyError::MalformedSignature,
        VerifyError::BadSignature,
        VerifyError::MissingTimestamp,
        VerifyError::MalformedTimestamp,
        VerifyError::StaleTimestamp { age_secs: 1 },
        VerifyError::FutureTimestamp { ahead_secs: 1 },
        VerifyError::MissingSecretToken,
        VerifyError::WrongSecretToken,
        VerifyError::UnusableSecret,
        VerifyError::MalformedPublicKey,
        VerifyError::MalformedQuery,
        VerifyError::NotSubscribe,
        VerifyError::MissingVerifyToken,
        VerifyError::WrongVerifyToken,
        VerifyError::MalformedChallenge,
    ];
    let mut seen = std::collections::HashSet::new();
    for err in all {
        let reason = err.reason();
        assert!(
            reason.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{reason}"
        );
        assert!(seen.insert(reason), "{reason} twice");
    }
}
