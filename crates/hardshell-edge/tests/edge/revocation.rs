//! What a credential opens ends with it: WebSockets and a turn's stream close
//! when the session, or the token, they were opened with is revoked, and not
//! when another credential is.

use std::net::SocketAddr;
use std::time::Duration;

use hardshell_auth::TokenScope;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{TestEdge, bearer, owner, parse, request, upstream};

const ORIGIN: &str = "Origin: http://localhost:8787";

fn config(url: &str) -> String {
    format!(
        "[ratelimit]\nrequests_per_minute = 100000\nburst = 1000\n[upstream]\nurl = \"{url}\"\n"
    )
}

/// Opens a WebSocket to the upstream's echo with `credential`.
pub async fn open(addr: SocketAddr, credential: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let handshake = format!(
        "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         {credential}\r\n{ORIGIN}\r\n\r\n"
    );
    stream.write_all(handshake.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "closed: {head:?}");
        head.push(byte[0]);
    }
    assert_eq!(parse(&head).status, 101, "{:?}", parse(&head));
    assert!(
        echoes(&mut stream).await,
        "a fresh WebSocket does not relay"
    );
    stream
}

/// Whether bytes sent on the WebSocket come back.
pub async fn echoes(stream: &mut TcpStream) -> bool {
    if stream.write_all(b"ping-frame-bytes").await.is_err() {
        return false;
    }
    let mut echo = [0u8; 16];
    stream.read_exact(&mut echo).await.is_ok() && &echo == b"ping-frame-bytes"
}

/// Whether the edge closes `stream`. The bound only turns a relay that is never
/// closed into a failure instead of a hung test.
pub async fn closed(stream: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    matches!(
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await,
        Ok(Ok(_))
    )
}

fn token_id(token: &str) -> &str {
    token
        .strip_prefix("hs_tok_")
        .and_then(|rest| rest.split_once('_'))
        .unwrap()
        .0
}

#[tokio::test]
async fn a_websocket_opened_with_a_session_closes_at_its_logout() {
    let (url, _) = upstream::tcp().await;
    let edge = TestEdge::start(&config(&url)).await;
    let mine = format!("Cookie: hs_session={}", edge.session(owner()).await);
    let other = format!("Cookie: hs_session={}", edge.session(owner()).await);
    let mut ended = open(edge.addr, &mine).await;
    let mut kept = open(edge.addr, &other).await;

    let logout = request(edge.addr, "POST", "/auth/logout", &[&mine, ORIGIN], "").await;
    assert_eq!(logout.status, 204, "{logout:?}");
    assert!(
        closed(&mut ended).await,
        "the logged-out session's WebSocket is open"
    );
    assert!(
        echoes(&mut kept).await,
        "another session's WebSocket was closed"
    );
    edge.stop().await;
}

#[tokio::test]
async fn a_websocket_opened_with_a_token_closes_when_the_token_is_revoked() {
    let (url, _) = upstream::tcp().await;
    let edge = TestEdge::start(&config(&url)).await;
    let admin = bearer(&edge.token(TokenScope::Admin).await);
    let revoked = edge.token(TokenScope::Chat).await;
    let other = bearer(&edge.token(TokenScope::Chat).await);
    let mut ended = open(edge.addr, &bearer(&revoked)).await;
    let mut kept = open(edge.addr, &other).await;
    let cookie = format!("Cookie: hs_session={}", edge.session(owner()).await);
    let mut by_session = open(edge.addr, &cookie).await;

    let path = format!("/admin/tokens/{}", token_id(&revoked));
    let revocation = request(edge.addr, "DELETE", &path, &[&admin], "").await;
    assert!(revocation.status < 300, "{revocation:?}");
    assert!(
        closed(&mut ended).await,
        "the revoked token's WebSocket is open"
    );
    assert!(
        echoes(&mut kept).await,
        "another token's WebSocket was closed"
    );
    assert!(
        echoes(&mut by_session).await,
        "a session's WebSocket was closed"
    );
    edge.stop().await;
}

/// An edge whose agent accepts every turn and never finishes one.
async fn edge_with_agent(dir: &tempfile::TempDir) -> TestEdge {
    let socket = dir.path().join("agent.sock");
    crate::support::agent::start(&socket).await;
    TestEdge::start_with_agent(
        "[ratelimit]\nrequests_per_minute = 100000\nburst = 1000\n",
        &socket,
    )
    .await
}

/// Starts a streamed answer with `token`; returns the connection once `marker`
/// has arrived on it.
async fn stream_until(
    edge: &TestEdge,
    path: &str,
    body: &str,
    token: &str,
    marker: &str,
) -> TcpStream {
    let mut stream = TcpStream::connect(edge.addr).await.unwrap();
    let turn = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        bearer(token),
        body.len()
    );
    stream.write_all(turn.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains(marker) {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "the stream ended before {marker:?}: {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&chunk[..n]);
    }
    stream
}

async fn revoke(edge: &TestEdge, admin: &str, token: &str) {
    let path = format!("/admin/tokens/{}", token_id(token));
    let revocation = request(edge.addr, "DELETE", &path, &[admin], "").await;
    assert!(revocation.status < 300, "{revocation:?}");
}

#[tokio::test]
async fn a_turns_stream_ends_when_its_token_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let edge = edge_with_agent(&dir).await;
    let admin = bearer(&edge.token(TokenScope::Admin).await);
    let chat = edge.token(TokenScope::Chat).await;
    let created = request(edge.addr, "POST", "/api/sessions", &[&bearer(&chat)], "").await;
    assert_eq!(created.status, 201, "{created:?}");
    let session: serde_json::Value = serde_json::from_str(&created.body).unwrap();
    let path = format!("/api/sessions/{}/messages", session["id"].as_str().unwrap());
    let mut stream = stream_until(
        &edge,
        &path,
        r#"{"text":"hello"}"#,
        &chat,
        "event: accepted",
    )
    .await;
    revoke(&edge, &admin, &chat).await;
    assert!(
        closed(&mut stream).await,
        "the revoked token's turn stream is open"
    );
    edge.stop().await;
}

#[tokio::test]
async fn a_streamed_completion_ends_when_its_token_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let edge = edge_with_agent(&dir).await;
    let admin = bearer(&edge.token(TokenScope::Admin).await);
    let chat = edge.token(TokenScope::Chat).await;
    let body = r#"{"messages":[{"role":"user","content":"hello"}],"stream":true}"#;
    let mut stream = stream_until(&edge, "/v1/chat/completions", body, &chat, "data: ").await;
    revoke(&edge, &admin, &chat).await;
    assert!(
        closed(&mut stream).await,
        "the revoked token's completion stream is open"
    );
    edge.stop().await;
}
