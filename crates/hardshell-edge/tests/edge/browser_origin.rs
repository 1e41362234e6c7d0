//! The login hand-over to the upstream's own host in a real headless Chromium
//! (`scripts/browser-origin.mjs` drives it), as deployed: https, the edge on
//! `hs.test` and the upstream on its sibling `app.hs.test` (one site, two
//! origins). What only a browser shows: host-only `__Host-` cookies, the
//! Strict cookies across the hand-over's same-site redirects, the login page
//! carrying on to the hand-over, a sibling's request to the edge carrying the
//! owner's cookie (same-site) and being refused for its origin, and logout
//! ending the upstream host's session.

use std::process::Command;
use std::time::Duration;

use hardshell_testkit::browser;

use crate::support::{TestEdge, owner, upstream};

const DEADLINE: Duration = Duration::from_secs(120);

/// A port free now, for the edge to listen on: the browser reaches it by the
/// public URL, whose port must be the listener's.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `scripts/browser-origin.mjs` with `args`.
fn run(args: &[String]) -> browser::ScriptRun {
    let mut command = Command::new("node");
    command
        .arg(browser::script("browser-origin.mjs"))
        .args(args);
    browser::run(command, DEADLINE)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_is_handed_over_to_the_upstreams_own_origin_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let identity =
        rcgen::generate_simple_self_signed(vec!["hs.test".to_owned(), "app.hs.test".to_owned()])
            .unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, identity.cert.pem()).unwrap();
    std::fs::write(&key, identity.signing_key.serialize_pem()).unwrap();
    let (url, log) = upstream::tcp().await;
    let port = free_port();
    let edge = TestEdge::start_with(
        &format!("listen = \"127.0.0.1:{port}\"\npublic_url = \"https://hs.test:{port}\"\n"),
        &format!(
            "[edge.tls]\ncert = \"{}\"\nkey = \"{}\"\n\
             [ratelimit]\nrequests_per_minute = 100000\nburst = 1000\n\
             [upstream]\nurl = \"{url}\"\nhost = \"app.hs.test\"\nidentity_header = \"X-Forwarded-User\"\n",
            cert.display(),
            key.display()
        ),
    )
    .await;
    let session = edge.session(owner()).await;
    // `--name=value`: a session id may begin with `-`, which would read as
    // an option of its own.
    let args = [
        format!("--edge=https://hs.test:{port}"),
        format!("--app=https://app.hs.test:{port}"),
        format!("--session={session}"),
        "--next=/control?tab=1".to_owned(),
    ];
    let browser::ScriptRun { ok, stdout, stderr } = tokio::task::spawn_blocking(move || run(&args))
        .await
        .unwrap();
    assert!(ok, "the browser run failed:\n{stderr}\n{stdout}");
    assert!(!stdout.contains(&session), "the script printed the session");

    // The upstream got the page, named by the edge, without either session.
    let seen: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|seen| seen.path == "/control?tab=1")
        .cloned()
        .collect();
    assert!(!seen.is_empty(), "the upstream's page was never requested");
    for seen in &seen {
        assert_eq!(seen.header("x-forwarded-user"), Some("owner"));
        assert!(
            !seen.header("cookie").unwrap_or_default().contains("hs_"),
            "{seen:?}"
        );
    }

    // The sibling's logout was sent with the owner's cookie (same-site) and
    // refused for its origin: the denial names the owner.
    let mut edge = edge;
    edge.stop_serving().await;
    let records = edge.audit_records().await;
    let refused = records.iter().find(|r| {
        r["event"]["type"] == "request_denied"
            && r["event"]["route"] == "/auth/logout"
            && r["event"]["status"] == 403
    });
    let refused = refused.unwrap_or_else(|| panic!("no refused logout in {records:#?}"));
    assert_eq!(refused["event"]["subject"], "owner", "{refused}");
    assert_eq!(
        refused["event"]["reason"],
        "cross-origin request with an ambient credential"
    );
}
