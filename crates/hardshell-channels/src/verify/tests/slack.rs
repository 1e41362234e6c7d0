//! Slack's signing scheme, from its published worked example.

use aws_lc_rs::hmac;
use hardshell_vocabulary::Platform;

use super::*;

// Slack's worked example, api.slack.com/authentication/verifying-requests-from-slack.
pub(super) const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub(super) const SLACK_TS: &str = "1531420618";
pub(super) const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
pub(super) const SLACK_SIG: &str =
    "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

pub(super) fn slack_sign(secret: &str, ts: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut base = format!("v0:{ts}:").into_bytes();
    base.extend_from_slice(body);
    format!("v0={}", hex::encode(hmac::sign(&key, &base)))
}

pub(super) fn slack(
    sig: Option<&str>,
    ts: Option<&str>,
    body: &str,
    now: i64,
) -> Result<(), VerifyError> {
    crate::verify::slack::verify(
        sig.map(str::as_bytes),
        ts.map(str::as_bytes),
        body.as_bytes(),
        &secret(SLACK_SECRET),
        at(now),
    )
    .map(|v| assert_eq!((v.platform(), v.body()), (Platform::Slack, body.as_bytes())))
}

#[test]
fn slacks_published_example_verifies() {
    assert_eq!(
        slack_sign(SLACK_SECRET, SLACK_TS, SLACK_BODY.as_bytes()),
        SLACK_SIG
    );
    let ts: i64 = SLACK_TS.parse().unwrap();
    assert_eq!(
        slack(Some(SLACK_SIG), Some(SLACK_TS), SLACK_BODY, ts),
        Ok(())
    );
}

#[test]
fn slack_refuses_forged_and_broken_signatures() {
    let ts: i64 = SLACK_TS.parse().unwrap();
    let run = |sig: Option<&str>| slack(sig, Some(SLACK_TS), SLACK_BODY, ts);
    assert_eq!(
        run(Some(&flip_hex_bit(SLACK_SIG, 10))),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        run(Some(&flip_hex_bit(SLACK_SIG, 66))),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(run(None), Err(VerifyError::MissingSignature));
    assert_eq!(
        run(Some(&SLACK_SIG[..66])),
        Err(VerifyError::MalformedSignature)
    );
    assert_eq!(
        run(Some(&format!("{SLACK_SIG}00"))),
        Err(VerifyError::MalformedSignature)
    );
    assert_eq!(
        run(Some(&SLACK_SIG[3..])),
        Err(VerifyError::MalformedSignature)
    );
    assert_eq!(
        run(Some(&SLACK_SIG.replace("v0=", "v1="))),
        Err(VerifyError::MalformedSignature)
    );
    // Slack sends lowercase hex and its SDKs compare the text: uppercase is not its form.
    let upper = format!("v0={}", SLACK_SIG[3..].to_uppercase());
    assert_eq!(run(Some(&upper)), Err(VerifyError::MalformedSignature));
    let wrong_secret = slack_sign("another-secret", SLACK_TS, SLACK_BODY.as_bytes());
    assert_eq!(run(Some(&wrong_secret)), Err(VerifyError::BadSignature));
    // The signature covers the timestamp: the same signature under another one fails.
    let next = (ts + 1).to_string();
    assert_eq!(
        slack(Some(SLACK_SIG), Some(&next), SLACK_BODY, ts),
        Err(VerifyError::BadSignature)
    );
    // ... and every byte of the body.
    let tampered = SLACK_BODY.replace("roadrunner", "roadrunnes");
    assert_eq!(
        slack(Some(SLACK_SIG), Some(SLACK_TS), &tampered, ts),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn slack_window_is_five_minutes_either_way() {
    let ts: i64 = SLACK_TS.parse().unwrap();
    let run = |now| slack(Some(SLACK_SIG), Some(SLACK_TS), SLACK_BODY, now);
    assert_eq!(run(ts + FRESHNESS_SECS), Ok(()));
    assert_eq!(run(ts - FRESHNESS_SECS), Ok(()));
    assert_eq!(
        run(ts + FRESHNESS_SECS + 1),
        Err(VerifyError::StaleTimestamp { age_secs: 301 })
    );
    assert_eq!(
        run(ts - FRESHNESS_SECS - 1),
        Err(VerifyError::FutureTimestamp { ahead_secs: 301 })
    );
}

#[test]
fn slack_refuses_missing_and_malformed_timestamps() {
    let ts: i64 = SLACK_TS.parse().unwrap();
    let run = |stamp: Option<&str>| slack(Some(SLACK_SIG), stamp, SLACK_BODY, ts);
    assert_eq!(run(None), Err(VerifyError::MissingTimestamp));
    for bad in [
        "",
        "+1531420618",
        "-1",
        "1531420618.5",
        " 1531420618",
        "9999999999999",
    ] {
        assert_eq!(
            run(Some(bad)),
            Err(VerifyError::MalformedTimestamp),
            "{bad:?}"
        );
    }
}

#[test]
fn slack_empty_body_verifies_only_with_its_own_signature() {
    let sig = slack_sign(SLACK_SECRET, SLACK_TS, b"");
    let ts: i64 = SLACK_TS.parse().unwrap();
    assert_eq!(slack(Some(&sig), Some(SLACK_TS), "", ts), Ok(()));
    assert_eq!(
        slack(Some(SLACK_SIG), Some(SLACK_TS), "", ts),
        Err(VerifyError::BadSignature)
    );
}
