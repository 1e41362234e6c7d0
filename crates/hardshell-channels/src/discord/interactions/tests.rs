//! Requests signed as Discord signs them (Ed25519 over timestamp ‖ body).
#![allow(clippy::unwrap_used)]

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue};

use super::*;
use crate::discord::answering::Via;

fn pair(seed: u8) -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap()
}

fn key() -> hardshell_config::DiscordPublicKey {
    let public = hex::encode(pair(7).public_key().as_ref());
    hardshell_config::DiscordPublicKey::parse(&public).unwrap()
}

fn signed_endpoint() -> Arc<DiscordInteractions> {
    queueing_endpoint(64).0
}

fn queueing_endpoint(room: usize) -> (Arc<DiscordInteractions>, mpsc::Receiver<Arrived>) {
    let (queue, taken) = mpsc::channel(room);
    (DiscordInteractions::feeding(&key(), queue).unwrap(), taken)
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

const PRESS_BODY: &str = r#"{"id":"135000000000000779","application_id":"135000000000000001","type":3,"token":"aW50ZXJhY3Rpb24","channel_id":"135000000000000020","user":{"id":"135000000000000555"},"data":{"custom_id":"x:a1:1","component_type":2},"message":{"content":"Run it?"}}"#;
const COMMAND_BODY: &str = r#"{"id":"135000000000000778","application_id":"135000000000000001","type":2,"token":"aW50ZXJhY3Rpb24","channel_id":"135000000000000020","user":{"id":"135000000000000555"},"data":{"name":"hardshell","options":[{"name":"text","type":3,"value":"hi"}]}}"#;

fn answer(outcome: WebhookOutcome) -> serde_json::Value {
    let WebhookOutcome::Accepted { body } = outcome else {
        panic!("accepted: {outcome:?}");
    };
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn a_press_is_deferred_and_queued_for_the_channel_once() {
    let (endpoint, mut taken) = queueing_endpoint(4);
    let headers = signed(&pair(7), PRESS_BODY);
    let answered = answer(receive(&endpoint, &headers, PRESS_BODY));
    assert_eq!(answered, serde_json::json!({"type": 6}));
    let arrived = taken.try_recv().unwrap();
    assert_eq!(arrived.via, Via::Http);
    assert_eq!(arrived.interaction.id, "135000000000000779");
    assert_eq!(
        receive(&endpoint, &headers, PRESS_BODY),
        WebhookOutcome::Duplicate
    );
    assert!(taken.try_recv().is_err(), "a replay is not queued again");
}

#[test]
fn a_command_is_deferred_where_only_its_user_sees_it_and_queued() {
    let (endpoint, mut taken) = queueing_endpoint(4);
    let answered = answer(receive(
        &endpoint,
        &signed(&pair(7), COMMAND_BODY),
        COMMAND_BODY,
    ));
    assert_eq!(answered["type"], 5);
    assert_eq!(answered["data"]["flags"], 64);
    assert!(taken.try_recv().is_ok());
}

#[test]
fn a_full_queue_is_busy_and_the_retry_is_taken() {
    let (endpoint, mut taken) = queueing_endpoint(1);
    let other = PRESS_BODY.replace("135000000000000779", "135000000000000780");
    assert!(matches!(
        receive(&endpoint, &signed(&pair(7), &other), &other),
        WebhookOutcome::Accepted { .. }
    ));
    let headers = signed(&pair(7), PRESS_BODY);
    assert_eq!(
        receive(&endpoint, &headers, PRESS_BODY),
        WebhookOutcome::Busy
    );
    taken.try_recv().unwrap();
    assert!(matches!(
        receive(&endpoint, &headers, PRESS_BODY),
        WebhookOutcome::Accepted { .. }
    ));
}

#[test]
fn other_kinds_get_an_ephemeral_refusal_and_junk_is_malformed() {
    let (endpoint, mut taken) = queueing_endpoint(4);
    let autocomplete = r#"{"id":"135000000000000781","type":4,"data":{"name":"x"}}"#;
    let answered = answer(receive(
        &endpoint,
        &signed(&pair(7), autocomplete),
        autocomplete,
    ));
    assert_eq!(answered["type"], 4);
    assert_eq!(answered["data"]["flags"], 64);
    assert!(taken.try_recv().is_err(), "nothing runs for it");
    let junk = r#"{"nope":true}"#;
    assert_eq!(
        receive(&endpoint, &signed(&pair(7), junk), junk),
        WebhookOutcome::Malformed
    );
    // A press whose token is no token is not queued.
    let forged = PRESS_BODY.replace("aW50ZXJhY3Rpb24", "a/b");
    assert_eq!(
        receive(&endpoint, &signed(&pair(7), &forged), &forged),
        WebhookOutcome::Malformed
    );
    assert!(taken.try_recv().is_err());
}

#[test]
fn a_forged_press_is_rejected_and_not_queued() {
    let (endpoint, mut taken) = queueing_endpoint(4);
    let forged = receive(&endpoint, &signed(&pair(8), PRESS_BODY), PRESS_BODY);
    assert_eq!(forged, WebhookOutcome::Rejected(VerifyError::BadSignature));
    assert!(taken.try_recv().is_err());
}
