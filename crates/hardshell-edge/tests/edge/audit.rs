//! What the edge leaves in the audit log: every decision, admin actions before
//! their answer, and never a credential.

use hardshell_auth::TokenScope;
use hardshell_testkit::SmallDisk;

use crate::support::{TestEdge, bearer, get, owner, request, upstream};

const HIGH_LIMITS: &str = "[ratelimit]\nrequests_per_minute = 100000\nburst = 1000\n";

fn types(records: &[serde_json::Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["event"]["type"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn admin_actions_are_in_the_log_when_they_are_answered() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    let fresh = format!("Cookie: hs_session={}", edge.session(owner()).await);
    let body = r#"{"name":"ci","scope":"chat","expires_in_days":7}"#;
    let reply = request(edge.addr, "POST", "/admin/tokens", &[&fresh], body).await;
    assert_eq!(reply.status, 201);
    // No flush has been asked for: the record must already be in storage.
    let records = edge.audit_records().await;
    let created = records
        .iter()
        .find(|r| r["event"]["type"] == "token_created")
        .expect("token_created not in storage when the answer came");
    assert_eq!(created["event"]["actor"], "owner");
    assert_eq!(created["event"]["scope"], "chat");
    edge.stop().await;
}

#[tokio::test]
async fn every_decision_is_recorded_and_the_chain_verifies() {
    let edge = TestEdge::start("[ratelimit]\nrequests_per_minute = 60\nburst = 5\n").await;
    let chat = edge.token(TokenScope::Chat).await;
    get(edge.addr, "/auth/whoami", &[&bearer(&chat)]).await; // allowed
    get(edge.addr, "/admin/tokens", &[&bearer(&chat)]).await; // denied 403
    get(
        edge.addr,
        "/auth/whoami",
        &[&bearer("hs_tok_0123456789abcdef_nope")],
    )
    .await; // rejected + denied 401
    for _ in 0..4 {
        get(edge.addr, "/healthz", &[]).await; // the last ones are rate limited
    }
    let mut edge = edge;
    edge.stop_serving().await; // shutdown flushes the buffer
    let scope = edge
        .store
        .root()
        .scope(&hardshell_storage::ObjectKey::parse("audit").unwrap())
        .unwrap();
    let log = hardshell_audit::LogId::new("edge-test").unwrap();
    let report = hardshell_audit::verify(&scope, &log).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.findings);
    let mut tail = hardshell_audit::Tail::new(&scope, &log, 1).unwrap();
    let records: Vec<serde_json::Value> = tail
        .read()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.to_line().unwrap()).unwrap())
        .collect();
    let seen = types(&records);
    for expected in [
        "request_allowed",
        "request_denied",
        "credential_rejected",
        "rate_limited",
    ] {
        assert!(
            seen.iter().any(|t| t == expected),
            "no {expected} in {seen:?}"
        );
    }
    let rejected = records
        .iter()
        .find(|r| r["event"]["type"] == "credential_rejected")
        .unwrap();
    assert_eq!(rejected["event"]["token_id"], "0123456789abcdef");
    assert_eq!(rejected["event"]["reason"], "malformed");
    let denied = records
        .iter()
        .find(|r| r["event"]["type"] == "request_denied" && r["event"]["status"] == 403)
        .unwrap();
    assert_eq!(denied["event"]["route"], "/admin/tokens");
}

#[tokio::test]
async fn no_token_cookie_or_secret_ever_reaches_the_audit_log() {
    let (url, _log) = upstream::tcp().await;
    let edge = TestEdge::start(&format!("{HIGH_LIMITS}[upstream]\nurl = \"{url}\"\n")).await;
    let chat = edge.token(TokenScope::Chat).await;
    let session = edge.session(owner()).await;
    let cookie = format!("Cookie: hs_session={session}; other=cookie-canary-123");
    let wrong = format!("{}Z", &chat[..chat.len() - 1]);
    get(
        edge.addr,
        "/proxied/path?api_key=query-canary-456",
        &[&bearer(&chat)],
    )
    .await;
    get(edge.addr, "/auth/whoami", &[&cookie]).await;
    get(edge.addr, "/auth/whoami", &[&bearer(&wrong)]).await;
    get(
        edge.addr,
        "/auth/whoami",
        &["Authorization: Basic cGFzc3dvcmQtY2FuYXJ5"],
    )
    .await;
    let fresh = format!("Cookie: hs_session={session}");
    let reply = request(
        edge.addr,
        "POST",
        "/admin/tokens",
        &[&fresh],
        r#"{"name":"ci","scope":"admin","expires_in_days":1}"#,
    )
    .await;
    let created: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let new_token = created["token"].as_str().unwrap().to_owned();
    let mut edge = edge;
    edge.stop_serving().await;
    let text = edge.audit_text().await;
    assert!(text.contains("request_allowed"), "the log is empty: {text}");
    for secret in [
        &chat[7..],
        &wrong[7..],
        &session,
        &new_token[7..],
        "cookie-canary-123",
        "query-canary-456",
        "cGFzc3dvcmQtY2FuYXJ5",
        "/proxied/path",
    ] {
        assert!(!text.contains(secret), "the audit log contains {secret:?}");
    }
}

/// Asks `/auth/whoami` until the answer's status is `status` (the audit log
/// learns of the disk at its next background flush); every answer is kept.
async fn whoami_until(
    edge: &TestEdge,
    token: &str,
    status: u16,
    answers: &mut Vec<u16>,
) -> crate::support::Reply {
    for _ in 0..400 {
        let reply = get(edge.addr, "/auth/whoami", &[&bearer(token)]).await;
        answers.push(reply.status);
        if reply.status == status {
            return reply;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("no {status} answer from /auth/whoami");
}

#[tokio::test]
async fn a_full_data_disk_stops_service_with_a_clear_answer_and_loses_no_record() {
    let disk = SmallDisk::new(4);
    let edge = TestEdge::start_on(&disk.path, HIGH_LIMITS).await;
    let chat = edge.token(TokenScope::Chat).await;
    let mut answers = Vec::new();
    whoami_until(&edge, &chat, 200, &mut answers).await;

    disk.fill();
    let refused = whoami_until(&edge, &chat, 503, &mut answers).await;
    assert_eq!(
        refused.body,
        "storage full: the audit log cannot be written\n"
    );
    // Refused from then on, not only once the backlog fills.
    let again = get(edge.addr, "/auth/whoami", &[&bearer(&chat)]).await;
    assert_eq!(again.status, 503);
    answers.push(again.status);

    disk.free();
    whoami_until(&edge, &chat, 200, &mut answers).await;
    let mut edge = edge;
    edge.stop_serving().await;
    let records = edge.audit_records().await;
    let allowed = records
        .iter()
        .filter(|r| {
            r["event"]["type"] == "request_allowed" && r["event"]["route"] == "/auth/whoami"
        })
        .count();
    let served = answers.iter().filter(|status| **status == 200).count();
    assert_eq!(allowed, served, "every answered request is in the log");
}

/// A flood of refused requests from one address is counted, not recorded one by
/// one: the first few are in full, the rest in one `requests_summarized` record,
/// and the owner's own requests are still recorded and served.
#[tokio::test]
async fn a_flood_of_refusals_is_summarized_not_recorded_one_by_one() {
    let edge = TestEdge::start(
        "[ratelimit]\nrequests_per_minute = 100000\nburst = 100000\n\
         failed_auth_per_minute = 100000\nfailed_auth_burst = 100000\n",
    )
    .await;
    let bad = bearer("hs_tok_0123456789abcdef_wrong");
    for _ in 0..200 {
        assert_eq!(get(edge.addr, "/auth/whoami", &[&bad]).await.status, 401);
    }
    let chat = edge.token(TokenScope::Chat).await;
    assert_eq!(
        get(edge.addr, "/auth/whoami", &[&bearer(&chat)])
            .await
            .status,
        200
    );
    let mut edge = edge;
    edge.stop_serving().await;
    let records = edge.audit_records().await;
    let kinds = types(&records);
    let rejected = kinds.iter().filter(|k| *k == "credential_rejected").count();
    assert_eq!(rejected, 20, "{kinds:?}");
    let summaries: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["event"]["type"] == "requests_summarized")
        .map(|r| &r["event"])
        .collect();
    let counted: Vec<(&str, u64)> = summaries
        .iter()
        .map(|s| (s["kind"].as_str().unwrap(), s["count"].as_u64().unwrap()))
        .collect();
    assert!(
        counted.contains(&("credential_rejected", 180)),
        "{counted:?}"
    );
    assert!(counted.contains(&("request_denied", 180)), "{counted:?}");
    assert!(summaries.iter().all(|s| s["client"] == "127.0.0.1"));
    // The owner's path: the authenticated request has its own record.
    assert!(
        records
            .iter()
            .any(|r| r["event"]["type"] == "request_allowed" && r["event"]["subject"].is_string())
    );
}
