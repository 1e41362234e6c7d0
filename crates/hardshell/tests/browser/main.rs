//! The web chat page in a real headless Chromium, against the real `hardshell up`
//! and a real local model (`scripts/browser-chat.mjs` drives the browser): a
//! visitor without a session is sent to the login page; the owner creates a
//! passkey from the setup link, signs in, starts a chat, sends a message and sees
//! the reply stream in. Screenshots are kept in `<target>/artifacts/browser/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod edge;
mod needs;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hardshell_testkit::browser::{self, ScriptRun};
use serde_json::Value;

use crate::edge::{Instance, Up};

/// HTML-looking on purpose: the page must show it as text.
const MESSAGE: &str = "Say hello to me <img src=x onerror=alert(1)> in <b>one</b> sentence.";
/// The whole browser run, model reply included; the script's own steps time out sooner.
const BROWSER_DEADLINE: Duration = Duration::from_secs(300);

/// Runs the browser script to completion, or kills it at the deadline.
fn run_browser(edge: &Instance, setup_link: &str, desktop: &Path, phone: &Path) -> ScriptRun {
    let mut command = Command::new("node");
    command
        .arg(browser::script("browser-chat.mjs"))
        .args(["--edge", &edge.url(), "--setup-link", setup_link])
        .args(["--message", MESSAGE])
        .arg("--screenshot")
        .arg(desktop)
        .arg("--phone-screenshot")
        .arg(phone)
        .arg("--control-socket")
        .arg(edge.dir.path().join("data/run/agent/edge.sock"));
    browser::run(command, BROWSER_DEADLINE)
}

fn session_of(summary: &Value) -> String {
    summary["session"].as_str().unwrap().to_owned()
}

/// A PNG of the given pixel width with more than a blank page's worth of bytes.
fn assert_screenshot(path: &Path, width: u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR",
        "{} is not a PNG",
        path.display()
    );
    let png_width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    assert_eq!(png_width, width, "{}", path.display());
    assert!(
        bytes.len() > 20_000,
        "{} is only {} bytes: a blank page?",
        path.display(),
        bytes.len()
    );
}

#[test]
fn the_owner_signs_in_and_chats_with_the_agent_in_a_real_browser() {
    let model = needs::model_server();
    browser::playwright_home();
    let artifacts = needs::artifacts();
    let desktop = artifacts.join("chat-desktop.png");
    let phone = artifacts.join("chat-phone.png");
    for stale in [
        "chat-desktop.png",
        "chat-phone.png",
        "chat-phone-drawer.png",
        "chat-desktop-failure.png",
        "chat-desktop-approval.png",
    ] {
        let _ = std::fs::remove_file(artifacts.join(stale));
    }

    let instance = Instance::with_model(&model);
    let up = Up::start(&instance);
    let started = Instant::now();
    let run = run_browser(&instance, &up.setup_link, &desktop, &phone);
    assert!(
        run.ok,
        "the browser run failed:\n{}\n{}\nhardshell up's log:\n{}",
        run.stderr,
        run.stdout,
        up.log()
    );
    let summary: Value = serde_json::from_str(run.stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    println!(
        "browser run in {:.1}s: {summary:#}",
        started.elapsed().as_secs_f64()
    );

    // The deny path came first: without a session, the page's APIs said 401.
    assert_eq!(
        summary["denied_without_session"],
        serde_json::json!({ "whoami": 401, "list": 401, "create": 401 })
    );
    // The reply arrived in pieces and is what the server stored.
    let reply = summary["reply"].as_str().unwrap();
    assert!(!reply.trim().is_empty());
    assert!(
        summary["reply_updates"].as_u64().unwrap() >= 2,
        "the reply did not stream: {summary}"
    );
    let history = summary["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{summary}");
    assert_eq!(history[0]["role"], "user");
    assert_eq!(history[0]["text"], MESSAGE);
    assert_eq!(history[1]["role"], "assistant");
    assert_eq!(history[1]["text"], reply);
    assert_eq!(summary["shown_messages"], 2, "{summary}");
    assert_eq!(summary["title"], MESSAGE);

    // The exec tool's questions, answered on the page: the approved command
    // ran in its shell (as the shell's uid), the refused one did not run.
    let approvals = &summary["approvals"];
    let approved = &approvals["approved"];
    assert_eq!(
        approved["shown"], "id -u > approved.txt && cat approved.txt",
        "{summary}"
    );
    assert_eq!(approved["answer"]["status"], "ran", "{summary}");
    assert_eq!(
        approved["answer"]["report"]["stdout"], "1000\n",
        "{summary}"
    );
    assert!(
        approved["outcome"]
            .as_str()
            .unwrap()
            .starts_with("Approved"),
        "{summary}"
    );
    let refused = &approvals["refused"];
    assert_eq!(refused["answer"]["status"], "refused", "{summary}");
    assert!(
        refused["outcome"].as_str().unwrap().starts_with("Refused"),
        "{summary}"
    );
    let workspaces = instance
        .dir
        .path()
        .join("data/workspaces")
        .join(session_of(&summary));
    assert!(workspaces.join("approved.txt").exists());
    assert!(!workspaces.join("refused.txt").exists());
    assert_screenshot(&artifacts.join("chat-desktop-approval.png"), 1280);

    assert_screenshot(&desktop, 1280);
    // 390 CSS pixels at a device scale of 2.
    assert_screenshot(&phone, 780);
    let drawer = summary["screenshots"]["phone_drawer"].as_str().unwrap();
    assert_screenshot(Path::new(drawer), 780);
    println!(
        "screenshots:\n  {}\n  {}\n  {drawer}",
        desktop.display(),
        phone.display()
    );

    // Sessions belong to their principal: a chat token, another principal, can
    // neither read nor list the owner's chat.
    let session = summary["session"].as_str().unwrap();
    let token = instance.chat_token();
    let (status, _) = instance.get(&format!("/api/sessions/{session}"), &token);
    assert_eq!(status, 404, "a token read the owner's chat");
    let (status, listed) = instance.get("/api/sessions", &token);
    assert_eq!(status, 200, "{listed}");
    assert!(!listed.contains(session), "{listed}");

    // The edge's own record: the owner's turn in that session completed.
    up.stop();
    let tail = instance.run(&["audit", "tail"]);
    assert!(tail.status.success(), "{tail:?}");
    let turns: Vec<Value> = String::from_utf8_lossy(&tail.stdout)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["event"].clone())
        .filter(|event| event["type"] == "turn_finished")
        .collect();
    assert_eq!(turns.len(), 1, "{turns:?}");
    assert_eq!(turns[0]["session"], session);
    assert_eq!(turns[0]["subject"], "owner");
    assert_eq!(turns[0]["end"], "completed", "{turns:?}");
}
