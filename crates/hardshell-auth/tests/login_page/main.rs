//! The gateway's login page script (`hardshell-edge/assets/login.js`) against
//! the server's real WebAuthn JSON: the page runs in Node with the browser's parts
//! stubbed (`harness.js`), a software authenticator answers, and what the page
//! posts back must finish the ceremony on the server.
//!
//! Needs `node` (Debian package `nodejs`); fails when it is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use hardshell_testkit::passkey::*;
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;

/// This package's directory, as `cargo test` says when it runs the test:
/// not the path baked in at compile time, which a build cache shared
/// between checkouts (CI's clean clones) can carry from another one.
fn package_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}

fn run_page(scenario: Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scenario.json");
    std::fs::write(&path, scenario.to_string()).unwrap();
    let output = Command::new("node")
        .arg(package_dir().join("tests/login_page/harness.js"))
        .arg(package_dir().join("../hardshell-edge/assets/login.js"))
        .arg(&path)
        .output()
        .expect("node must be installed (Debian package nodejs) to test the login page");
    assert!(
        output.status.success(),
        "the page failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn page_registers_a_passkey_the_server_accepts() {
    let f = fixture().await;
    let mut phone = authenticator();
    let token = f.passkeys.setup_links().issue(t0()).await.unwrap();
    let (options, state) = f.passkeys.start_registration(&token, t0()).await.unwrap();
    let answer = phone.do_registration(origin(), options.clone()).unwrap();

    let report = run_page(json!({
        "mode": "register",
        "token": token.expose(),
        "options": options,
        "answer": answer,
        "finishStatus": 204,
    }));

    // The token went to the server in the body and left the address bar.
    assert_eq!(
        report["requests"][0]["path"],
        "/auth/passkey/register/start"
    );
    assert_eq!(report["requests"][0]["body"]["setup_token"], token.expose());
    assert_eq!(report["replacedUrl"], "/login");
    assert_eq!(report["hashAtEnd"], "");
    assert_eq!(report["visibleAtStart"], json!(["setup"]));
    // The challenge reached navigator.credentials as binary, unchanged.
    assert_eq!(report["challengeIsBinary"], true);
    assert_eq!(
        report["challenge"],
        serde_json::to_value(&options).unwrap()["publicKey"]["challenge"]
    );

    let finish = &report["requests"][1];
    assert_eq!(finish["path"], "/auth/passkey/register/finish");
    assert_eq!(finish["credentials"], "same-origin");
    assert_eq!(finish["body"]["ceremony"], "ceremony-1");
    // Transports webauthn-rs does not know are dropped rather than refused.
    assert_eq!(
        finish["body"]["credential"]["response"]["transports"],
        json!(["internal"])
    );
    let credential = serde_json::from_value(finish["body"]["credential"].clone()).unwrap();
    f.passkeys
        .finish_registration(&state, &credential, t0())
        .await
        .unwrap();

    // Registered: the page offers to sign in, and goes nowhere yet.
    assert_eq!(report["navigated"], Value::Null);
    assert_eq!(report["visibleAtEnd"], json!(["login"]));
}

#[tokio::test]
async fn page_signs_in_and_goes_home() {
    let f = fixture().await;
    let mut phone = authenticator();
    register(&f, &mut phone, t0()).await;
    let (options, state) = f.passkeys.start_login(t0()).await.unwrap();
    let answer = phone.do_authentication(origin(), options.clone()).unwrap();

    let report = run_page(json!({
        "mode": "login",
        "options": options,
        "answer": answer,
        "finishStatus": 204,
    }));

    assert_eq!(report["visibleAtStart"], json!(["login"]));
    assert_eq!(report["requests"][0]["path"], "/auth/passkey/login/start");
    let finish = &report["requests"][1];
    assert_eq!(finish["path"], "/auth/passkey/login/finish");
    let credential = serde_json::from_value(finish["body"]["credential"].clone()).unwrap();
    f.passkeys
        .finish_login(&state, &credential, t0())
        .await
        .unwrap();
    assert_eq!(report["navigated"], "/");
}

#[tokio::test]
async fn page_stays_and_says_so_when_the_server_refuses() {
    let f = fixture().await;
    let mut phone = authenticator();
    register(&f, &mut phone, t0()).await;
    let (options, _state) = f.passkeys.start_login(t0()).await.unwrap();
    let answer = phone.do_authentication(origin(), options.clone()).unwrap();

    let report = run_page(json!({
        "mode": "login",
        "options": options,
        "answer": answer,
        "finishStatus": 401,
    }));

    assert_eq!(report["navigated"], Value::Null);
    assert_eq!(report["statusIsError"], true);
    assert!(
        report["status"]
            .as_str()
            .unwrap()
            .contains("did not accept"),
        "{report}"
    );
}
