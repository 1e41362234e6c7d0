//! Cloudflare Access in front of the edge: its JWT, from the header or the
//! cookie, verified against a real JWKS endpoint on loopback.

use hardshell_testkit::cloudflare as cf;
use serde_json::json;

use crate::support::{TestEdge, get, request, upstream};

fn config() -> String {
    format!(
        "[ratelimit]\nrequests_per_minute = 100000\nburst = 1000\nfailed_auth_per_minute = 1000\nfailed_auth_burst = 100\n\
         [access.cloudflare]\nteam_domain = \"{}\"\naudience = \"{}\"\n\
         [[access.rules]]\nrole = \"admin\"\nemails = [\"owner@example.com\"]\n",
        cf::TEAM,
        cf::AUD
    )
}

#[tokio::test]
async fn an_access_jwt_in_the_header_or_the_cookie_authenticates() {
    let keys = cf::keys();
    let server = cf::JwksServer::start(&[&keys[0]]).await;
    let edge = TestEdge::start_cloudflare(&config(), server.certs_url.clone()).await;
    let token = keys[0].sign(&cf::claims());
    let reply = get(
        edge.addr,
        "/auth/whoami",
        &[&format!("Cf-Access-Jwt-Assertion: {token}")],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body.contains("\"method\":\"cloudflare_access\""));
    assert!(reply.body.contains("\"email\":\"owner@example.com\""));
    let reply = get(
        edge.addr,
        "/admin/tokens",
        &[&format!("Cookie: CF_Authorization={token}")],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    edge.stop().await;
}

#[tokio::test]
async fn forged_expired_and_foreign_access_jwts_are_refused() {
    let keys = cf::keys();
    let server = cf::JwksServer::start(&[&keys[0]]).await;
    let edge = TestEdge::start_cloudflare(&config(), server.certs_url.clone()).await;
    let unsigned = format!(
        "{}.{}.",
        cf::b64(json!({"alg": "none", "kid": "x"}).to_string().as_bytes()),
        cf::b64(cf::claims().to_string().as_bytes())
    );
    let cases = [
        ("alg none", unsigned),
        (
            "expired",
            keys[0].sign(&cf::claims_with(json!({"exp": cf::now() - 3600}))),
        ),
        (
            "wrong audience",
            keys[0].sign(&cf::claims_with(json!({"aud": ["someone-else"]}))),
        ),
        (
            "wrong issuer",
            keys[0].sign(&cf::claims_with(
                json!({"iss": "https://evil.cloudflareaccess.com"}),
            )),
        ),
        ("unknown key", keys[1].sign(&cf::claims())),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (what, token) in cases {
        let reply = get(
            edge.addr,
            "/auth/whoami",
            &[&format!("Cf-Access-Jwt-Assertion: {token}")],
        )
        .await;
        assert_eq!(reply.status, 401, "{what}: {reply:?}");
        assert_eq!(reply.body, "authentication required\n", "{what}");
    }
    edge.stop().await;
}

#[tokio::test]
async fn a_valid_access_identity_outside_the_policy_is_forbidden() {
    let keys = cf::keys();
    let server = cf::JwksServer::start(&[&keys[0]]).await;
    let edge = TestEdge::start_cloudflare(&config(), server.certs_url.clone()).await;
    let stranger = keys[0].sign(&cf::claims_with(
        json!({"email": "stranger@example.com", "groups": []}),
    ));
    let reply = get(
        edge.addr,
        "/auth/whoami",
        &[&format!("Cf-Access-Jwt-Assertion: {stranger}")],
    )
    .await;
    assert_eq!(reply.status, 403, "{reply:?}");
    edge.stop().await;
}

/// Cloudflare's cookie and the header it adds are attached by the browser (or by
/// Cloudflare) to whatever page's request: they are ambient, like the session
/// cookie, so a write carrying them must come from our own origin.
#[tokio::test]
async fn access_credentials_cannot_write_from_another_origin() {
    let keys = cf::keys();
    let server = cf::JwksServer::start(&[&keys[0]]).await;
    let edge = TestEdge::start_cloudflare(&config(), server.certs_url.clone()).await;
    let token = keys[0].sign(&cf::claims());
    let body = r#"{"name":"csrf","scope":"admin","expires_in_days":7}"#;
    for credential in [
        format!("Cookie: CF_Authorization={token}"),
        format!("Cf-Access-Jwt-Assertion: {token}"),
    ] {
        let reply = request(
            edge.addr,
            "POST",
            "/admin/tokens",
            &[&credential, "Origin: https://evil.example"],
            body,
        )
        .await;
        assert_eq!(reply.status, 403, "{credential}: {reply:?}");
        let reply = request(
            edge.addr,
            "POST",
            "/admin/tokens",
            &[&credential, "Sec-Fetch-Site: cross-site"],
            body,
        )
        .await;
        assert_eq!(reply.status, 403, "{credential}: {reply:?}");
    }
    assert!(edge.tokens().list().await.unwrap().is_empty());
    let reply = request(
        edge.addr,
        "POST",
        "/admin/tokens",
        &[
            &format!("Cf-Access-Jwt-Assertion: {token}"),
            "Origin: http://localhost:8787",
        ],
        body,
    )
    .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    edge.stop().await;
}

#[tokio::test]
async fn access_credentials_from_another_origin_do_not_reach_the_upstream() {
    let keys = cf::keys();
    let server = cf::JwksServer::start(&[&keys[0]]).await;
    let (url, log) = upstream::tcp().await;
    let edge = TestEdge::start_cloudflare(
        &format!("{}[upstream]\nurl = \"{url}\"\n", config()),
        server.certs_url.clone(),
    )
    .await;
    let token = keys[0].sign(&cf::claims());
    let header = format!("Cf-Access-Jwt-Assertion: {token}");
    let reply = request(
        edge.addr,
        "POST",
        "/app/transfer",
        &[&header, "Origin: https://evil.example"],
        "amount=1",
    )
    .await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert!(log.lock().unwrap().is_empty());
    let reply = request(
        edge.addr,
        "POST",
        "/app/transfer",
        &[&header, "Origin: http://localhost:8787"],
        "amount=1",
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(log.lock().unwrap().len(), 1);
    edge.stop().await;
}

/// When Cloudflare's key set cannot be fetched, the edge cannot tell who the
/// client is: that is its own outage (503, retry later), not a failed login
/// (401), and it is not charged to the client.
#[tokio::test]
async fn an_unreachable_key_set_is_a_503_not_a_401() {
    let keys = cf::keys();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let certs_url =
        url::Url::parse(&format!("http://127.0.0.1:{port}/cdn-cgi/access/certs")).unwrap();
    let edge = TestEdge::start_cloudflare(&config(), certs_url).await;
    let token = keys[0].sign(&cf::claims());
    let reply = get(
        edge.addr,
        "/auth/whoami",
        &[&format!("Cf-Access-Jwt-Assertion: {token}")],
    )
    .await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.body, "authentication temporarily unavailable\n");
    // A public route is still served.
    assert_eq!(
        get(
            edge.addr,
            "/healthz",
            &[&format!("Cf-Access-Jwt-Assertion: {token}")]
        )
        .await
        .status,
        200
    );
    edge.stop().await;
}

/// With `only_from_trusted_proxies`, an Access token counts only on a
/// connection from a trusted proxy: one copied from a browser and sent straight
/// to the edge is ignored.
#[tokio::test]
async fn access_tokens_can_be_limited_to_trusted_proxies() {
    let keys = cf::keys();
    let server = cf::JwksServer::start(&[&keys[0]]).await;
    let config = config().replace(
        "audience = ",
        "only_from_trusted_proxies = true\naudience = ",
    );
    let token = keys[0].sign(&cf::claims());
    let header = format!("Cf-Access-Jwt-Assertion: {token}");
    let cookie = format!("Cookie: CF_Authorization={token}");

    // The test client (127.0.0.1) is not the trusted proxy.
    let edge = TestEdge::start_cloudflare_with(
        "trusted_proxies = [\"10.0.0.0/8\"]\n",
        &config,
        server.certs_url.clone(),
    )
    .await;
    for credential in [&header, &cookie] {
        let reply = get(edge.addr, "/auth/whoami", &[credential]).await;
        assert_eq!(reply.status, 401, "{reply:?}");
    }
    edge.stop().await;

    // The test client is the trusted proxy.
    let edge = TestEdge::start_cloudflare_with(
        "trusted_proxies = [\"127.0.0.1\"]\n",
        &config,
        server.certs_url.clone(),
    )
    .await;
    for credential in [&header, &cookie] {
        let reply = get(edge.addr, "/auth/whoami", &[credential]).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    edge.stop().await;
}

/// An Access JWT cannot be revoked here, but it expires: a WebSocket opened
/// with one closes at its `exp`, and one opened with a later `exp` stays open.
#[tokio::test]
async fn a_websocket_opened_with_an_access_jwt_closes_at_its_expiry() {
    let keys = cf::keys();
    let server = cf::JwksServer::start(&[&keys[0]]).await;
    let (url, _) = upstream::tcp().await;
    let edge = TestEdge::start_cloudflare(
        &format!("{}[upstream]\nurl = \"{url}\"\n", config()),
        server.certs_url.clone(),
    )
    .await;
    let soon = keys[0].sign(&cf::claims_with(json!({"exp": cf::now() + 2})));
    let later = keys[0].sign(&cf::claims());
    let mut expiring =
        crate::revocation::open(edge.addr, &format!("Cf-Access-Jwt-Assertion: {soon}")).await;
    let mut kept =
        crate::revocation::open(edge.addr, &format!("Cf-Access-Jwt-Assertion: {later}")).await;
    assert!(
        crate::revocation::closed(&mut expiring).await,
        "the WebSocket outlived its JWT"
    );
    assert!(crate::revocation::echoes(&mut kept).await);
    edge.stop().await;
}

/// An edge behind Cloudflare Access whose upstream has a host of its own
/// (as a workload has), and the upstream's log.
async fn with_own_host(certs_url: url::Url) -> (TestEdge, crate::support::Log) {
    let (url, log) = upstream::tcp().await;
    let edge = TestEdge::start_cloudflare(
        &format!(
            "{}[upstream]\nurl = \"{url}\"\nhost = \"app.localhost\"\nidentity_header = \"X-Forwarded-User\"\n",
            config()
        ),
        certs_url,
    )
    .await;
    (edge, log)
}

/// A browser page load on the upstream's own host.
async fn page_on_app(edge: &TestEdge, headers: &[&str]) -> crate::support::Reply {
    let mut headers = headers.to_vec();
    headers.push("Accept: text/html");
    crate::support::request_on(
        edge.addr,
        "app.localhost:8787",
        "GET",
        "/page",
        &headers,
        "",
    )
    .await
}

#[tokio::test]
async fn on_the_upstreams_own_host_an_access_jwt_admits_without_a_hand_over() {
    let keys = cf::keys();
    let server = cf::JwksServer::start(&[&keys[0]]).await;
    let (edge, log) = with_own_host(server.certs_url.clone()).await;
    let token = keys[0].sign(&cf::claims());
    for credential in [
        format!("Cf-Access-Jwt-Assertion: {token}"),
        format!("Cookie: CF_Authorization={token}"),
    ] {
        let reply = page_on_app(&edge, &[&credential]).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body, "hello from upstream");
    }
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        assert_eq!(request.path, "/page");
        assert!(request.header("x-forwarded-user").is_some(), "{request:?}");
        assert!(
            request.header("cf-access-jwt-assertion").is_none(),
            "{request:?}"
        );
    }
    edge.stop().await;
}

#[tokio::test]
async fn on_the_upstreams_own_host_no_or_a_bad_access_jwt_is_refused() {
    let keys = cf::keys();
    let server = cf::JwksServer::start(&[&keys[0]]).await;
    let (edge, log) = with_own_host(server.certs_url.clone()).await;
    let refused = [
        None,
        Some(keys[0].sign(&cf::claims_with(json!({"aud": ["someone-else"]})))),
        Some(keys[0].sign(&cf::claims_with(json!({"exp": cf::now() - 3600})))),
        // Signed by a key the team's key set does not hold.
        Some(keys[1].sign(&cf::claims())),
    ];
    for token in &refused {
        let header = token
            .as_ref()
            .map(|token| format!("Cf-Access-Jwt-Assertion: {token}"));
        let headers: Vec<&str> = header.iter().map(String::as_str).collect();
        // An API call is refused outright; a page load is sent to the edge's
        // hand-over, never to the upstream.
        let reply = crate::support::request_on(
            edge.addr,
            "app.localhost:8787",
            "GET",
            "/api",
            &headers,
            "",
        )
        .await;
        assert_eq!(reply.status, 401, "{token:?}: {reply:?}");
        let reply = page_on_app(&edge, &headers).await;
        assert_eq!(reply.status, 302, "{token:?}: {reply:?}");
        let location = reply.header("location").unwrap_or_default();
        assert!(
            location.starts_with("http://localhost:8787/auth/handoff?"),
            "{location}"
        );
    }
    assert!(log.lock().unwrap().is_empty());

    // There, an Access identity without a session of the edge gets no code:
    // the upstream's host is to bring its own token.
    let token = keys[0].sign(&cf::claims());
    let reply = get(
        edge.addr,
        "/auth/handoff?next=%2Fpage&state=0123456789abcdef0123456789abcdef",
        &[&format!("Cf-Access-Jwt-Assertion: {token}")],
    )
    .await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert!(reply.header("location").is_none(), "{reply:?}");
    assert!(
        reply.body.contains("same Access application"),
        "{}",
        reply.body
    );
    edge.stop().await;
}
