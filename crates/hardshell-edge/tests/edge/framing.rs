//! Malformed and hostile HTTP: ambiguous framing, oversize heads and bodies,
//! slow clients.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{TestEdge, raw};

async fn edge(edge_keys: &str) -> TestEdge {
    TestEdge::start_with(
        edge_keys,
        "[ratelimit]\nrequests_per_minute = 100000\nburst = 1000\n",
    )
    .await
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_refused() {
    let edge = edge("").await;
    let smuggle = b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n";
    let reply = raw(edge.addr, smuggle).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    let reversed = b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\nConnection: close\r\n\r\n0\r\n\r\n";
    assert_eq!(raw(edge.addr, reversed).await.status, 400);
    let chunked_only = b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n";
    assert_eq!(raw(edge.addr, chunked_only).await.status, 400);
    edge.stop().await;
}

#[tokio::test]
async fn conflicting_content_lengths_are_refused() {
    let edge = edge("").await;
    let reply = raw(
        edge.addr,
        b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab",
    )
    .await;
    assert_eq!(reply.status, 400);
    edge.stop().await;
}

#[tokio::test]
async fn an_announced_oversized_body_is_refused_unread() {
    let edge = edge("max_body_bytes = 1024").await;
    let reply = raw(
        edge.addr,
        b"POST /auth/logout HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(reply.status, 413);
    edge.stop().await;
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let edge = edge("").await;
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let reply = raw(edge.addr, huge.as_bytes()).await;
    assert!(
        reply.status == 431 || reply.status == 400 || reply.status == 0,
        "{reply:?}"
    );
    assert_ne!(reply.status, 200);
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let reply = raw(
        edge.addr,
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_ne!(reply.status, 200, "{reply:?}");
    edge.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let edge = edge("").await; // header_timeout_secs = 2 in the test config
    let mut stream = TcpStream::connect(edge.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the edge kept a stalled connection open");
    assert!(started.elapsed() < Duration::from_secs(9));
    edge.stop().await;
}

#[tokio::test]
async fn a_body_that_stalls_is_cut_off() {
    let edge = edge("request_timeout_secs = 1").await;
    let mut stream = TcpStream::connect(edge.addr).await.unwrap();
    // Announce ten bytes, send two, then go quiet.
    stream
        .write_all(b"POST /auth/logout HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nab")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the edge waited forever for the body");
    edge.stop().await;
}
