//! Authentication, rate limits and authorization, end to end.

use chrono::Utc;
use hardshell_auth::TokenScope;

use crate::support::{TestEdge, bearer, get, owner, request};

const HIGH_LIMITS: &str = "[ratelimit]\nrequests_per_minute = 100000\nburst = 1000\n";

#[tokio::test]
async fn healthz_is_public_and_carries_security_headers() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    let reply = get(edge.addr, "/healthz", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "{\"status\":\"ok\"}");
    assert_eq!(
        reply.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert!(
        reply
            .header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'")
    );
    assert_eq!(reply.header("x-request-id").unwrap().len(), 24);
    edge.stop().await;
}

#[tokio::test]
async fn protected_routes_need_a_credential() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    let reply = get(edge.addr, "/auth/whoami", &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body, "authentication required\n");
    edge.stop().await;
}

#[tokio::test]
async fn a_chat_token_reaches_chat_routes_and_not_admin_routes() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    let chat = edge.token(TokenScope::Chat).await;
    let reply = get(edge.addr, "/auth/whoami", &[&bearer(&chat)]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply.body.contains("\"method\":\"api_token\""),
        "{}",
        reply.body
    );
    assert_eq!(
        get(edge.addr, "/admin/tokens", &[&bearer(&chat)])
            .await
            .status,
        403
    );
    let admin = edge.token(TokenScope::Admin).await;
    let reply = get(edge.addr, "/admin/tokens", &[&bearer(&admin)]).await;
    assert_eq!(reply.status, 200);
    assert!(!reply.body.contains(&chat), "the token list shows a token");
    edge.stop().await;
}

#[tokio::test]
async fn bad_tokens_get_401_with_a_fixed_body() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    let chat = edge.token(TokenScope::Chat).await;
    let wrong = format!("{}x", &chat[..chat.len() - 1]);
    for header in [
        bearer(&wrong),
        bearer("hs_tok_nonsense"),
        "Authorization: Basic dXNlcjpwYXNz".to_owned(),
    ] {
        let reply = get(edge.addr, "/auth/whoami", &[&header]).await;
        assert_eq!(reply.status, 401, "{header}");
        assert_eq!(reply.body, "authentication required\n");
    }
    edge.stop().await;
}

#[tokio::test]
async fn a_revoked_token_stops_working_at_once() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    let admin = edge.token(TokenScope::Admin).await;
    let chat = edge.token(TokenScope::Chat).await;
    assert_eq!(
        get(edge.addr, "/auth/whoami", &[&bearer(&chat)])
            .await
            .status,
        200
    );
    let id = &chat["hs_tok_".len().."hs_tok_".len() + 16];
    let reply = request(
        edge.addr,
        "DELETE",
        &format!("/admin/tokens/{id}"),
        &[&bearer(&admin)],
        "",
    )
    .await;
    assert_eq!(reply.status, 204, "{reply:?}");
    assert_eq!(
        get(edge.addr, "/auth/whoami", &[&bearer(&chat)])
            .await
            .status,
        401
    );
    edge.stop().await;
}

#[tokio::test]
async fn issuing_tokens_needs_a_fresh_interactive_login() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    let body = r#"{"name":"ci","scope":"chat","expires_in_days":7}"#;
    let admin_token = edge.token(TokenScope::Admin).await;
    let reply = request(
        edge.addr,
        "POST",
        "/admin/tokens",
        &[&bearer(&admin_token)],
        body,
    )
    .await;
    assert_eq!(
        reply.status, 403,
        "an API token is not an interactive login"
    );

    let stale = hardshell_auth::Principal {
        authenticated_at: Utc::now() - chrono::Duration::minutes(30),
        ..owner()
    };
    let cookie = format!("Cookie: hs_session={}", edge.session(stale).await);
    assert_eq!(
        request(edge.addr, "POST", "/admin/tokens", &[&cookie], body)
            .await
            .status,
        403
    );

    let fresh = format!("Cookie: hs_session={}", edge.session(owner()).await);
    let reply = request(edge.addr, "POST", "/admin/tokens", &[&fresh], body).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let created: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let token = created["token"].as_str().unwrap();
    assert_eq!(
        get(edge.addr, "/auth/whoami", &[&bearer(token)])
            .await
            .status,
        200
    );
    edge.stop().await;
}

#[tokio::test]
async fn malformed_admin_bodies_are_refused_and_create_nothing() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    let fresh = format!("Cookie: hs_session={}", edge.session(owner()).await);
    for body in [
        "",
        "{",
        r#"{"name":"x","scope":"root","expires_in_days":1}"#,
        r#"{"name":"x/y","scope":"chat","expires_in_days":1}"#,
    ] {
        let reply = request(edge.addr, "POST", "/admin/tokens", &[&fresh], body).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
    }
    assert!(edge.tokens().list().await.unwrap().is_empty());
    edge.stop().await;
}

#[tokio::test]
async fn cookie_requests_that_change_state_must_come_from_our_origin() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    let fresh = format!("Cookie: hs_session={}", edge.session(owner()).await);
    let body = r#"{"name":"ci","scope":"chat","expires_in_days":7}"#;
    let evil = request(
        edge.addr,
        "POST",
        "/admin/tokens",
        &[&fresh, "Origin: https://evil.example"],
        body,
    )
    .await;
    assert_eq!(evil.status, 403);
    let ours = request(
        edge.addr,
        "POST",
        "/admin/tokens",
        &[&fresh, "Origin: http://localhost:8787"],
        body,
    )
    .await;
    assert_eq!(ours.status, 201, "{ours:?}");
    edge.stop().await;
}

#[tokio::test]
async fn logout_revokes_the_session_server_side() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    let cookie = format!("Cookie: hs_session={}", edge.session(owner()).await);
    assert_eq!(get(edge.addr, "/auth/whoami", &[&cookie]).await.status, 200);
    let reply = request(edge.addr, "POST", "/auth/logout", &[&cookie], "").await;
    assert_eq!(reply.status, 204);
    assert!(reply.header("set-cookie").unwrap().contains("Max-Age=0"));
    // The old cookie, replayed, is dead.
    assert_eq!(get(edge.addr, "/auth/whoami", &[&cookie]).await.status, 401);
    edge.stop().await;
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let edge = TestEdge::start("[ratelimit]\nrequests_per_minute = 60\nburst = 3\n").await;
    for _ in 0..3 {
        assert_eq!(get(edge.addr, "/healthz", &[]).await.status, 200);
    }
    let limited = get(edge.addr, "/healthz", &[]).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after").as_deref(), Some("1"));
    edge.stop().await;
}

#[tokio::test]
async fn page_files_are_not_charged_to_the_rate_limit_but_api_calls_are() {
    let edge = TestEdge::start("[ratelimit]\nrequests_per_minute = 60\nburst = 3\n").await;
    // A sign-in and a chat page load: more files than the whole burst.
    for _ in 0..3 {
        for path in [
            "/login",
            "/login.js",
            "/login.css",
            "/",
            "/chat.js",
            "/chat.css",
        ] {
            assert_eq!(get(edge.addr, path, &[]).await.status, 200, "{path}");
        }
    }
    let statuses = [
        get(edge.addr, "/auth/whoami", &[]).await.status,
        get(edge.addr, "/api/sessions", &[]).await.status,
        get(edge.addr, "/healthz", &[]).await.status,
        get(edge.addr, "/auth/whoami", &[]).await.status,
    ];
    assert_eq!(statuses, [401, 401, 200, 429]);
    edge.stop().await;
}

#[tokio::test]
async fn forwarded_headers_from_untrusted_peers_do_not_dodge_limits() {
    let edge = TestEdge::start("[ratelimit]\nrequests_per_minute = 60\nburst = 3\n").await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        let forged = format!("X-Forwarded-For: 198.51.100.{i}");
        statuses.push(get(edge.addr, "/healthz", &[&forged]).await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    edge.stop().await;
}

#[tokio::test]
async fn repeated_bad_credentials_lock_the_address_out_before_checking() {
    let edge = TestEdge::start(
        "[ratelimit]\nrequests_per_minute = 100000\nburst = 1000\nfailed_auth_per_minute = 1\nfailed_auth_burst = 3\n",
    )
    .await;
    let good = edge.token(TokenScope::Chat).await;
    for _ in 0..3 {
        assert_eq!(
            get(
                edge.addr,
                "/auth/whoami",
                &[&bearer("hs_tok_0123456789abcdef_x")]
            )
            .await
            .status,
            401
        );
    }
    // Locked out: even a valid token from this address waits.
    let reply = get(edge.addr, "/auth/whoami", &[&bearer(&good)]).await;
    assert_eq!(reply.status, 429);
    assert!(reply.header("retry-after").is_some());
    // Requests without credentials are not refused by the failure limit.
    assert_eq!(get(edge.addr, "/healthz", &[]).await.status, 200);
    edge.stop().await;
}

#[tokio::test]
async fn metrics_are_for_admins_and_count_requests() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    get(edge.addr, "/healthz", &[]).await;
    get(
        edge.addr,
        "/healthz",
        &[&bearer("hs_tok_0123456789abcdef_bad")],
    )
    .await;
    assert_eq!(get(edge.addr, "/metrics", &[]).await.status, 401);
    let chat = edge.token(TokenScope::Chat).await;
    assert_eq!(
        get(edge.addr, "/metrics", &[&bearer(&chat)]).await.status,
        403
    );
    let admin = edge.token(TokenScope::Admin).await;
    let reply = get(edge.addr, "/metrics", &[&bearer(&admin)]).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .body
            .contains("hardshell_requests_total{route=\"/healthz\",status=\"200\"} 2"),
        "{}",
        reply.body
    );
    assert!(
        reply
            .body
            .contains("hardshell_auth_failures_total{method=\"api_token\"} 1"),
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains("hardshell_audit_backlog"),
        "{}",
        reply.body
    );
    edge.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_are_404_and_405() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    assert_eq!(get(edge.addr, "/nope", &[]).await.status, 404);
    assert_eq!(
        request(edge.addr, "DELETE", "/healthz", &[], "")
            .await
            .status,
        405
    );
    let admin = edge.token(TokenScope::Admin).await;
    // The edge owns /admin and /auth: unknown paths there are 404, never proxied.
    assert_eq!(
        get(edge.addr, "/admin/unknown", &[&bearer(&admin)])
            .await
            .status,
        404
    );
    edge.stop().await;
}

/// `[metrics] listen` is a real listener: it serves `/metrics` (and nothing
/// else) without authentication on loopback, and the main listener then does
/// not serve metrics at all.
#[tokio::test]
async fn the_metrics_listener_serves_metrics_and_nothing_else() {
    let edge = TestEdge::start(&format!(
        "{HIGH_LIMITS}[metrics]\nlisten = \"127.0.0.1:0\"\n"
    ))
    .await;
    let metrics = edge.metrics_addr.expect("the metrics listener is bound");
    assert_ne!(metrics, edge.addr);
    get(edge.addr, "/healthz", &[]).await;
    let reply = get(metrics, "/metrics", &[]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply.body.contains("hardshell_requests_total"),
        "{}",
        reply.body
    );
    assert_eq!(get(metrics, "/admin/tokens", &[]).await.status, 404);
    assert_eq!(get(metrics, "/healthz", &[]).await.status, 404);
    let admin = edge.token(TokenScope::Admin).await;
    assert_eq!(
        get(edge.addr, "/metrics", &[&bearer(&admin)]).await.status,
        404
    );
    edge.stop().await;
}

#[tokio::test]
async fn the_token_list_shows_no_secret_hash() {
    let edge = TestEdge::start(HIGH_LIMITS).await;
    let admin = edge.token(TokenScope::Admin).await;
    let reply = get(edge.addr, "/admin/tokens", &[&bearer(&admin)]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let listed: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let token = &listed["tokens"][0];
    assert_eq!(token["scope"], "admin", "{listed}");
    let mut fields: Vec<&str> = token
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "created_at",
            "expires_at",
            "id",
            "last_used_at",
            "name",
            "revoked_at",
            "scope"
        ]
    );
    edge.stop().await;
}
