//! The chat channels' webhook routes: public, authenticated by the
//! platform's secret before the body is read as an event; a refusal is
//! audited and charged to the address's failed-authentication budget.

use std::sync::{Arc, Mutex};

use hardshell_channels::Platform;
use hardshell_channels::verify;
use hardshell_channels::webhook::{WebhookEndpoint, WebhookOutcome, WebhookRequest};
use hardshell_secrets::SecretValue;
use http::Method;

use crate::support::{TestEdge, request};

const SECRET: &str = "a-webhook-secret_0123456789";

/// Telegram's webhook check, with the bodies it let through kept.
#[derive(Debug)]
struct Hook {
    secret: SecretValue,
    delivered: Mutex<Vec<Vec<u8>>>,
}

impl WebhookEndpoint for Hook {
    fn platform(&self) -> Platform {
        Platform::Telegram
    }
    fn path(&self) -> &'static str {
        "/hooks/telegram"
    }
    fn methods(&self) -> &'static [Method] {
        &[Method::POST]
    }
    fn receive(&self, request: WebhookRequest<'_>) -> WebhookOutcome {
        let presented = request
            .headers
            .get(verify::telegram::SECRET_TOKEN_HEADER)
            .map(|value| value.as_bytes());
        match verify::telegram::verify(presented, request.body, &self.secret) {
            Ok(verified) => {
                if request.body == b"again" {
                    return WebhookOutcome::Duplicate;
                }
                self.delivered
                    .lock()
                    .unwrap()
                    .push(verified.body().to_vec());
                WebhookOutcome::Accepted { body: Vec::new() }
            }
            Err(refusal) => WebhookOutcome::Rejected(refusal),
        }
    }
}

async fn edge(limits: &str) -> (TestEdge, Arc<Hook>) {
    let hook = Arc::new(Hook {
        secret: SecretValue::new(zeroize::Zeroizing::new(SECRET.as_bytes().to_vec())).unwrap(),
        delivered: Mutex::new(Vec::new()),
    });
    let edge = TestEdge::start_with_webhooks(limits, vec![hook.clone()]).await;
    (edge, hook)
}

fn secret_header(secret: &str) -> String {
    format!("X-Telegram-Bot-Api-Secret-Token: {secret}")
}

#[tokio::test]
async fn a_delivery_with_the_platforms_secret_is_taken_without_a_login() {
    let (edge, hook) = edge("").await;
    let reply = request(
        edge.addr,
        "POST",
        "/hooks/telegram",
        &[&secret_header(SECRET)],
        r#"{"update_id":1}"#,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        hook.delivered.lock().unwrap().as_slice(),
        [br#"{"update_id":1}"#.to_vec()]
    );
    // Another method at the path is not served.
    let get = request(edge.addr, "GET", "/hooks/telegram", &[], "").await;
    assert_eq!(get.status, 405);
    edge.stop().await;
}

#[tokio::test]
async fn a_forged_delivery_is_refused_audited_and_charged_until_the_address_is_locked_out() {
    let limits = "[ratelimit]\nfailed_auth_per_minute = 1\nfailed_auth_burst = 3\n";
    let (edge, hook) = edge(limits).await;
    for secret in ["wrong", "a-webhook-secret_012345678"] {
        let reply = request(
            edge.addr,
            "POST",
            "/hooks/telegram",
            &[&secret_header(secret)],
            "{}",
        )
        .await;
        assert_eq!(reply.status, 401, "{secret}");
    }
    let missing = request(edge.addr, "POST", "/hooks/telegram", &[], "{}").await;
    assert_eq!(missing.status, 401);
    // Over its budget, the address is refused before its request is read,
    // the right secret included.
    let locked = request(
        edge.addr,
        "POST",
        "/hooks/telegram",
        &[&secret_header(SECRET)],
        "{}",
    )
    .await;
    assert_eq!(locked.status, 429);
    assert!(hook.delivered.lock().unwrap().is_empty());

    let mut edge = edge;
    edge.stop_serving().await; // shutdown flushes the buffer
    let records = edge.audit_records().await;
    let rejected: Vec<_> = records
        .iter()
        .filter(|r| r["event"]["type"] == "webhook_rejected")
        .map(|r| r["event"]["reason"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(rejected.len(), 3, "{records:?}");
    assert!(rejected.iter().all(|reason| reason == "wrong_secret_token"));
    assert!(!edge.audit_text().await.contains(SECRET));
    edge.stop().await;
}

#[tokio::test]
async fn a_replayed_delivery_is_answered_as_taken_and_noted() {
    let (edge, hook) = edge("").await;
    let reply = request(
        edge.addr,
        "POST",
        "/hooks/telegram",
        &[&secret_header(SECRET)],
        "again",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(hook.delivered.lock().unwrap().is_empty());
    let mut edge = edge;
    edge.stop_serving().await;
    let records = edge.audit_records().await;
    assert!(records.iter().any(|r| r["event"]["type"] == "webhook_rejected"
        && r["event"]["reason"] == "replayed"));
    edge.stop().await;
}
