use std::time::Duration;

use hardshell_browser::RelayLimits;
use serde_json::Value;

use crate::support::{Served, Site};

const PAGE: &str = "<html><head><title>hardshell test</title></head><body>\
    <button id=hello onclick=\"document.getElementById('said').textContent='hello'\">hi</button>\
    <p id=said></p><input id=name></body></html>";

/// Playwright's own connect sequence, as OpenClaw's browser tool runs it,
/// through the relay: nothing it needs is refused, and a refusal is an error
/// its caller sees while the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playwright_drives_a_page_through_the_relay() {
    let site = Site::serve(PAGE).await;
    let served = Served::start(RelayLimits::default(), &[]).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/relay/playwright.mjs");
    let mut node = std::process::Command::new("node");
    node.args([script, &served.url(), &site.url("")]);
    let run = tokio::task::spawn_blocking(move || {
        hardshell_testkit::browser::run(node, Duration::from_secs(120))
    })
    .await
    .unwrap();
    assert!(run.ok, "playwright failed: {}\n{}", run.stderr, run.stdout);
    let seen: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(seen["title"], "hardshell test");
    assert_eq!(seen["clicked"], "hello");
    assert_eq!(seen["filled"], "Ada");
    assert_eq!(seen["screenshot_png"], true);
    assert_eq!(seen["pdf"], true);
    let file = seen["file"].as_str().unwrap();
    assert!(file.contains("hardshell refused Page.navigate"), "{file}");
    assert_eq!(seen["after"], 2);

    let records = served.records().await;
    assert!(
        records
            .iter()
            .any(|r| r["type"] == "cdp_refused" && r["reason"] == "url_scheme"),
        "{records:?}"
    );
}
