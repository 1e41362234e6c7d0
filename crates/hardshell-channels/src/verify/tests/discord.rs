//! Discord's Ed25519 interaction signatures and our freshness window.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use hardshell_vocabulary::Platform;

use super::*;

pub(super) fn discord_key() -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).unwrap()
}

pub(super) fn discord_sign(pair: &Ed25519KeyPair, ts: &str, body: &[u8]) -> String {
    let mut msg = ts.as_bytes().to_vec();
    msg.extend_from_slice(body);
    hex::encode(pair.sign(&msg))
}

pub(super) const DC_TS: i64 = 1_764_000_000;

pub(super) fn discord(
    sig: Option<&str>,
    ts: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    let key =
        crate::verify::discord::parse_public_key(&hex::encode(discord_key().public_key())).unwrap();
    crate::verify::discord::verify(
        sig.map(str::as_bytes),
        ts.map(str::as_bytes),
        body,
        &key,
        at(now),
    )
    .map(|v| assert_eq!((v.platform(), v.body()), (Platform::Discord, body)))
}

#[test]
fn discord_verifies_ed25519_over_timestamp_and_body_in_either_hex_case() {
    let body = br#"{"type":1}"#;
    let ts = DC_TS.to_string();
    let sig = discord_sign(&discord_key(), &ts, body);
    assert_eq!(discord(Some(&sig), Some(&ts), body, DC_TS), Ok(()));
    assert_eq!(
        discord(Some(&sig.to_uppercase()), Some(&ts), body, DC_TS),
        Ok(())
    );
    let empty = discord_sign(&discord_key(), &ts, b"");
    assert_eq!(discord(Some(&empty), Some(&ts), b"", DC_TS), Ok(()));
    let upper_key = hex::encode_upper(discord_key().public_key());
    assert!(crate::verify::discord::parse_public_key(&upper_key).is_ok());
}

#[test]
fn discord_refuses_forged_stale_and_malformed_interactions() {
    let body = br#"{"type":2}"#;
    let ts = DC_TS.to_string();
    let sig = discord_sign(&discord_key(), &ts, body);
    let run =
        |sig: Option<&str>, stamp: Option<&str>, body: &[u8], now| discord(sig, stamp, body, now);
    assert_eq!(
        run(Some(&flip_hex_bit(&sig, 0)), Some(&ts), body, DC_TS),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        run(Some(&flip_hex_bit(&sig, 127)), Some(&ts), body, DC_TS),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        run(Some(&sig), Some(&ts), br#"{"type":3}"#, DC_TS),
        Err(VerifyError::BadSignature)
    );
    let other = Ed25519KeyPair::from_seed_unchecked(&[8u8; 32]).unwrap();
    let forged = discord_sign(&other, &ts, body);
    assert_eq!(
        run(Some(&forged), Some(&ts), body, DC_TS),
        Err(VerifyError::BadSignature)
    );
    let later = (DC_TS + 1).to_string();
    assert_eq!(
        run(Some(&sig), Some(&later), body, DC_TS),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        run(None, Some(&ts), body, DC_TS),
        Err(VerifyError::MissingSignature)
    );
    assert_eq!(
        run(Some(&sig[..126]), Some(&ts), body, DC_TS),
        Err(VerifyError::MalformedSignature)
    );
    assert_eq!(
        run(Some(&format!("{sig}00")), Some(&ts), body, DC_TS),
        Err(VerifyError::MalformedSignature)
    );
    assert_eq!(
        run(
            Some(&sig.replacen(&sig[..1], "g", 1)),
            Some(&ts),
            body,
            DC_TS
        ),
        Err(VerifyError::MalformedSignature)
    );
    assert_eq!(
        run(Some(&sig), None, body, DC_TS),
        Err(VerifyError::MissingTimestamp)
    );
    assert_eq!(
        run(Some(&sig), Some("1764000000.0"), body, DC_TS),
        Err(VerifyError::MalformedTimestamp)
    );
    assert_eq!(run(Some(&sig), Some(&ts), body, DC_TS + 300), Ok(()));
    assert_eq!(
        run(Some(&sig), Some(&ts), body, DC_TS + 301),
        Err(VerifyError::StaleTimestamp { age_secs: 301 })
    );
    assert_eq!(
        run(Some(&sig), Some(&ts), body, DC_TS - 301),
        Err(VerifyError::FutureTimestamp { ahead_secs: 301 })
    );
}

#[test]
fn discord_public_key_must_be_32_bytes_of_hex() {
    let good = hex::encode([1u8; 32]);
    assert!(crate::verify::discord::parse_public_key(&good).is_ok());
    for bad in [
        &good[..62],
        &format!("{good}00"),
        &good.replacen('0', "z", 1),
        "",
    ] {
        assert_eq!(
            crate::verify::discord::parse_public_key(bad),
            Err(VerifyError::MalformedPublicKey),
            "{bad:?}"
        );
    }
}
