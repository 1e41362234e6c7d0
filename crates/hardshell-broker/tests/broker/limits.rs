//! What one shell can hold of the broker: connections, bytes, buffered
//! request bytes, and time for a head or a body.

use std::time::Duration;

use hardshell_broker::proxy::{Event, Limits};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use crate::support::*;

#[tokio::test]
async fn connections_are_capped_and_a_silent_destination_times_out() {
    let limits = Limits {
        max_connections: 2,
        response_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let h = harness_with(true, limits).await;
    let _first = UnixStream::connect(&h.socket).await.unwrap();
    let _second = UnixStream::connect(&h.socket).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = h.get("api.github.test", h.port, "").await;
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    drop(_second);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A tunnel is a connection of its own: with the one taking the last
    // place, it is refused, and nothing was recorded as allowed (or dialled).
    let tunnel = h
        .send(&format!(
            "CONNECT api.github.test:{0} HTTP/1.1\r\nHost: x\r\n\r\n",
            h.port
        ))
        .await;
    assert!(tunnel.starts_with("HTTP/1.1 429"), "{tunnel}");
    assert!(
        !h.events()
            .iter()
            .any(|e| matches!(e, Event::Allowed { tunnel: true, .. })),
        "{:?}",
        h.events()
    );
    drop(_first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let response = h.get("slow.github.test", h.silent, "").await;
    assert!(response.starts_with("HTTP/1.1 504"), "{response}");
}

#[tokio::test]
async fn a_shell_that_spends_its_byte_budget_is_stopped_alone() {
    let limits = Limits {
        max_bytes: 5000,
        ..Limits::default()
    };
    let h = harness_with(true, limits).await;
    let body = "x".repeat(1500);
    let post = format!(
        "POST http://other.test:{}/up HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        h.port,
        body.len()
    );
    // A host no secret is bound to: the answer passes unread, its length
    // as sent. 1500 out and the echo (~1600) back: the first fits, the second
    // crosses the budget mid-answer, the third is refused before it leaves.
    let first = h.send(&post).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(first.ends_with(&body), "the first answer was cut");
    let second = h.send(&post).await;
    assert!(
        !second.ends_with(&body),
        "the answer that crossed the budget was not cut: {} bytes",
        second.len()
    );
    let third = h.send(&post).await;
    assert!(third.starts_with("HTTP/1.1 429"), "{third}");
    assert!(third.contains("moved all the bytes it may"), "{third}");
    assert_eq!(h.seen.lock().unwrap().len(), 2, "the refused request left");
    // Tunnels count too.
    let response = h
        .send(&format!(
            "CONNECT api.github.test:{0} HTTP/1.1\r\nHost: x\r\n\r\n",
            h.port
        ))
        .await;
    assert!(response.starts_with("HTTP/1.1 429"), "{response}");
}

#[tokio::test]
async fn a_shell_cannot_hold_more_request_bytes_in_the_edge_than_its_allowance() {
    let limits = Limits {
        max_buffered_bytes: 8 * 1024,
        response_timeout: Duration::from_millis(1500),
        ..Limits::default()
    };
    let h = harness_with(true, limits).await;
    let body = "x".repeat(6 * 1024);
    let post = |host: &str, port: u16| {
        format!(
            "POST http://{host}:{port}/up HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    // The first waits on a destination that never answers, holding 6 KiB.
    let socket = h.socket.clone();
    let slow = post("slow.github.test", h.silent);
    let waiting = tokio::spawn(async move { send_to(&socket, &slow).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = h.send(&post("api.github.test", h.port)).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.contains("too many request bytes in flight"),
        "{refused}"
    );
    assert!(h.seen.lock().unwrap().is_empty());
    // Once it is answered (here: timed out), the allowance is back.
    let first = waiting.await.unwrap();
    assert!(first.starts_with("HTTP/1.1 504"), "{first}");
    let after = h.send(&post("api.github.test", h.port)).await;
    assert!(after.starts_with("HTTP/1.1 200"), "{after}");
}

#[tokio::test]
async fn a_request_head_that_never_ends_is_cut_and_its_slot_comes_back() {
    let limits = Limits {
        max_connections: 1,
        header_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let h = harness_with(true, limits).await;
    let mut loris = UnixStream::connect(&h.socket).await.unwrap();
    loris
        .write_all(
            format!(
                "GET http://api.github.test:{}/ HTTP/1.1\r\nHost: x\r\n",
                h.port
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = until_closed(&mut loris).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    drop(loris);
    // The one slot is free again: a real request is served.
    let mut served = String::new();
    for _ in 0..200 {
        served = h.get("api.github.test", h.port, "").await;
        if !served.starts_with("HTTP/1.1 429") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
}

#[tokio::test]
async fn a_request_body_that_stalls_is_refused_and_nothing_is_sent() {
    let limits = Limits {
        body_idle: Duration::from_millis(200),
        ..Limits::default()
    };
    let h = harness_with(true, limits).await;
    let mut stream = UnixStream::connect(&h.socket).await.unwrap();
    stream
        .write_all(
            format!(
                "POST http://api.github.test:{}/up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npart of it",
                h.port
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        h.seen.lock().unwrap().is_empty(),
        "the stalled request was sent"
    );
}
