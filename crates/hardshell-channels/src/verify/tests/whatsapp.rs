//! WhatsApp's body signature and its subscription handshake.

use aws_lc_rs::hmac;
use hardshell_vocabulary::Platform;

use super::*;

pub(super) const WA_SECRET: &str = "wa-app-secret-canary";

pub(super) fn whatsapp_sign(body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, WA_SECRET.as_bytes());
    format!("sha256={}", hex::encode(hmac::sign(&key, body)))
}

pub(super) fn whatsapp(sig: Option<&str>, body: &[u8]) -> Result<(), VerifyError> {
    crate::verify::whatsapp::verify(sig.map(str::as_bytes), body, &secret(WA_SECRET))
        .map(|v| assert_eq!((v.platform(), v.body()), (Platform::Whatsapp, body)))
}

#[test]
fn whatsapp_verifies_the_body_signature() {
    let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    assert_eq!(whatsapp(Some(&whatsapp_sign(body)), body), Ok(()));
    assert_eq!(whatsapp(Some(&whatsapp_sign(b"")), b""), Ok(()));
}

#[test]
fn whatsapp_refuses_unsigned_forged_and_malformed_deliveries() {
    let body = br#"{"object":"whatsapp_business_account"}"#;
    let good = whatsapp_sign(body);
    assert_eq!(whatsapp(None, body), Err(VerifyError::MissingSignature));
    assert_eq!(
        whatsapp(Some(&flip_hex_bit(&good, 7)), body),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        whatsapp(Some(&flip_hex_bit(&good, 70)), body),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(whatsapp(Some(&good), b"{}"), Err(VerifyError::BadSignature));
    assert_eq!(
        whatsapp(Some(&whatsapp_sign(body)), b""),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        whatsapp(Some(&good[..70]), body),
        Err(VerifyError::MalformedSignature)
    );
    assert_eq!(
        whatsapp(Some(&good[7..]), body),
        Err(VerifyError::MalformedSignature)
    );
    let sha1 = good.replace("sha256=", "sha1=");
    assert_eq!(
        whatsapp(Some(&sha1), body),
        Err(VerifyError::MalformedSignature)
    );
    let upper = format!("sha256={}", good[7..].to_uppercase());
    assert_eq!(
        whatsapp(Some(&upper), body),
        Err(VerifyError::MalformedSignature)
    );
}

pub(super) const WA_TOKEN: &str = "verify-token-canary";

pub(super) fn handshake(query: &str) -> Result<String, VerifyError> {
    crate::verify::whatsapp::handshake(query, &secret(WA_TOKEN))
}

#[test]
fn whatsapp_handshake_echoes_the_challenge_for_the_right_token() {
    let query = format!("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={WA_TOKEN}");
    assert_eq!(handshake(&query), Ok("1158201444".to_owned()));
}

#[test]
fn whatsapp_handshake_refuses_everything_else() {
    let q = |mode: &str, token: &str, challenge: &str| {
        handshake(&format!(
            "hub.mode={mode}&hub.verify_token={token}&hub.challenge={challenge}"
        ))
    };
    assert_eq!(
        q("subscribe", "verify-token-canarz", "1"),
        Err(VerifyError::WrongVerifyToken)
    );
    assert_eq!(q("subscribe", "", "1"), Err(VerifyError::WrongVerifyToken));
    assert_eq!(
        q("unsubscribe", WA_TOKEN, "1"),
        Err(VerifyError::NotSubscribe)
    );
    assert_eq!(
        q("subscribe", WA_TOKEN, ""),
        Err(VerifyError::MalformedChallenge)
    );
    assert_eq!(
        q("subscribe", WA_TOKEN, "%3Cscript%3E"),
        Err(VerifyError::MalformedChallenge)
    );
    assert_eq!(
        q("subscribe", WA_TOKEN, &"9".repeat(65)),
        Err(VerifyError::MalformedChallenge)
    );
    assert_eq!(
        q("subscribe", WA_TOKEN, &"9".repeat(64)),
        Ok("9".repeat(64))
    );
    assert_eq!(
        handshake("hub.mode=subscribe&hub.challenge=1"),
        Err(VerifyError::MissingVerifyToken)
    );
    let no_challenge = format!("hub.mode=subscribe&hub.verify_token={WA_TOKEN}");
    assert_eq!(
        handshake(&no_challenge),
        Err(VerifyError::MalformedChallenge)
    );
    let twice = format!(
        "hub.mode=subscribe&hub.verify_token=x&hub.verify_token={WA_TOKEN}&hub.challenge=1"
    );
    assert_eq!(handshake(&twice), Err(VerifyError::MalformedQuery));
    let extra = format!("hub.mode=subscribe&hub.verify_token={WA_TOKEN}&hub.challenge=1&x=1");
    assert_eq!(handshake(&extra), Err(VerifyError::MalformedQuery));
    assert_eq!(
        handshake(&"a".repeat(1025)),
        Err(VerifyError::MalformedQuery)
    );
}
