//! OIDC login through the edge against a real provider (npm `oidc-provider`,
//! started by scripts/test): start, the provider's login and consent pages,
//! callback, session — and the ways it must fail.

// The provider's login pages, driven like a browser (shared with hardshell-auth's tests).
use hardshell_testkit::oidc as browser;
use url::Url;

use crate::support::{Reply, TestEdge, get};

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the suite with scripts/test"))
}

fn config() -> String {
    format!(
        "[ratelimit]\nrequests_per_minute = 100000\nburst = 1000\n\
         [access.oidc]\nissuer = \"{}\"\nclient_id = \"hardshell\"\nclient_secret = \"env:HARDSHELL_TEST_OIDC_CLIENT_SECRET\"\n\
         scopes = [\"email\", \"groups\"]\n\
         [[access.rules]]\nrole = \"chat\"\nemails = [\"alice@example.com\"]\n",
        env("HARDSHELL_TEST_OIDC_ISSUER")
    )
}

async fn edge() -> TestEdge {
    TestEdge::start_oidc(&config(), &env("HARDSHELL_TEST_OIDC_CLIENT_SECRET")).await
}

/// Starts a login at the edge and signs in at the provider as `login`; returns
/// the pending-login cookie and the callback query the provider sent back.
async fn sign_in(edge: &TestEdge, login: &str) -> (String, String) {
    let started = get(edge.addr, "/auth/oidc/start", &[]).await;
    assert_eq!(started.status, 302, "{started:?}");
    let pending = started.header("set-cookie").unwrap();
    assert!(
        pending.contains("SameSite=Lax") && pending.contains("HttpOnly"),
        "{pending}"
    );
    let cookie = pending.split(';').next().unwrap().to_owned();
    let authorize = Url::parse(&started.header("location").unwrap()).unwrap();
    let redirect = Url::parse(&env("HARDSHELL_TEST_OIDC_EDGE_REDIRECT_URI")).unwrap();
    let back = browser::Browser::new(redirect)
        .sign_in(authorize, login)
        .await;
    (cookie, back.query().unwrap_or("").to_owned())
}

async fn callback(edge: &TestEdge, cookie: &str, query: &str) -> Reply {
    get(
        edge.addr,
        &format!("/auth/oidc/callback?{query}"),
        &[&format!("Cookie: {cookie}")],
    )
    .await
}

#[tokio::test]
async fn a_person_a_rule_admits_logs_in_and_gets_a_session() {
    let edge = edge().await;
    let (cookie, query) = sign_in(&edge, "alice").await;
    let reply = callback(&edge, &cookie, &query).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let session = reply
        .headers("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("hs_session="))
        .expect("no session cookie");
    let session = session.split(';').next().unwrap();
    let whoami = get(edge.addr, "/auth/whoami", &[&format!("Cookie: {session}")]).await;
    assert_eq!(whoami.status, 200);
    assert!(
        whoami.body.contains("\"email\":\"alice@example.com\""),
        "{}",
        whoami.body
    );
    assert!(whoami.body.contains("\"method\":\"oidc\""));
    assert!(whoami.body.contains("hardshell-admins"), "{}", whoami.body);
    edge.stop().await;
}

#[tokio::test]
async fn a_proven_identity_that_no_rule_admits_gets_no_session() {
    let edge = edge().await;
    let (cookie, query) = sign_in(&edge, "mallory").await;
    let reply = callback(&edge, &cookie, &query).await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert!(
        reply
            .headers("set-cookie")
            .iter()
            .all(|c| !c.starts_with("hs_session="))
    );
    edge.stop().await;
}

#[tokio::test]
async fn a_callback_cannot_be_replayed() {
    let edge = edge().await;
    let (cookie, query) = sign_in(&edge, "alice").await;
    assert_eq!(callback(&edge, &cookie, &query).await.status, 200);
    assert_eq!(callback(&edge, &cookie, &query).await.status, 403);
    edge.stop().await;
}

#[tokio::test]
async fn a_callback_without_its_pending_login_is_refused() {
    let edge = edge().await;
    let (_, query) = sign_in(&edge, "alice").await;
    // Another browser's pending login (CSRF: the attacker's code in the victim's browser).
    let (other_cookie, _) = sign_in(&edge, "alice").await;
    assert_eq!(callback(&edge, &other_cookie, &query).await.status, 403);
    let reply = get(edge.addr, &format!("/auth/oidc/callback?{query}"), &[]).await;
    assert_eq!(reply.status, 403);
    edge.stop().await;
}

#[tokio::test]
async fn a_tampered_state_is_refused() {
    let edge = edge().await;
    let (cookie, query) = sign_in(&edge, "alice").await;
    let tampered: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| {
            if k == "state" {
                (k.into_owned(), format!("{v}x"))
            } else {
                (k.into_owned(), v.into_owned())
            }
        }))
        .finish();
    assert_eq!(callback(&edge, &cookie, &tampered).await.status, 403);
    edge.stop().await;
}
