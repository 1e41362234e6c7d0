//! The edge's `/cdp` with the real `hardshell up`: Playwright's
//! connectOverCDP (what OpenClaw's browser tool uses) drives a session with a
//! `browser`-scoped token, in a header or in the query string; without one,
//! or with a `chat` token, the handshake is refused.

use std::process::{Command, Stdio};
use std::time::Duration;

use hardshell_testkit::browser;
use hardshell_testkit::instance::{Instance, Up};
use hardshell_testkit::netns::NetnsSite;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(180);

/// `hardshell up` with the browser on, its pages allowed to `site` only, and
/// no agent (nothing here needs a model).
pub fn instance(site: &NetnsSite) -> Instance {
    let hs = Instance::initialised(env!("CARGO_BIN_EXE_hardshell"));
    let site_host = site.address.to_string();
    let cidr = site.cidr();
    hs.edit_config(|text| {
        let text = text.replace("127.0.0.1:8787", "127.0.0.1:0");
        let agent = text.find("[agent]").unwrap();
        let enabled = agent + text[agent..].find("enabled = true").unwrap();
        let text = format!(
            "{}enabled = false{}",
            &text[..enabled],
            &text[enabled + "enabled = true".len()..]
        );
        let browser = text.find("[browser]").unwrap();
        let tail = &text[browser..];
        let tail = tail
            .replacen("enabled = false", "enabled = true", 1)
            .replacen("allow = []", &format!("allow = [\"{site_host}\"]"), 1)
            .replacen(
                "browser_internal = []",
                &format!("browser_internal = [\"{cidr}\"]"),
                1,
            );
        format!("{}{tail}", &text[..browser])
    });
    hs
}

/// A running `up`, killed when the test ends: a test that ends (or fails)
/// without stopping it must not leave the edge and its browsers running.
pub struct Running(Up);

impl std::ops::Deref for Running {
    type Target = Up;
    fn deref(&self) -> &Up {
        &self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

pub fn up(hs: &Instance) -> Running {
    let mut command = hs.command(&["up"]);
    command.env("RUST_LOG", "info").stdout(Stdio::null());
    Running(Up::start(command, Duration::from_secs(60)))
}

pub fn token(hs: &Instance, scope: &str) -> String {
    hs.run(&["token", "create", "--name", scope, "--scope", scope])
        .ok()
        .stdout
        .trim()
        .to_owned()
}

fn drive(endpoint: &str, token: Option<&str>, site: &NetnsSite) -> browser::ScriptRun {
    let home = browser::playwright_home();
    let mut command = Command::new("node");
    command
        .arg(browser::script("browser-cdp.mjs"))
        .args(["--endpoint", endpoint, "--site", &site.url("")])
        .env("PLAYWRIGHT_HOME", home);
    if let Some(token) = token {
        command.args(["--token", token]);
    }
    browser::run(command, DEADLINE)
}

#[test]
fn playwright_drives_a_session_through_the_edge_with_a_browser_token() {
    let site = NetnsSite::serve(&browser::script("test-site.py"));
    let hs = instance(&site);
    let browser_token = token(&hs, "browser");
    let chat_token = token(&hs, "chat");
    let up = up(&hs);
    let endpoint = format!("ws://{}/cdp", up.addr);

    let run = drive(&endpoint, Some(&browser_token), &site);
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    let seen: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(seen["title"], "Test site", "{seen}");
    assert_eq!(seen["clicked"], "clicked", "{seen}");
    assert_eq!(seen["submitted"], "colour=green, name=Ada", "{seen}");
    assert_eq!(seen["screenshot_png"], true, "{seen}");
    assert_eq!(seen["pdf"], true, "{seen}");
    assert_eq!(seen["redirected"], "Landed", "{seen}");
    assert!(
        !seen["loopback"]
            .as_str()
            .unwrap_or_default()
            .contains("status 200"),
        "{seen}"
    );

    // The token in the query string, for a client that cannot send headers.
    let with_query = format!("{endpoint}?token={browser_token}");
    let run = drive(&with_query, None, &site);
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);

    // No token, and a chat token: the handshake is refused.
    for token in [None, Some(chat_token.as_str())] {
        let run = drive(&endpoint, token, &site);
        assert!(!run.ok, "{}", run.stdout);
        assert!(
            run.stderr.contains("401") || run.stderr.contains("403"),
            "{}",
            run.stderr
        );
    }
    // The token never reaches the log (its secret part: after
    // `hs_tok_<id>_`, and base64url, so it may hold `_` itself).
    let secret = browser_token
        .strip_prefix("hs_tok_")
        .and_then(|rest| rest.split_once('_'))
        .map(|(_, secret)| secret)
        .unwrap();
    assert!(secret.len() >= 32, "{browser_token}");
    let leaked: Vec<String> = up
        .log()
        .into_iter()
        .filter(|line| line.contains(secret))
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
}

#[test]
fn revoking_the_token_ends_its_browser_session() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let site = NetnsSite::serve(&browser::script("test-site.py"));
    let hs = instance(&site);
    let browser_token = token(&hs, "browser");
    let admin_token = token(&hs, "admin");
    let up = up(&hs);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = up.addr.clone();
    let bearer = format!("Bearer {browser_token}");
    let mut cdp = runtime.block_on(async {
        let mut request = format!("ws://{addr}/cdp").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("authorization", bearer.parse().unwrap());
        let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let (socket, _) = tokio_tungstenite::client_async(request, stream)
            .await
            .unwrap();
        crate::cdp::Cdp::new(socket)
    });
    let version = runtime.block_on(cdp.ok(None, "Browser.getVersion", serde_json::json!({})));
    assert!(
        version["product"].as_str().unwrap().contains("Chrome/"),
        "{version}"
    );

    // The admin page lists the session while it is open, and who drives it.
    let http = reqwest::blocking::Client::new();
    let open_sessions = || -> Value {
        let listed = http
            .get(format!("http://{addr}/admin/browser"))
            .bearer_auth(&admin_token)
            .send()
            .unwrap();
        assert_eq!(listed.status(), 200);
        listed.json().unwrap()
    };
    let listed = open_sessions();
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{listed}");
    assert_eq!(sessions[0]["client"], "edge", "{listed}");
    assert!(sessions[0]["conversation"].is_null(), "{listed}");
    assert!(
        sessions[0]["id"].as_str().unwrap().starts_with('s'),
        "{listed}"
    );
    assert!(listed["max"].as_u64().unwrap() >= 1, "{listed}");
    // A browser token drives a browser; it does not see the others'.
    let refused = http
        .get(format!("http://{addr}/admin/browser"))
        .bearer_auth(&browser_token)
        .send()
        .unwrap();
    assert_eq!(refused.status(), 403);

    let id = browser_token
        .strip_prefix("hs_tok_")
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, _)| id.to_owned())
        .unwrap();
    let revoked = reqwest::blocking::Client::new()
        .delete(format!("http://{addr}/admin/tokens/{id}"))
        .bearer_auth(&admin_token)
        .send()
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());
    // The session is closed by the edge (1001: going away), not left open;
    // the browser's events may come first. (Each frame is waited for at
    // most 30 s: a session left open fails here.)
    loop {
        match runtime.block_on(cdp.next_frame()) {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(_))) => {}
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(close)))) => {
                assert_eq!(close.code, CloseCode::Away, "{close:?}");
                break;
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    // Once its shell has ended, it is no longer listed.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !open_sessions()["sessions"].as_array().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the ended session is still listed: {}",
            open_sessions()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
