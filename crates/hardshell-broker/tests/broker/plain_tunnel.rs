//! Plain HTTP inside a `CONNECT` tunnel, as undici's proxy agent (Node's
//! fetch behind `HTTP_PROXY`, OpenClaw's managed proxy) sends every
//! `http://` request: on an inspected route each request is read and decided
//! as an absolute-form one would be.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardshell_broker::policy::Route;
use hardshell_broker::proxy::{Broker, Event};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

const BOUND: &str = "model.plain.test";
const LIMITED: &str = "get-only.plain.test";

struct Setup {
    socket: std::path::PathBuf,
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    events: Arc<Mutex<Vec<Event>>>,
    _dir: tempfile::TempDir,
}

/// Inspected routes to a plain-HTTP echo server, `API_KEY` bound to [`BOUND`].
async fn setup() -> Setup {
    let (port, seen) = echo_server().await;
    let inspected = |host: &str| Route {
        inspect: true,
        ..route(host, vec![port])
    };
    let limited = Route {
        methods: Some(vec!["GET".into()]),
        ..inspected(LIMITED)
    };
    let mut broker: Broker = loopback_broker(vec![inspected(BOUND), limited], test_tls());
    bind_token(&mut broker, "API_KEY", BOUND, None);
    let (events, _issuer) = inspecting(&mut broker);
    let (socket, dir) = serve(broker);
    Setup {
        socket,
        port,
        seen,
        events,
        _dir: dir,
    }
}

/// `request` sent in the clear inside a tunnel to `host`; the answer, whole.
async fn through(s: &Setup, host: &str, request: &[u8]) -> String {
    let (mut stream, head) = connect(&s.socket, host, s.port).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn plain_http_in_a_tunnel_is_swapped_sent_and_turned_back_like_any_request() {
    let s = setup().await;
    let port = s.port;
    let answer = through(
        &s,
        BOUND,
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: {BOUND}:{port}\r\n\
             Authorization: Bearer hs-secret:API_KEY\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        )
        .as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let received = s.seen.lock().unwrap().last().cloned().unwrap();
    assert!(
        received.starts_with("POST /v1/chat/completions HTTP/1.1"),
        "{received}"
    );
    assert!(
        received.contains(&format!("authorization: Bearer {TOKEN}")),
        "{received}"
    );
    // The echo comes back with the placeholder, never the value.
    assert!(!answer.contains(TOKEN), "{answer}");
    assert!(answer.contains("Bearer hs-secret:API_KEY"), "{answer}");
}

#[tokio::test]
async fn a_plain_request_in_a_tunnel_naming_another_host_is_refused_and_nothing_sent() {
    let s = setup().await;
    let answer = through(
        &s,
        BOUND,
        b"GET / HTTP/1.1\r\nHost: elsewhere.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(s.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_plain_request_in_a_tunnel_keeps_its_routes_method_rule() {
    let s = setup().await;
    let port = s.port;
    let answer = through(
        &s,
        LIMITED,
        format!("DELETE /x HTTP/1.1\r\nHost: {LIMITED}:{port}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(s.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_tunnel_opened_with_neither_tls_nor_http_is_closed_and_recorded() {
    let s = setup().await;
    let answer = through(&s, BOUND, b"\x00\x01garbage").await;
    assert!(answer.is_empty(), "{answer}");
    assert!(s.seen.lock().unwrap().is_empty());
    assert!(
        recorded(&s.events, |event| matches!(
            event,
            Event::Denied { reason, .. } if reason == "the shell sent neither TLS nor HTTP"
        ))
        .await
    );
}
