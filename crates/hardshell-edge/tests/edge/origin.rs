//! `[upstream] host`: the upstream on an origin of its own, reached after the
//! login hand-over, and `identity_header`.

use hardshell_auth::identity;
use hardshell_auth::{Ephemeral, Handoffs, SessionStore, TokenScope};
use hardshell_storage::ObjectKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::revocation::{closed, echoes};

use crate::support::{Log, Reply, TestEdge, bearer, owner, parse, request, request_on, upstream};

/// The upstream's host, with the public URL's port (`http://localhost:8787`).
const APP: &str = "app.localhost:8787";
const EDGE_ORIGIN: &str = "http://localhost:8787";
const APP_ORIGIN: &str = "http://app.localhost:8787";

fn config(url: &str) -> String {
    format!(
        "[ratelimit]\nrequests_per_minute = 100000\nburst = 1000\n\
         [upstream]\nurl = \"{url}\"\nhost = \"app.localhost\"\nidentity_header = \"X-Forwarded-User\"\n"
    )
}

async fn started() -> (TestEdge, Log) {
    let (url, log) = upstream::tcp().await;
    (TestEdge::start(&config(&url)).await, log)
}

pub(crate) async fn on_app(edge: &TestEdge, method: &str, path: &str, headers: &[&str]) -> Reply {
    request_on(edge.addr, APP, method, path, headers, "").await
}

/// The `name=value` a `Set-Cookie` of `reply` sets for `name`.
pub(crate) fn set_cookie(reply: &Reply, name: &str) -> Option<String> {
    reply
        .headers("set-cookie")
        .into_iter()
        .find(|cookie| cookie.starts_with(&format!("{name}=")))
}

pub(crate) fn cookie_value(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().unwrap();
    pair.split_once('=').unwrap().1.to_owned()
}

/// A browser page load of `next` on the upstream's host without a session
/// there: the hand-over's start on the edge's host (path and query), and the
/// `state` cookie the upstream's host gave the browser.
pub(crate) async fn begin(edge: &TestEdge, next: &str) -> (String, String) {
    let reply = on_app(edge, "GET", next, &["Accept: text/html"]).await;
    assert_eq!(reply.status, 302, "{reply:?}");
    let location = reply.header("location").unwrap();
    let start = location
        .strip_prefix(EDGE_ORIGIN)
        .unwrap_or_else(|| panic!("sent to the edge's origin: {location}"))
        .to_owned();
    let cookie = set_cookie(&reply, "hs_handoff").expect("a state cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let state = cookie_value(&cookie);
    assert!(start.ends_with(&format!("&state={state}")), "{start}");
    (start, state)
}

/// The hand-over's end on the upstream's host (path and query), minted for the
/// edge session `session` at `start`.
pub(crate) async fn minted(edge: &TestEdge, session: &str, start: &str) -> String {
    let started = request(
        edge.addr,
        "GET",
        start,
        &[&format!("Cookie: hs_session={session}")],
        "",
    )
    .await;
    assert_eq!(started.status, 302, "{started:?}");
    let location = started.header("location").unwrap();
    let on_app_host = location
        .strip_prefix(APP_ORIGIN)
        .unwrap_or_else(|| panic!("the hand-over goes to the upstream's origin: {location}"));
    assert!(
        on_app_host.starts_with("/.hardshell/handoff?code="),
        "{location}"
    );
    on_app_host.to_owned()
}

/// Runs the hand-over for the edge session `session`; returns the session
/// cookie value of the upstream's host.
async fn hand_over(edge: &TestEdge, session: &str, next: &str) -> String {
    let (start, state) = begin(edge, next).await;
    let on_app_host = minted(edge, session, &start).await;
    let finished = on_app(
        edge,
        "GET",
        &on_app_host,
        &[&format!("Cookie: hs_handoff={state}")],
    )
    .await;
    assert_eq!(finished.status, 302, "{finished:?}");
    assert_eq!(finished.header("location").as_deref(), Some(next));
    let cookie = set_cookie(&finished, "hs_origin").expect("a session of the upstream's host");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "host-only: {cookie}");
    let cleared = set_cookie(&finished, "hs_handoff").expect("the state cookie cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    cookie_value(&cookie)
}

const STATE: &str = "0123456789abcdef0123456789abcdef";

pub(crate) fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn on_the_upstream_host_only_the_upstream_answers() {
    let (edge, log) = started().await;
    let admin = edge.token(TokenScope::Admin).await;
    for path in [
        "/admin",
        "/admin/tokens",
        "/auth/whoami",
        "/login",
        "/v1/models",
    ] {
        let reply = on_app(&edge, "GET", path, &[&bearer(&admin)]).await;
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        assert_eq!(
            reply.body, "hello from upstream",
            "{path}: not the edge's page"
        );
    }
    let seen: Vec<String> = log.lock().unwrap().iter().map(|s| s.path.clone()).collect();
    assert_eq!(
        seen,
        [
            "/admin",
            "/admin/tokens",
            "/auth/whoami",
            "/login",
            "/v1/models"
        ]
    );
    // The end of the hand-over is the edge's, never the upstream's.
    for path in [
        "/.hardshell/handoff",
        "/.hardshell/x",
        "/.HARDSHELL/x",
        "/%2Ehardshell/x",
    ] {
        let reply = on_app(&edge, "GET", path, &[&bearer(&admin)]).await;
        assert_ne!(reply.status, 200, "{path}: {reply:?}");
    }
    assert_eq!(log.lock().unwrap().len(), 5);
    edge.stop().await;
}

#[tokio::test]
async fn on_the_edges_host_the_upstream_no_longer_answers() {
    let (edge, log) = started().await;
    let chat = edge.token(TokenScope::Chat).await;
    for path in ["/v1/chat", "/control/ui", "/api/sessions"] {
        let reply = request(edge.addr, "GET", path, &[&bearer(&chat)], "").await;
        assert_eq!(reply.status, 404, "{path}: {reply:?}");
    }
    // Where a login lands without `next`: on to the upstream's origin.
    for headers in [vec![], vec![bearer(&chat)]] {
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let root = request(edge.addr, "GET", "/", &headers, "").await;
        assert_eq!(root.status, 302, "{root:?}");
        assert_eq!(root.header("location").unwrap(), format!("{APP_ORIGIN}/"));
    }
    // The edge's own routes still answer there.
    let whoami = request(edge.addr, "GET", "/auth/whoami", &[&bearer(&chat)], "").await;
    assert_eq!(whoami.status, 200, "{whoami:?}");
    assert!(whoami.body.contains("token:"), "{whoami:?}");
    // A host that is neither is the edge's: only the exact upstream host is.
    for host in [
        "app.localhost",
        "app.localhost:8788",
        "x.app.localhost:8787",
    ] {
        let reply = request_on(edge.addr, host, "GET", "/v1/chat", &[&bearer(&chat)], "").await;
        assert_eq!(reply.status, 404, "{host}: {reply:?}");
    }
    let upper = request_on(
        edge.addr,
        "APP.localhost:8787",
        "GET",
        "/v1/chat",
        &[&bearer(&chat)],
        "",
    )
    .await;
    assert_eq!(
        upper.status, 200,
        "host names are case-insensitive: {upper:?}"
    );
    assert_eq!(log.lock().unwrap().len(), 1);
    edge.stop().await;
}

#[tokio::test]
async fn the_identity_header_is_the_edges_and_never_the_clients() {
    let (edge, log) = started().await;
    let chat = edge.token(TokenScope::Chat).await;
    let reply = on_app(
        &edge,
        "GET",
        "/whoami",
        &[
            &bearer(&chat),
            "X-Forwarded-User: admin",
            "x-forwarded-user: root",
            "X_Forwarded_User: root",
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = log.lock().unwrap()[0].clone();
    let users: Vec<&str> = seen
        .headers
        .iter()
        .filter(|(name, _)| {
            name.eq_ignore_ascii_case("x-forwarded-user")
                || name.eq_ignore_ascii_case("x_forwarded_user")
        })
        .map(|(_, value)| value.as_str())
        .collect();
    let claims = identity::verify(
        seen.header("x-hardshell-identity").unwrap(),
        &edge.public_key,
        chrono::Utc::now(),
    )
    .unwrap();
    assert!(claims.sub.starts_with("token:"), "{claims:?}");
    assert_eq!(
        users,
        [claims.sub.as_str()],
        "only the edge's copy: {seen:?}"
    );
    edge.stop().await;
}

#[tokio::test]
async fn a_browser_without_a_session_of_the_upstream_host_is_sent_to_the_edges_login() {
    let (edge, log) = started().await;
    let navigate = on_app(
        &edge,
        "GET",
        "/control?tab=1",
        &[
            "Accept: text/html,application/xhtml+xml",
            "Sec-Fetch-Mode: navigate",
        ],
    )
    .await;
    assert_eq!(navigate.status, 302, "{navigate:?}");
    let state = cookie_value(&set_cookie(&navigate, "hs_handoff").unwrap());
    assert_eq!(
        navigate.header("location").unwrap(),
        format!("{EDGE_ORIGIN}/auth/handoff?next=%2Fcontrol%3Ftab%3D1&state={state}")
    );
    // Every page load its own state.
    let again = on_app(&edge, "GET", "/control", &["Accept: text/html"]).await;
    assert_ne!(
        cookie_value(&set_cookie(&again, "hs_handoff").unwrap()),
        state
    );
    // Not a page load, or a client with a token: a plain 401.
    for headers in [
        vec!["Accept: application/json"],
        vec!["Accept: text/html", "Sec-Fetch-Mode: cors"],
        vec!["Accept: text/html", "Authorization: Bearer hs_bogus"],
    ] {
        let reply = on_app(&edge, "GET", "/control", &headers).await;
        assert_eq!(reply.status, 401, "{headers:?}: {reply:?}");
    }
    // Not logged in on the edge either: to the login page, which comes back.
    let start = request(
        edge.addr,
        "GET",
        &format!("/auth/handoff?next=%2Fcontrol&state={STATE}"),
        &[],
        "",
    )
    .await;
    assert_eq!(start.status, 302, "{start:?}");
    assert_eq!(
        start.header("location").unwrap(),
        format!("/login?next=%2Fauth%2Fhandoff%3Fnext%3D%252Fcontrol%26state%3D{STATE}")
    );
    // A start that did not begin on the upstream's host (no state): refused.
    for query in [
        "next=%2Fcontrol",
        "next=%2Fcontrol&state=x",
        "next=%2Fcontrol&state=ZZ",
    ] {
        let reply = request(edge.addr, "GET", &format!("/auth/handoff?{query}"), &[], "").await;
        assert_eq!(reply.status, 400, "{query}: {reply:?}");
    }
    assert!(log.lock().unwrap().is_empty());
    edge.stop().await;
}

#[tokio::test]
async fn the_hand_over_gives_the_upstream_host_a_session_the_upstream_never_sees() {
    let (edge, log) = started().await;
    let session = edge.session(owner()).await;
    let cookie = hand_over(&edge, &session, "/control?tab=1").await;
    let reply = on_app(
        &edge,
        "GET",
        "/control?tab=1",
        &[&format!(
            "Cookie: theme=dark; hs_origin={cookie}; hs_session={session}"
        )],
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.path, "/control?tab=1");
    assert_eq!(seen.header("cookie"), Some("theme=dark"));
    assert_eq!(seen.header("x-forwarded-user"), Some("owner"));
    let everything = format!("{:?}", seen.headers);
    assert!(!everything.contains(&cookie) && !everything.contains(&session));
    // The upstream cannot set it either (its test server tries the edge's).
    for set in reply.headers("set-cookie") {
        assert!(!set.starts_with("hs_"), "{set}");
    }
    edge.stop().await;
}

#[tokio::test]
async fn each_hosts_session_is_valid_on_its_own_host_only() {
    let (edge, log) = started().await;
    let session = edge.session(owner()).await;
    let cookie = hand_over(&edge, &session, "/").await;
    // The edge's session on the upstream's host, by either name: refused.
    for sent in [
        format!("Cookie: hs_session={session}"),
        format!("Cookie: hs_origin={session}"),
    ] {
        let reply = on_app(&edge, "GET", "/", &[&sent]).await;
        assert_eq!(reply.status, 401, "{sent}: {reply:?}");
    }
    // The upstream host's session on the edge's host, by either name: refused.
    for sent in [
        format!("Cookie: hs_origin={cookie}"),
        format!("Cookie: hs_session={cookie}"),
    ] {
        let reply = request(edge.addr, "GET", "/auth/whoami", &[&sent], "").await;
        assert_eq!(reply.status, 401, "{sent}: {reply:?}");
        let handoff = request(
            edge.addr,
            "GET",
            &format!("/auth/handoff?next=%2F&state={STATE}"),
            &[&sent],
            "",
        )
        .await;
        assert!(
            handoff.header("location").unwrap().starts_with("/login?"),
            "{sent}: {handoff:?}"
        );
    }
    // Each on its own host: accepted.
    let own = on_app(&edge, "GET", "/", &[&format!("Cookie: hs_origin={cookie}")]).await;
    assert_eq!(own.status, 200, "{own:?}");
    let edge_own = request(
        edge.addr,
        "GET",
        "/auth/whoami",
        &[&format!("Cookie: hs_session={session}")],
        "",
    )
    .await;
    assert_eq!(edge_own.status, 200, "{edge_own:?}");
    assert_eq!(log.lock().unwrap().len(), 1);
    edge.stop().await;
}

#[tokio::test]
async fn replayed_foreign_and_off_host_hand_overs_are_refused() {
    let (edge, log) = started().await;
    let session = edge.session(owner()).await;
    let (start, state) = begin(&edge, "/x").await;
    let finish = minted(&edge, &session, &start).await;
    let with_state = format!("Cookie: hs_handoff={state}");
    assert_eq!(
        on_app(&edge, "GET", &finish, &[&with_state]).await.status,
        302
    );
    let replayed = on_app(&edge, "GET", &finish, &[&with_state]).await;
    assert_eq!(replayed.status, 403, "{replayed:?}");
    assert!(set_cookie(&replayed, "hs_origin").is_none());

    // A code minted for another host is not this host's.
    let sessions = SessionStore::new(
        edge.store
            .root()
            .scope(&ObjectKey::parse("sessions").unwrap())
            .unwrap(),
        std::time::Duration::from_secs(3600),
    );
    let handoffs = Handoffs::new(
        Ephemeral::new(
            edge.store
                .root()
                .scope(&ObjectKey::parse("pending").unwrap())
                .unwrap(),
            "handoff",
            10,
        ),
        sessions.clone(),
    );
    let resolved = sessions
        .resolve(&session, chrono::Utc::now())
        .await
        .unwrap();
    let foreign = handoffs
        .mint(
            &owner(),
            &resolved.handle,
            resolved.expires_at,
            "other.localhost:8787",
            STATE,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let path = format!("/.hardshell/handoff?code={}&next=%2F", foreign.expose());
    let reply = on_app(
        &edge,
        "GET",
        &path,
        &[&format!("Cookie: hs_handoff={STATE}")],
    )
    .await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert!(set_cookie(&reply, "hs_origin").is_none());

    // `next` off the upstream's host, at either end.
    for next in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "x",
    ] {
        let start = request(
            edge.addr,
            "GET",
            &format!("/auth/handoff?next={}&state={STATE}", urlencode(next)),
            &[&format!("Cookie: hs_session={session}")],
            "",
        )
        .await;
        assert_eq!(start.status, 400, "{next}: {start:?}");
        let finish = on_app(
            &edge,
            "GET",
            &format!("/.hardshell/handoff?code=1.x&next={}", urlencode(next)),
            &[],
        )
        .await;
        assert_eq!(finish.status, 400, "{next}: {finish:?}");
        assert!(finish.header("location").is_none());
    }
    // A made-up code.
    let made_up = on_app(
        &edge,
        "GET",
        "/.hardshell/handoff?code=9999999999.AAAA&next=%2F",
        &[&format!("Cookie: hs_handoff={STATE}")],
    )
    .await;
    assert_eq!(made_up.status, 403, "{made_up:?}");
    // A token is presented on the upstream's host itself, not handed over.
    let chat = edge.token(TokenScope::Chat).await;
    let token = request(
        edge.addr,
        "GET",
        &format!("/auth/handoff?next=%2F&state={STATE}"),
        &[&bearer(&chat)],
        "",
    )
    .await;
    assert_eq!(token.status, 403, "{token:?}");
    assert!(log.lock().unwrap().is_empty());
    edge.stop().await;
}

#[tokio::test]
async fn logging_out_of_the_edge_ends_the_upstream_hosts_session() {
    let (edge, _log) = started().await;
    let session = edge.session(owner()).await;
    let cookie = hand_over(&edge, &session, "/").await;
    let sent = format!("Cookie: hs_origin={cookie}");
    assert_eq!(on_app(&edge, "GET", "/", &[&sent]).await.status, 200);
    let logout = request(
        edge.addr,
        "POST",
        "/auth/logout",
        &[
            &format!("Cookie: hs_session={session}"),
            &format!("Origin: {EDGE_ORIGIN}"),
        ],
        "",
    )
    .await;
    assert_eq!(logout.status, 204, "{logout:?}");
    assert_eq!(on_app(&edge, "GET", "/", &[&sent]).await.status, 401);
    edge.stop().await;
}

#[tokio::test]
async fn the_origin_check_is_per_host() {
    let (edge, log) = started().await;
    let session = edge.session(owner()).await;
    let cookie = hand_over(&edge, &session, "/").await;
    // Script on the upstream's origin cannot write to the edge's routes with
    // the owner's session (were the browser to send it).
    let from_app = request(
        edge.addr,
        "POST",
        "/auth/logout",
        &[
            &format!("Cookie: hs_session={session}"),
            &format!("Origin: {APP_ORIGIN}"),
        ],
        "",
    )
    .await;
    assert_eq!(from_app.status, 403, "{from_app:?}");
    // On the upstream's host, its own origin writes; the edge's does not.
    let sent = format!("Cookie: hs_origin={cookie}");
    let own = on_app(
        &edge,
        "POST",
        "/api/x",
        &[&sent, &format!("Origin: {APP_ORIGIN}")],
    )
    .await;
    assert_eq!(own.status, 200, "{own:?}");
    for foreign in [EDGE_ORIGIN, "http://evil.example"] {
        let reply = on_app(
            &edge,
            "POST",
            "/api/x",
            &[&sent, &format!("Origin: {foreign}")],
        )
        .await;
        assert_eq!(reply.status, 403, "{foreign}: {reply:?}");
    }
    assert_eq!(log.lock().unwrap().len(), 1);
    // The edge's session still works on the edge.
    let whoami = request(
        edge.addr,
        "GET",
        "/auth/whoami",
        &[&format!("Cookie: hs_session={session}")],
        "",
    )
    .await;
    assert_eq!(whoami.status, 200);
    edge.stop().await;
}

#[tokio::test]
async fn a_unix_socket_upstream_is_served_on_its_own_host_too() {
    let dir = tempfile::tempdir().unwrap();
    let (url, log) = upstream::unix(&dir.path().join("workload.sock")).await;
    let edge = TestEdge::start(&config(&url)).await;
    let chat = edge.token(TokenScope::Chat).await;
    let reply = on_app(&edge, "GET", "/healthz", &[&bearer(&chat)]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(log.lock().unwrap()[0].path, "/healthz");
    edge.stop().await;
}

/// Sends a WebSocket handshake to the upstream's host; returns the stream and
/// the answer's status.
async fn websocket_on_app(edge: &TestEdge, cookie: &str, origin: &str) -> (TcpStream, u16) {
    let mut stream = TcpStream::connect(edge.addr).await.unwrap();
    let handshake = format!(
        "GET /ws HTTP/1.1\r\nHost: {APP}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Cookie: hs_origin={cookie}\r\nOrigin: {origin}\r\n\r\n"
    );
    stream.write_all(handshake.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if stream.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    (stream, parse(&head).status)
}

#[tokio::test]
async fn a_websocket_on_the_upstream_host_closes_when_the_owner_logs_out() {
    let (edge, _log) = started().await;
    let session = edge.session(owner()).await;
    let cookie = hand_over(&edge, &session, "/").await;
    // Its handshake must come from its own origin, not the edge's.
    let (_, refused) = websocket_on_app(&edge, &cookie, EDGE_ORIGIN).await;
    assert_eq!(refused, 403);
    let (mut stream, status) = websocket_on_app(&edge, &cookie, APP_ORIGIN).await;
    assert_eq!(status, 101);
    assert!(
        echoes(&mut stream).await,
        "a fresh WebSocket does not relay"
    );
    let logout = request(
        edge.addr,
        "POST",
        "/auth/logout",
        &[
            &format!("Cookie: hs_session={session}"),
            &format!("Origin: {EDGE_ORIGIN}"),
        ],
        "",
    )
    .await;
    assert_eq!(logout.status, 204, "{logout:?}");
    assert!(
        closed(&mut stream).await,
        "the upstream host's WebSocket outlived the owner's session"
    );
    edge.stop().await;
}

/// Someone with a session of their own mints a code and has the owner's
/// browser open it (login CSRF): the owner's browser does not hold the state
/// the code was minted for, so it is refused, and spent.
#[tokio::test]
async fn a_code_is_redeemed_only_by_the_browser_that_began_the_hand_over() {
    let (edge, log) = started().await;
    let theirs = edge.session(owner()).await;
    let (start, their_state) = begin(&edge, "/").await;
    let finish = minted(&edge, &theirs, &start).await;
    let (_, owners_state) = begin(&edge, "/").await;
    for cookie in [
        vec![format!("Cookie: hs_handoff={owners_state}")],
        vec![],
        vec![format!(
            "Cookie: hs_handoff={their_state}; hs_handoff={owners_state}"
        )],
    ] {
        let cookie: Vec<&str> = cookie.iter().map(String::as_str).collect();
        let reply = on_app(&edge, "GET", &finish, &cookie).await;
        assert_eq!(reply.status, 403, "{cookie:?}: {reply:?}");
        assert!(set_cookie(&reply, "hs_origin").is_none());
    }
    let spent = on_app(
        &edge,
        "GET",
        &finish,
        &[&format!("Cookie: hs_handoff={their_state}")],
    )
    .await;
    assert_eq!(spent.status, 403, "{spent:?}");
    assert!(log.lock().unwrap().is_empty());
    edge.stop().await;
}

#[tokio::test]
async fn the_identity_header_is_filled_without_a_host_of_its_own_too() {
    let (url, log) = upstream::tcp().await;
    let edge = TestEdge::start(&format!(
        "[upstream]\nurl = \"{url}\"\nidentity_header = \"X-Remote-User\"\n"
    ))
    .await;
    let session = edge.session(owner()).await;
    let reply = request(
        edge.addr,
        "GET",
        "/page",
        &[
            &format!("Cookie: hs_session={session}"),
            "X-Remote-User: someone-else",
        ],
        "",
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        log.lock().unwrap()[0].header("x-remote-user"),
        Some("owner")
    );
    edge.stop().await;
}

#[tokio::test]
async fn a_completed_hand_over_is_on_record_and_a_refused_one_is_not() {
    let (edge, _log) = started().await;
    let session = edge.session(owner()).await;
    let (start, state) = begin(&edge, "/").await;
    // Redeemed without the browser's state: refused, and not recorded.
    let on_app_host = minted(&edge, &session, &start).await;
    let refused = on_app(&edge, "GET", &on_app_host, &[]).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    let handed = |records: &[serde_json::Value]| {
        records
            .iter()
            .filter(|r| r["event"]["type"] == "session_handed_over")
            .map(|r| r["event"].clone())
            .collect::<Vec<_>>()
    };
    assert!(handed(&edge.audit_records().await).is_empty());

    let on_app_host = minted(&edge, &session, &start).await;
    let finished = on_app(
        &edge,
        "GET",
        &on_app_host,
        &[&format!("Cookie: hs_handoff={state}")],
    )
    .await;
    assert_eq!(finished.status, 302, "{finished:?}");
    // On record by the time the browser has the session.
    let records = handed(&edge.audit_records().await);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["subject"], "owner");
    assert_eq!(records[0]["auth_method"], "passkey");
    edge.stop().await;
}
