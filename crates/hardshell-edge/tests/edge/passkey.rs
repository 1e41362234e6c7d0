//! The owner's passkey ceremonies over HTTP, with a software authenticator in the
//! browser's place: setup link, registration, login, session.

use hardshell_auth::passkey::{CreationChallengeResponse, RequestChallengeResponse};
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::support::{Reply, TestEdge, get, request};

const ORIGIN: &str = "http://localhost:8787";
const LIMITS: &str = "[ratelimit]\nrequests_per_minute = 100000\nburst = 1000\n";
const JSON: &str = "Content-Type: application/json";

fn origin() -> Url {
    Url::parse(ORIGIN).unwrap()
}

async fn post(edge: &TestEdge, path: &str, body: &serde_json::Value) -> Reply {
    request(
        edge.addr,
        "POST",
        path,
        &[JSON, &format!("Origin: {ORIGIN}")],
        &body.to_string(),
    )
    .await
}

/// Registers `device` through the endpoints with the first setup link.
pub(crate) async fn register(edge: &TestEdge, device: &mut SoftPasskey, token: &str) -> Reply {
    let started = post(
        edge,
        "/auth/passkey/register/start",
        &serde_json::json!({ "setup_token": token }),
    )
    .await;
    assert_eq!(started.status, 200, "{started:?}");
    let started: serde_json::Value = serde_json::from_str(&started.body).unwrap();
    let options: CreationChallengeResponse =
        serde_json::from_value(started["options"].clone()).unwrap();
    let credential = device.do_registration(origin(), options).unwrap();
    let body = serde_json::json!({ "ceremony": started["ceremony"], "credential": credential });
    post(edge, "/auth/passkey/register/finish", &body).await
}

/// Logs in with `device` for `as_origin`; returns the finish reply.
async fn login(edge: &TestEdge, device: &mut SoftPasskey, as_origin: &str) -> Reply {
    let started = post(edge, "/auth/passkey/login/start", &serde_json::json!({})).await;
    assert_eq!(started.status, 200, "{started:?}");
    let started: serde_json::Value = serde_json::from_str(&started.body).unwrap();
    let options: RequestChallengeResponse =
        serde_json::from_value(started["options"].clone()).unwrap();
    let credential = device
        .do_authentication(Url::parse(as_origin).unwrap(), options)
        .unwrap();
    let body = serde_json::json!({ "ceremony": started["ceremony"], "credential": credential });
    post(edge, "/auth/passkey/login/finish", &body).await
}

fn session_cookie(reply: &Reply) -> String {
    let set = reply.header("set-cookie").expect("no session cookie");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_owner_registers_with_the_setup_link_then_logs_in() {
    let edge = TestEdge::start(LIMITS).await;
    let mut device = SoftPasskey::new(true);
    let token = edge.setup_token().await;
    let registered = register(&edge, &mut device, &token).await;
    assert_eq!(registered.status, 204, "{registered:?}");

    let logged_in = login(&edge, &mut device, ORIGIN).await;
    assert_eq!(logged_in.status, 204, "{logged_in:?}");
    let cookie = format!("Cookie: {}", session_cookie(&logged_in));
    let whoami = get(edge.addr, "/auth/whoami", &[&cookie]).await;
    assert_eq!(whoami.status, 200);
    assert!(
        whoami.body.contains("\"subject\":\"owner\"")
            && whoami.body.contains("\"method\":\"passkey\"")
    );

    let types: Vec<String> = edge
        .audit_records()
        .await
        .iter()
        .map(|r| r["event"]["type"].as_str().unwrap().to_owned())
        .collect();
    for expected in ["setup_link_issued", "passkey_registered", "login_succeeded"] {
        assert!(
            types.contains(&expected.to_owned()),
            "{expected} missing from {types:?}"
        );
    }
    edge.stop().await;
}

#[tokio::test]
async fn a_setup_link_works_once() {
    let edge = TestEdge::start(LIMITS).await;
    let token = edge.setup_token().await;
    let mut first = SoftPasskey::new(true);
    assert_eq!(register(&edge, &mut first, &token).await.status, 204);
    let again = post(
        &edge,
        "/auth/passkey/register/start",
        &serde_json::json!({ "setup_token": token }),
    )
    .await;
    assert_eq!(again.status, 401);
    assert_eq!(again.body, "passkey refused\n");
    edge.stop().await;
}

#[tokio::test]
async fn a_login_signed_for_another_origin_is_refused() {
    let edge = TestEdge::start(LIMITS).await;
    let mut device = SoftPasskey::new(true);
    let token = edge.setup_token().await;
    assert_eq!(register(&edge, &mut device, &token).await.status, 204);
    let phished = login(&edge, &mut device, "http://localhost:9999").await;
    assert_eq!(phished.status, 401);
    assert!(phished.header("set-cookie").is_none());
    edge.stop().await;
}

#[tokio::test]
async fn an_unknown_authenticator_cannot_log_in() {
    let edge = TestEdge::start(LIMITS).await;
    let token = edge.setup_token().await;
    let mut owner = SoftPasskey::new(true);
    assert_eq!(register(&edge, &mut owner, &token).await.status, 204);
    let mut stranger = SoftPasskey::new(true);
    let started = post(&edge, "/auth/passkey/login/start", &serde_json::json!({})).await;
    let started: serde_json::Value = serde_json::from_str(&started.body).unwrap();
    let options: RequestChallengeResponse =
        serde_json::from_value(started["options"].clone()).unwrap();
    // The stranger's authenticator holds none of the allowed credentials.
    assert!(stranger.do_authentication(origin(), options).is_err());
    edge.stop().await;
}

#[tokio::test]
async fn garbage_ceremonies_and_setup_tokens_are_refused_with_one_body() {
    let edge = TestEdge::start(LIMITS).await;
    for (path, body) in [
        (
            "/auth/passkey/register/start",
            serde_json::json!({ "setup_token": "hs_setup_nope" }),
        ),
        (
            "/auth/passkey/register/finish",
            serde_json::json!({ "ceremony": "nope", "credential": {"id": "x", "rawId": "x", "response": {"attestationObject": "x", "clientDataJSON": "x"}, "type": "public-key", "extensions": {}} }),
        ),
    ] {
        let reply = post(&edge, path, &body).await;
        assert!(
            reply.status == 401 || reply.status == 400,
            "{path}: {reply:?}"
        );
    }
    let reply = post(
        &edge,
        "/auth/passkey/register/start",
        &serde_json::json!({ "wrong": 1 }),
    )
    .await;
    assert_eq!(reply.status, 400);
    edge.stop().await;
}

#[tokio::test]
async fn the_login_page_is_served_under_a_strict_policy() {
    let edge = TestEdge::start(LIMITS).await;
    let page = get(edge.addr, "/login", &[]).await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert!(page.body.contains("login.js"));
    assert_eq!(get(edge.addr, "/login.js", &[]).await.status, 200);
    assert_eq!(get(edge.addr, "/login.css", &[]).await.status, 200);
    edge.stop().await;
}
