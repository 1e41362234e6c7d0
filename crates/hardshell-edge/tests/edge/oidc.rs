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
    sign_in_at(edge, "/auth/oidc/start", login).await
}

/// As [`sign_in`], the login started at `start` (with its query).
async fn sign_in_at(edge: &TestEdge, start: &str, login: &str) -> (String, String) {
    let started = get(edge.addr, start, &[]).await;
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

/// Where the callback's page goes on to (its refresh target, unescaped).
fn landing(reply: &Reply) -> String {
    let body = &reply.body;
    let from = body.find("url=").expect("a refresh") + "url=".len();
    let to = from + body[from..].find('"').expect("the attribute's end");
    body[from..to].replace("&amp;", "&")
}

#[tokio::test]
async fn an_oidc_login_begun_by_the_hand_over_lands_on_the_upstreams_host() {
    use crate::origin::{begin, cookie_value, minted, on_app, set_cookie, urlencode};

    let (url, _log) = crate::support::upstream::tcp().await;
    let config = format!(
        "{}[upstream]\nurl = \"{url}\"\nhost = \"app.localhost\"\n",
        config()
    );
    let edge = TestEdge::start_oidc(&config, &env("HARDSHELL_TEST_OIDC_CLIENT_SECRET")).await;
    // The login page offers the provider.
    let page = get(edge.addr, "/login", &[]).await;
    assert!(
        page.body
            .contains("<section id=\"oidc\" aria-labelledby=\"oidc-title\">"),
        "{}",
        page.body
    );

    // A page of the upstream's host, without a session there: the hand-over
    // starts, and the edge's login (through the provider) is to come back to it.
    let (start, state) = begin(&edge, "/control?tab=1").await;
    let (cookie, query) = sign_in_at(
        &edge,
        &format!("/auth/oidc/start?next={}", urlencode(&start)),
        "alice",
    )
    .await;
    let reply = callback(&edge, &cookie, &query).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(landing(&reply), start);
    let session = reply
        .headers("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("hs_session="))
        .map(|c| cookie_value(&c))
        .expect("no session cookie");

    // From there the hand-over runs as after a passkey login.
    let on_app_host = minted(&edge, &session, &start).await;
    let finished = on_app(
        &edge,
        "GET",
        &on_app_host,
        &[&format!("Cookie: hs_handoff={state}")],
    )
    .await;
    assert_eq!(finished.status, 302, "{finished:?}");
    assert_eq!(
        finished.header("location").as_deref(),
        Some("/control?tab=1")
    );
    let origin = set_cookie(&finished, "hs_origin").expect("a session of the upstream's host");
    let served = on_app(
        &edge,
        "GET",
        "/control?tab=1",
        &[&format!("Cookie: hs_origin={}", cookie_value(&origin))],
    )
    .await;
    assert_eq!(served.status, 200, "{served:?}");
    assert_eq!(served.body, "hello from upstream");

    // The hand-over is on record, with how the owner logged in.
    let records = edge.audit_records().await;
    let handed = records
        .iter()
        .find(|r| r["event"]["type"] == "session_handed_over")
        .expect("no session_handed_over");
    assert_eq!(handed["event"]["auth_method"], "oidc");
    assert!(
        handed["event"]["subject"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{handed}"
    );
    edge.stop().await;
}

#[tokio::test]
async fn an_oidc_login_goes_nowhere_but_a_path_on_the_edge() {
    use crate::origin::urlencode;

    let edge = edge().await;
    // Refused at the start: no pending login, no trip to the provider.
    for next in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "javascript:alert(1)",
        "/x/../../admin",
    ] {
        let started = get(
            edge.addr,
            &format!("/auth/oidc/start?next={}", urlencode(next)),
            &[],
        )
        .await;
        assert_eq!(started.status, 400, "{next}: {started:?}");
        assert!(started.header("location").is_none(), "{next}");
        assert!(started.headers("set-cookie").is_empty(), "{next}");
    }
    // A `next` added to the provider's redirect is not read: the login lands
    // where it was started for (here, nowhere given: the edge's `/`).
    let (cookie, query) = sign_in(&edge, "alice").await;
    let forged = format!("{query}&next={}", urlencode("https://evil.example/"));
    let reply = callback(&edge, &cookie, &forged).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(landing(&reply), "/");
    assert!(!reply.body.contains("evil.example"), "{}", reply.body);
    edge.stop().await;
}

#[tokio::test]
async fn without_oidc_the_login_page_offers_no_provider() {
    let edge = TestEdge::start("").await;
    let page = get(edge.addr, "/login", &[]).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("<section id=\"oidc\" aria-labelledby=\"oidc-title\" hidden>"),
        "{}",
        page.body
    );
    assert_eq!(
        get(edge.addr, "/auth/oidc/start?next=%2F", &[])
            .await
            .status,
        404
    );
    edge.stop().await;
}
