//! Hostile and broken tokens: each is refused with its own error, before any
//! key is fetched where that is possible, and no error repeats the token.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hardshell_auth::{CfAccessError, MAX_TOKEN_BYTES, parse_unverified_header};
use proptest::prelude::*;
use serde_json::json;

use crate::support::{JwksServer, b64, claims, keys, signing_input};

async fn refused(token: &str) -> (CfAccessError, usize) {
    let [key, ..] = keys();
    let server = JwksServer::start(&[key]).await;
    let err = server.verifier().verify(token).await.unwrap_err();
    let text = format!("{err} {err:?}");
    // The payload is the part that would identify a person; never echo it.
    if let Some(payload) = token.split('.').nth(1).filter(|p| p.len() > 8) {
        assert!(!text.contains(payload), "error echoes the token: {text}");
    }
    (err, server.fetches())
}

#[tokio::test]
async fn unsigned_alg_none_token_is_denied() {
    for alg in ["none", "None", "NONE"] {
        let token = format!(
            "{}.",
            signing_input(&json!({"alg": alg, "kid": "key-a"}), &claims())
        );
        let (err, fetches) = refused(&token).await;
        assert!(
            matches!(&err, CfAccessError::AlgorithmNotAllowed { alg: a } if a == alg),
            "{err}"
        );
        assert_eq!(fetches, 0);
    }
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_denied() {
    let [key, ..] = keys();
    let input = signing_input(
        &json!({"alg": "HS256", "kid": key.kid, "typ": "JWT"}),
        &claims(),
    );
    // The classic confusion attack: use the public key, which anyone has, as
    // the HMAC secret, hoping the verifier feeds its RSA key to HMAC.
    for secret in [
        key.public_pem().into_bytes(),
        key.jwk()["n"].as_str().unwrap().as_bytes().to_vec(),
    ] {
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &secret),
            input.as_bytes(),
        );
        let token = format!("{input}.{}", b64(tag.as_ref()));
        let (err, fetches) = refused(&token).await;
        assert!(
            matches!(&err, CfAccessError::AlgorithmNotAllowed { alg } if alg == "HS256"),
            "{err}"
        );
        assert_eq!(fetches, 0);
    }
}

#[tokio::test]
async fn other_asymmetric_algorithms_are_denied() {
    let [key, ..] = keys();
    for alg in ["RS512", "PS256", "ES256", "EdDSA"] {
        let token = key.sign_with_header(&json!({"alg": alg, "kid": key.kid}), &claims());
        let (err, _) = refused(&token).await;
        assert!(
            matches!(err, CfAccessError::AlgorithmNotAllowed { .. }),
            "{alg}: {err}"
        );
    }
}

#[tokio::test]
async fn token_without_kid_is_denied() {
    let [key, ..] = keys();
    let token = key.sign_with_header(&json!({"alg": "RS256"}), &claims());
    let (err, _) = refused(&token).await;
    assert!(matches!(err, CfAccessError::Malformed { .. }), "{err}");
}

#[tokio::test]
async fn token_signed_by_another_key_under_a_known_kid_is_denied() {
    let [published, unpublished, _] = keys();
    let token =
        unpublished.sign_with_header(&json!({"alg": "RS256", "kid": published.kid}), &claims());
    let (err, _) = refused(&token).await;
    assert!(matches!(err, CfAccessError::BadSignature), "{err}");
}

#[tokio::test]
async fn token_with_a_tampered_payload_is_denied() {
    let [key, ..] = keys();
    let token = key.sign(&claims());
    let mut forged = claims();
    forged["email"] = json!("attacker@example.com");
    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(forged.to_string().as_bytes()),
        parts[2]
    );
    let (err, _) = refused(&tampered).await;
    assert!(matches!(err, CfAccessError::BadSignature), "{err}");
}

#[tokio::test]
async fn token_with_a_truncated_signature_is_denied() {
    let [key, ..] = keys();
    let token = key.sign(&claims());
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    signature.pop();
    let (err, _) = refused(&format!("{input}.{}", b64(&signature))).await;
    assert!(matches!(err, CfAccessError::BadSignature), "{err}");
}

#[tokio::test]
async fn wrong_segment_count_is_malformed() {
    let [key, ..] = keys();
    let token = key.sign(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    for bad in [
        String::new(),
        parts[0].to_owned(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{token}.{}", parts[2]),
        format!(".{}.{}", parts[1], parts[2]),
    ] {
        let (err, fetches) = refused(&bad).await;
        assert!(
            matches!(err, CfAccessError::Malformed { .. }),
            "{bad:?}: {err}"
        );
        assert_eq!(fetches, 0);
    }
}

#[tokio::test]
async fn bad_base64_is_malformed() {
    let [key, ..] = keys();
    let token = key.sign(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    for bad in [
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}+/", parts[0], parts[1], parts[2]),
        format!("{}.{}!.{}", parts[0], parts[1], parts[2]),
        format!("A{}.{}.{}", parts[0], parts[1], parts[2]),
    ] {
        let (err, _) = refused(&bad).await;
        assert!(
            matches!(err, CfAccessError::Malformed { .. }),
            "{bad:?}: {err}"
        );
    }
}

#[tokio::test]
async fn garbage_json_header_is_malformed() {
    for header in [
        b"not json".as_slice(),
        b"[]",
        b"{\"kid\":\"key-a\"}",
        b"{\"alg\":7}",
    ] {
        let token = format!(
            "{}.{}.c2ln",
            b64(header),
            b64(claims().to_string().as_bytes())
        );
        let (err, fetches) = refused(&token).await;
        assert!(matches!(err, CfAccessError::Malformed { .. }), "{err}");
        assert_eq!(fetches, 0);
    }
}

#[tokio::test]
async fn header_with_critical_extensions_is_malformed() {
    let [key, ..] = keys();
    let token = key.sign_with_header(
        &json!({"alg": "RS256", "kid": key.kid, "crit": ["exp"], "exp": 1}),
        &claims(),
    );
    let (err, _) = refused(&token).await;
    assert!(matches!(err, CfAccessError::Malformed { .. }), "{err}");
}

#[tokio::test]
async fn correctly_signed_garbage_payload_is_malformed() {
    let [key, ..] = keys();
    let header = json!({"alg": "RS256", "kid": key.kid});
    let token = key.sign_with_header(&header, &json!("just a string"));
    let (err, _) = refused(&token).await;
    assert!(matches!(err, CfAccessError::Malformed { .. }), "{err}");
}

#[tokio::test]
async fn oversized_token_is_denied_before_any_decoding_or_fetch() {
    let [key, ..] = keys();
    let mut big = claims();
    big["padding"] = json!("x".repeat(MAX_TOKEN_BYTES));
    let token = key.sign(&big);
    let (err, fetches) = refused(&token).await;
    assert!(
        matches!(
            err,
            CfAccessError::TooLarge {
                max: MAX_TOKEN_BYTES,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(fetches, 0);
}

#[tokio::test]
async fn control_characters_in_kid_do_not_reach_the_message_raw() {
    let [key, ..] = keys();
    let token = key.sign_with_header(
        &json!({"alg": "RS256", "kid": "x\nforged log line"}),
        &claims(),
    );
    let (err, _) = refused(&token).await;
    assert!(matches!(err, CfAccessError::UnknownKey { .. }), "{err}");
    assert!(!err.to_string().contains('\n'), "{err}");
}

proptest! {
    #[test]
    fn any_string_parses_or_fails_without_panicking(token in any::<String>()) {
        let _ = parse_unverified_header(&token);
    }

    #[test]
    fn any_three_base64url_segments_parse_or_fail_without_panicking(
        header in proptest::collection::vec(any::<u8>(), 0..64),
        rest in "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}",
    ) {
        let _ = parse_unverified_header(&format!("{}.{rest}", b64(&header)));
    }

    #[test]
    fn any_json_header_parses_or_fails_without_panicking(
        alg in any::<Option<String>>(),
        kid in any::<Option<String>>(),
    ) {
        let header = json!({"alg": alg, "kid": kid});
        let _ = parse_unverified_header(&format!("{}.e30.", b64(header.to_string().as_bytes())));
    }
}
