//! Requests signed as Discord signs them (Ed25519 over timestamp ‖ body).
#![allow(clippy::unwrap_used)]

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue};

use super::*;

fn pair(seed: u8) -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap()
}

fn signed_endpoint() -> DiscordInteractions {
    let public = hex::encode(pair(7).public_key().as_ref());
    let key = hardshell_config::DiscordPublicKey::parse(&public).unwrap();
    DiscordInteractions::new(&key).unwrap()
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn signed(signer: &Ed25519KeyPair, body: &str) -> HeaderMap {
    let stamp = now().timestamp().to_string();
    let signature = signer.sign(format!("{stamp}{body}").as_bytes());
    let mut headers = HeaderMap::new();
    headers.insert(
        SIGNATURE_HEADER,
        HeaderValue::from_str(&hex::encode(signature.as_ref())).unwrap(),
    );
    headers.insert(TIMESTAMP_HEADER, HeaderValue::from_str(&stamp).unwrap());
    headers
}

fn receive(endpoint: &DiscordInteractions, headers: &HeaderMap, body: &str) -> WebhookOutcome {
    endpoint.receive(WebhookRequest {
        method: &Method::POST,
        headers,
        query: None,
        body: body.as_bytes(),
        now: now(),
    })
}

const PING_BODY: &str =
    r#"{"id":"135000000000000777","application_id":"1","type":1,"token":"t","version":1}"#;

#[test]
fn a_signed_ping_is_answered_with_a_json_pong() {
    let endpoint = signed_endpoint();
    let outcome = receive(&endpoint, &signed(&pair(7), PING_BODY), PING_BODY);
    assert_eq!(
        outcome,
        WebhookOutcome::Accepted {
            body: br#"{"type":1}"#.to_vec()
        }
    );
    assert_eq!(endpoint.path(), "/hooks/discord");
    assert_eq!(endpoint.methods(), &[Method::POST]);
    assert_eq!(endpoint.accepted_content_type(), "application/json");
}

#[test]
fn a_forged_ping_is_rejected() {
    let endpoint = signed_endpoint();
    let forged = receive(&endpoint, &signed(&pair(8), PING_BODY), PING_BODY);
    assert_eq!(forged, WebhookOutcome::Rejected(VerifyError::BadSignature));
    let altered = PING_BODY.replace("\"type\":1", "\"type\":2");
    let tampered = receive(&endpoint, &signed(&pair(7), PING_BODY), &altered);
    assert_eq!(
        tampered,
        WebhookOutcome::Rejected(VerifyError::BadSignature)
    );
    let unsigned = receive(&endpoint, &HeaderMap::new(), PING_BODY);
    assert_eq!(
        unsigned,
        WebhookOutcome::Rejected(VerifyError::MissingSignature)
    );
}

#[test]
fn a_replayed_interaction_is_a_duplicate() {
    let endpoint = signed_endpoint();
    let headers = signed(&pair(7), PING_BODY);
    assert!(matches!(
        receive(&endpoint, &headers, PING_BODY),
        WebhookOutcome::Accepted { .. }
    ));
    assert_eq!(
        receive(&endpoint, &headers, PING_BODY),
        WebhookOutcome::Duplicate
    );
}

#[test]
fn a_command_gets_an_ephemeral_refusal_and_junk_is_malformed() {
    let endpoint = signed_endpoint();
    let command = r#"{"id":"135000000000000778","type":2,"data":{"name":"x"}}"#;
    let WebhookOutcome::Accepted { body } = receive(&endpoint, &signed(&pair(7), command), command)
    else {
        panic!("a command is answered");
    };
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["type"], 4);
    assert_eq!(answer["data"]["flags"], 64);
    let junk = r#"{"nope":true}"#;
    assert_eq!(
        receive(&endpoint, &signed(&pair(7), junk), junk),
        WebhookOutcome::Malformed
    );
}

#[test]
fn the_route_exists_only_with_a_public_key() {
    let mut config = hardshell_config::Discord::default();
    assert!(super::endpoint(&config).unwrap().is_none());
    let public = hex::encode(pair(7).public_key().as_ref());
    config.public_key = Some(hardshell_config::DiscordPublicKey::parse(&public).unwrap());
    let route = super::endpoint(&config).unwrap().unwrap();
    assert_eq!(route.path(), "/hooks/discord");
    assert_eq!(route.platform(), Platform::Discord);
}
