//! The key set: fetched once and cached, fetched again on an unknown key id at
//! most once per interval (concurrent misses share the fetch), and bounded in
//! size and time.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use hardshell_auth::{CfAccessError, CfAccessVerifier, KeySetPolicy};
use serde_json::json;
use tokio::net::TcpListener;
use url::Url;

use crate::support::{CERTS_PATH, JwksServer, claims, keys, serve_fixed, settings};

fn policy(min_refresh_interval: Duration) -> KeySetPolicy {
    KeySetPolicy {
        min_refresh_interval,
        ..KeySetPolicy::default()
    }
}

#[tokio::test]
async fn key_set_is_fetched_once_for_many_tokens() {
    let [key, ..] = keys();
    let server = JwksServer::start(&[key]).await;
    let verifier = server.verifier();
    for _ in 0..20 {
        verifier.verify(&key.sign(&claims())).await.unwrap();
    }
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn unknown_kid_triggers_one_refresh_and_then_is_rate_limited() {
    let [known, unknown, other_unknown] = keys();
    let server = JwksServer::start(&[known]).await;
    let interval = Duration::from_secs(2);
    let verifier = server.verifier_with(policy(interval));
    verifier.verify(&known.sign(&claims())).await.unwrap();
    assert_eq!(server.fetches(), 1);
    tokio::time::sleep(interval + Duration::from_millis(100)).await;

    let err = verifier.verify(&unknown.sign(&claims())).await.unwrap_err();
    assert!(
        matches!(&err, CfAccessError::UnknownKey { kid } if kid == "key-b"),
        "{err}"
    );
    assert_eq!(server.fetches(), 2, "an unknown kid refreshes the set once");

    let err = verifier
        .verify(&other_unknown.sign(&claims()))
        .await
        .unwrap_err();
    assert!(matches!(err, CfAccessError::UnknownKey { .. }), "{err}");
    let err = verifier.verify(&unknown.sign(&claims())).await.unwrap_err();
    assert!(matches!(err, CfAccessError::UnknownKey { .. }), "{err}");
    assert_eq!(server.fetches(), 2, "no second fetch within the interval");
}

#[tokio::test]
async fn first_token_with_an_unknown_kid_fetches_only_once() {
    let [known, unknown, _] = keys();
    let server = JwksServer::start(&[known]).await;
    let err = server
        .verifier()
        .verify(&unknown.sign(&claims()))
        .await
        .unwrap_err();
    assert!(matches!(err, CfAccessError::UnknownKey { .. }), "{err}");
    assert_eq!(
        server.fetches(),
        1,
        "the first load counts against the interval"
    );
}

#[tokio::test]
async fn concurrent_unknown_kids_share_one_fetch() {
    let [known, unknown, _] = keys();
    let server = JwksServer::start(&[known]).await;
    let interval = Duration::from_secs(1);
    let verifier = Arc::new(server.verifier_with(policy(interval)));
    verifier.verify(&known.sign(&claims())).await.unwrap();
    tokio::time::sleep(interval + Duration::from_millis(100)).await;

    let token = unknown.sign(&claims());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let verifier = Arc::clone(&verifier);
            let token = token.clone();
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for task in tasks {
        let err = task.await.unwrap().unwrap_err();
        assert!(matches!(err, CfAccessError::UnknownKey { .. }), "{err}");
    }
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn rotated_in_key_is_picked_up_by_refresh() {
    let [old, new, _] = keys();
    let server = JwksServer::start(&[old]).await;
    let interval = Duration::from_millis(500);
    let verifier = server.verifier_with(policy(interval));
    verifier.verify(&old.sign(&claims())).await.unwrap();

    server.publish(&[old, new]);
    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    let principal = verifier.verify(&new.sign(&claims())).await.unwrap();
    assert_eq!(principal.email.as_deref(), Some("owner@example.com"));
    assert_eq!(server.fetches(), 2);
    verifier.verify(&old.sign(&claims())).await.unwrap();
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn withdrawn_key_stops_verifying_once_the_set_is_stale() {
    let [withdrawn, kept, _] = keys();
    let server = JwksServer::start(&[withdrawn, kept]).await;
    let verifier = server.verifier_with(KeySetPolicy {
        min_refresh_interval: Duration::from_millis(100),
        max_age: Duration::from_millis(500),
    });
    verifier.verify(&withdrawn.sign(&claims())).await.unwrap();

    server.publish(&[kept]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let err = verifier
        .verify(&withdrawn.sign(&claims()))
        .await
        .unwrap_err();
    assert!(matches!(err, CfAccessError::UnknownKey { .. }), "{err}");
    verifier.verify(&kept.sign(&claims())).await.unwrap();
}

#[tokio::test]
async fn unreachable_key_set_is_unavailable_and_not_retried_at_once() {
    // A port that was free a moment ago: nothing listens there.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = Url::parse(&format!("http://{addr}{CERTS_PATH}")).unwrap();
    let verifier = CfAccessVerifier::new(settings(url, KeySetPolicy::default())).unwrap();
    let [key, ..] = keys();

    let err = verifier.verify(&key.sign(&claims())).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    let err = verifier.verify(&key.sign(&claims())).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(err.to_string().contains("under 30 s ago"), "{err}");
}

#[tokio::test]
async fn key_set_answering_an_error_status_is_unavailable() {
    let (url, task) = serve_fixed(StatusCode::INTERNAL_SERVER_ERROR, b"oops".to_vec()).await;
    let verifier = CfAccessVerifier::new(settings(url, KeySetPolicy::default())).unwrap();
    let [key, ..] = keys();
    let err = verifier.verify(&key.sign(&claims())).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(err.to_string().contains("500"), "{err}");
    task.abort();
}

#[tokio::test]
async fn oversized_key_set_is_refused() {
    let [key, ..] = keys();
    let huge = json!({"keys": [key.jwk()], "padding": "x".repeat(1024 * 1024)});
    let (url, task) = serve_fixed(StatusCode::OK, huge.to_string().into_bytes()).await;
    let verifier = CfAccessVerifier::new(settings(url, KeySetPolicy::default())).unwrap();
    let err = verifier.verify(&key.sign(&claims())).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(err.to_string().contains("more than"), "{err}");
    task.abort();
}

#[tokio::test]
async fn key_set_without_rsa_signing_keys_is_unavailable() {
    let body = json!({"keys": [
        {"kty": "oct", "kid": "key-a", "k": "c2VjcmV0"},
        {"kty": "RSA", "kid": "key-a", "use": "enc", "n": keys()[0].jwk()["n"], "e": "AQAB"},
    ]});
    let (url, task) = serve_fixed(StatusCode::OK, body.to_string().into_bytes()).await;
    let verifier = CfAccessVerifier::new(settings(url, KeySetPolicy::default())).unwrap();
    let err = verifier
        .verify(&keys()[0].sign(&claims()))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    task.abort();
}

#[tokio::test]
async fn silent_key_set_server_times_out() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let url = Url::parse(&format!("http://{addr}{CERTS_PATH}")).unwrap();
    let mut settings = settings(url, KeySetPolicy::default());
    settings.fetch.timeout = Duration::from_millis(500);
    let verifier = CfAccessVerifier::new(settings).unwrap();

    let started = std::time::Instant::now();
    let err = verifier
        .verify(&keys()[0].sign(&claims()))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    task.abort();
}
