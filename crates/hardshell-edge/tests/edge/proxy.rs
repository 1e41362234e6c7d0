//! The proxy to the upstream: what crosses, what does not, and what is added.

use std::time::Duration;

use hardshell_auth::TokenScope;
use hardshell_auth::identity;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{TestEdge, bearer, get, owner, parse, raw, request, upstream};

fn config(url: &str) -> String {
    format!(
        "[ratelimit]\nrequests_per_minute = 100000\nburst = 1000\n[upstream]\nurl = \"{url}\"\n"
    )
}

#[tokio::test]
async fn authorised_requests_reach_the_upstream_with_a_signed_identity() {
    let (url, log) = upstream::tcp().await;
    let edge = TestEdge::start(&config(&url)).await;
    let chat = edge.token(TokenScope::Chat).await;
    let reply = request(
        edge.addr,
        "POST",
        "/v1/chat?x=1",
        &[&bearer(&chat)],
        "hi there",
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, "hello from upstream");
    assert_eq!(reply.header("x-upstream").as_deref(), Some("yes"));

    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.path, "/v1/chat?x=1");
    assert_eq!(seen.body, "hi there");
    let assertion = seen.header("x-hardshell-identity").unwrap();
    let claims = identity::verify(assertion, &edge.public_key, chrono::Utc::now()).unwrap();
    assert!(claims.sub.starts_with("token:"));
    assert!(seen.header("x-request-id").is_some_and(|id| !id.is_empty()));
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    edge.stop().await;
}

/// One signature per principal, not per request: a token's requests carry
/// the same assertion, another token's its own, and each names its own.
#[tokio::test]
async fn a_principals_requests_share_one_assertion_and_another_principal_has_its_own() {
    let (url, log) = upstream::tcp().await;
    let edge = TestEdge::start(&config(&url)).await;
    let chat = edge.token(TokenScope::Chat).await;
    let other = edge.token(TokenScope::Chat).await;
    for token in [&chat, &chat, &other] {
        let reply = get(edge.addr, "/", &[&bearer(token)]).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    let seen = log.lock().unwrap().clone();
    let assertion = |n: usize| seen[n].header("x-hardshell-identity").unwrap().to_owned();
    assert_eq!(assertion(0), assertion(1));
    assert_ne!(assertion(0), assertion(2));
    let subject = |n: usize| {
        identity::verify(&assertion(n), &edge.public_key, chrono::Utc::now())
            .unwrap()
            .sub
    };
    assert_ne!(subject(0), subject(2));
    // Each request still has its own id.
    assert_ne!(
        seen[0].header("x-request-id"),
        seen[1].header("x-request-id")
    );
    edge.stop().await;
}

#[tokio::test]
async fn the_upstream_never_sees_client_credentials_or_forged_identity() {
    let (url, log) = upstream::tcp().await;
    let edge = TestEdge::start(&config(&url)).await;
    let chat = edge.token(TokenScope::Chat).await;
    let reply = get(
        edge.addr,
        "/",
        &[
            &bearer(&chat),
            "Cookie: theme=dark; hs_session=stolen; CF_Authorization=jwt",
            "X-Hardshell-Identity: v1.forged.signature",
            "Cf-Access-Jwt-Assertion: eyJhbGciOiJub25lIn0.e30.",
            "X-Forwarded-For: 10.9.9.9",
            "Connection: close, X-Hop",
            "X-Hop: secret-hop",
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = log.lock().unwrap()[0].clone();
    assert!(seen.header("authorization").is_none());
    assert_eq!(seen.header("cookie"), Some("theme=dark"));
    assert!(seen.header("cf-access-jwt-assertion").is_none());
    assert!(seen.header("x-hop").is_none());
    assert_ne!(
        seen.header("x-hardshell-identity"),
        Some("v1.forged.signature")
    );
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    let everything = format!("{:?}", seen.headers);
    assert!(
        !everything.contains(&chat[10..]),
        "the token leaked upstream"
    );
    edge.stop().await;
}

#[tokio::test]
async fn the_upstream_cannot_set_the_edges_cookies() {
    let (url, _log) = upstream::tcp().await;
    let edge = TestEdge::start(&config(&url)).await;
    let chat = edge.token(TokenScope::Chat).await;
    let reply = get(edge.addr, "/", &[&bearer(&chat)]).await;
    let cookies = reply.headers("set-cookie");
    assert_eq!(cookies, ["app_pref=1; Path=/"], "{cookies:?}");
    edge.stop().await;
}

#[tokio::test]
async fn unauthenticated_requests_never_reach_the_upstream() {
    let (url, log) = upstream::tcp().await;
    let edge = TestEdge::start(&config(&url)).await;
    assert_eq!(get(edge.addr, "/", &[]).await.status, 401);
    assert_eq!(
        get(
            edge.addr,
            "/anything",
            &[&bearer("hs_tok_0123456789abcdef_bad")]
        )
        .await
        .status,
        401
    );
    assert!(log.lock().unwrap().is_empty());
    edge.stop().await;
}

#[tokio::test]
async fn a_unix_socket_upstream_works() {
    let dir = tempfile::tempdir().unwrap();
    let (url, log) = upstream::unix(&dir.path().join("agent.sock")).await;
    let edge = TestEdge::start(&config(&url)).await;
    let chat = edge.token(TokenScope::Chat).await;
    let reply = get(edge.addr, "/over-unix", &[&bearer(&chat)]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(log.lock().unwrap()[0].path, "/over-unix");
    edge.stop().await;
}

#[tokio::test]
async fn a_dead_upstream_is_a_502_with_a_fixed_body() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let edge = TestEdge::start(&config(&format!("http://127.0.0.1:{port}"))).await;
    let chat = edge.token(TokenScope::Chat).await;
    let reply = get(edge.addr, "/", &[&bearer(&chat)]).await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.body, "upstream unavailable\n");
    edge.stop().await;
}

#[tokio::test]
async fn websockets_are_relayed_after_authorization() {
    let (url, log) = upstream::tcp().await;
    let edge = TestEdge::start(&config(&url)).await;
    let chat = edge.token(TokenScope::Chat).await;
    let mut stream = TcpStream::connect(edge.addr).await.unwrap();
    let handshake = format!(
        "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {chat}\r\n\r\n"
    );
    stream.write_all(handshake.as_bytes()).await.unwrap();
    let mut head = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut head))
        .await
        .unwrap()
        .unwrap();
    let reply = parse(&head[..n]);
    assert_eq!(reply.status, 101, "{reply:?}");
    stream.write_all(b"ping-frame-bytes").await.unwrap();
    let mut echo = [0u8; 16];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut echo))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echo, b"ping-frame-bytes");
    let seen = log.lock().unwrap()[0].clone();
    assert!(seen.header("authorization").is_none());
    assert!(seen.header("x-hardshell-identity").is_some());
    edge.stop().await;
}

#[tokio::test]
async fn websocket_handshakes_without_credentials_are_refused() {
    let (url, log) = upstream::tcp().await;
    let edge = TestEdge::start(&config(&url)).await;
    let reply = get(
        edge.addr,
        "/ws",
        &["Upgrade: websocket", "Sec-WebSocket-Version: 13"],
    )
    .await;
    assert_eq!(reply.status, 401);
    assert!(log.lock().unwrap().is_empty());
    edge.stop().await;
}

/// Sends a WebSocket handshake with `extra` header lines; returns the answer's head.
async fn handshake(addr: std::net::SocketAddr, extra: &[&str]) -> crate::support::Reply {
    let mut text =
        "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            .to_owned();
    for line in extra {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut head = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut head))
        .await
        .unwrap()
        .unwrap();
    parse(&head[..n])
}

/// A WebSocket handshake is a GET that any page may start, and it carries the
/// browser's cookies: every handshake must come from our own origin, whatever
/// credential it carries.
#[tokio::test]
async fn cross_origin_websocket_handshakes_are_refused() {
    let (url, log) = upstream::tcp().await;
    let edge = TestEdge::start(&config(&url)).await;
    let cookie = format!("Cookie: hs_session={}", edge.session(owner()).await);
    let chat = bearer(&edge.token(TokenScope::Chat).await);
    for credential in [&cookie, &chat] {
        for foreign in ["Origin: https://evil.example", "Sec-Fetch-Site: cross-site"] {
            let reply = handshake(edge.addr, &[credential, foreign]).await;
            assert_eq!(reply.status, 403, "{credential} {foreign}: {reply:?}");
        }
    }
    assert!(log.lock().unwrap().is_empty());
    let reply = handshake(edge.addr, &[&cookie, "Origin: http://localhost:8787"]).await;
    assert_eq!(reply.status, 101, "{reply:?}");
    assert_eq!(log.lock().unwrap().len(), 1);
    edge.stop().await;
}

/// CGI, WSGI and PHP upstreams read `X_Forwarded_For` as `X-Forwarded-For`, and
/// many read client addresses from headers other proxies set: the client may
/// send none of these through the edge.
#[tokio::test]
async fn a_wsgi_upstream_sees_no_forged_forwarding_or_identity_header() {
    let wsgi = crate::support::WsgiUpstream::start();
    let edge = TestEdge::start(&config(&wsgi.url)).await;
    let chat = edge.token(TokenScope::Chat).await;
    let reply = get(
        edge.addr,
        "/env",
        &[
            &bearer(&chat),
            "X-Real-IP: 10.9.9.1",
            "True-Client-IP: 10.9.9.2",
            "CF-Connecting-IP: 10.9.9.3",
            "X-Client-IP: 10.9.9.4",
            "X-Cluster-Client-IP: 10.9.9.5",
            "X_Forwarded_For: 10.9.9.6",
            "X_Hardshell_Identity: v1.forged.signature",
            "Transfer_Encoding: chunked",
            "Cf_Access_Jwt_Assertion: forged",
            "X-Kept: 1",
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let environ: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(environ["HTTP_X_FORWARDED_FOR"], "127.0.0.1", "{environ}");
    let identity = environ["HTTP_X_HARDSHELL_IDENTITY"].as_str().unwrap();
    identity::verify(identity, &edge.public_key, chrono::Utc::now()).unwrap();
    for forged in [
        "HTTP_X_REAL_IP",
        "HTTP_TRUE_CLIENT_IP",
        "HTTP_CF_CONNECTING_IP",
        "HTTP_X_CLIENT_IP",
        "HTTP_X_CLUSTER_CLIENT_IP",
        "HTTP_TRANSFER_ENCODING",
        "HTTP_CF_ACCESS_JWT_ASSERTION",
    ] {
        assert!(environ.get(forged).is_none(), "{forged} reached: {environ}");
    }
    assert_eq!(environ["HTTP_X_KEPT"], "1");
    edge.stop().await;
}

/// The edge's paths are never proxied, however they are spelled: an upstream
/// that decodes escapes, merges slashes, resolves dot segments, folds case or
/// cuts `;` parameters would otherwise serve its own `/admin` or `/metrics`.
#[tokio::test]
async fn edge_paths_never_reach_the_upstream_in_any_spelling() {
    let (url, log) = upstream::tcp().await;
    let edge = TestEdge::start(&config(&url)).await;
    let chat = bearer(&edge.token(TokenScope::Chat).await);
    for path in [
        "/admin",
        "/admin/",
        "/metrics",
        "/metrics/",
        "/auth",
        "/login/",
        "/healthz/x",
        "/ADMIN/tokens",
        "/%61dmin/tokens",
        "/admin;x=1/tokens",
        "//admin/tokens",
        "/x/../admin/tokens",
        "/./metrics",
        "/admin%2ftokens",
        "/%2e%2e/admin",
        "/%ff/x",
    ] {
        for method in ["GET", "PUT", "DELETE"] {
            let reply = request(edge.addr, method, path, &[&chat], "").await;
            // The admin page is the edge's own, served to anyone (its APIs
            // check who asks).
            let admin_page = method == "GET"
                && path == "/admin"
                && reply.status == 200
                && reply.body.contains("<title>Admin · hardshell</title>");
            assert!(
                matches!(reply.status, 400 | 403 | 404 | 405) || admin_page,
                "{method} {path}: {reply:?}"
            );
        }
    }
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
    let reply = get(edge.addr, "/administrator/x", &[&chat]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    edge.stop().await;
}

/// RFC 9112 §3.2: an HTTP/1.1 request without `Host`, with two, or with an
/// invalid one is a 400, and never reaches the upstream.
#[tokio::test]
async fn missing_duplicate_or_malformed_hosts_are_refused() {
    let (url, log) = upstream::tcp().await;
    let edge = TestEdge::start(&config(&url)).await;
    let chat = bearer(&edge.token(TokenScope::Chat).await);
    for hosts in [
        "",
        "Host: localhost\r\nHost: evil.example\r\n",
        "Host: user@evil.example\r\n",
        "Host: localhost/x\r\n",
        "Host: \r\n",
    ] {
        let text = format!("GET /app HTTP/1.1\r\n{hosts}{chat}\r\nConnection: close\r\n\r\n");
        let reply = raw(edge.addr, text.as_bytes()).await;
        assert_eq!(reply.status, 400, "{hosts:?}: {reply:?}");
    }
    let text = format!(
        "GET http://evil.example/app HTTP/1.1\r\nHost: localhost\r\n{chat}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(raw(edge.addr, text.as_bytes()).await.status, 400);
    assert!(log.lock().unwrap().is_empty());
    let text =
        format!("GET /app HTTP/1.1\r\nHost: localhost\r\n{chat}\r\nConnection: close\r\n\r\n");
    assert_eq!(raw(edge.addr, text.as_bytes()).await.status, 200);
    edge.stop().await;
}
