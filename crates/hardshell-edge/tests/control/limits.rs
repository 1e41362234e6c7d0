//! What a hostile workload can hold of the edge through the control socket:
//! connections, time and memory, each bounded (issue 11 #4).

use std::time::Duration;

use hardshell_edge::ControlLimits;
use hardshell_testkit::TestStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// A control socket with `limits`, its storage scope in a temporary store.
async fn serve(limits: ControlLimits) -> (std::path::PathBuf, TestStore) {
    let store = TestStore::new().await;
    (super::serve(&store, Some(limits)), store)
}

/// Long enough that nothing in a test is cut by a limit it does not test.
fn patient() -> ControlLimits {
    ControlLimits {
        max_connections: 4,
        header_timeout: Duration::from_secs(600),
        body_idle: Duration::from_secs(600),
        max_buffered_bytes: 1 << 20,
    }
}

/// Everything the edge sends until it closes the connection. Bounded only
/// so that a broken build fails instead of hanging.
async fn until_closed(stream: &mut UnixStream) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(120), stream.read_to_end(&mut answer))
        .await
        .expect("the edge never closed the connection");
    // Closed with what was sent unread, the connection is reset: closed too.
    if let Err(e) = read {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }
    String::from_utf8_lossy(&answer).into_owned()
}

const LIST: &[u8] = b"GET /storage/v1/list HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn a_request_head_that_never_ends_is_cut() {
    let (socket, _dir) = serve(ControlLimits {
        header_timeout: Duration::from_millis(200),
        ..patient()
    })
    .await;
    let mut loris = UnixStream::connect(&socket).await.unwrap();
    loris
        .write_all(b"GET /storage/v1/list HTTP/1.1\r\nHost: edge\r\n")
        .await
        .unwrap();
    // It is closed (with or without a 408) rather than held open.
    let answer = until_closed(&mut loris).await;
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test]
async fn a_body_that_stalls_is_cut() {
    let (socket, _dir) = serve(ControlLimits {
        body_idle: Duration::from_millis(200),
        ..patient()
    })
    .await;
    let mut stream = UnixStream::connect(&socket).await.unwrap();
    stream
        .write_all(b"PUT /storage/v1/object/notes HTTP/1.1\r\nHost: edge\r\nx-hardshell-write: overwrite\r\nContent-Length: 100000\r\n\r\npart of it")
        .await
        .unwrap();
    let answer = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_and_those_under_it_served() {
    let (socket, _dir) = serve(patient()).await;
    // Four held open, saying nothing...
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(UnixStream::connect(&socket).await.unwrap());
    }
    // ...and a fifth is closed without an answer.
    let mut fifth = UnixStream::connect(&socket).await.unwrap();
    let _ = fifth.write_all(LIST).await;
    assert_eq!(until_closed(&mut fifth).await, "");
    // One of the four is served; once it is gone, a new one is too.
    let mut first = held.remove(0);
    first.write_all(LIST).await.unwrap();
    assert!(until_closed(&mut first).await.starts_with("HTTP/1.1 200"));
    drop(first);
    let answer = loop {
        let mut next = UnixStream::connect(&socket).await.unwrap();
        let _ = next.write_all(LIST).await;
        let answer = until_closed(&mut next).await;
        // The slot comes back when the server side has noticed the close.
        if !answer.is_empty() {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn bodies_held_at_once_are_bounded_across_connections() {
    let (socket, _dir) = serve(ControlLimits {
        max_buffered_bytes: 64 * 1024,
        ..patient()
    })
    .await;
    // One connection holds most of the allowance with a body it never ends.
    let mut holder = UnixStream::connect(&socket).await.unwrap();
    holder
        .write_all(b"PUT /storage/v1/object/big HTTP/1.1\r\nHost: edge\r\nx-hardshell-write: overwrite\r\nContent-Length: 1000000\r\n\r\n")
        .await
        .unwrap();
    holder.write_all(&[b'x'; 48 * 1024]).await.unwrap();
    // Another one's body does not fit beside it: refused, not buffered.
    // (Tried again until the edge has read the first body's bytes.)
    let body = [b'y'; 32 * 1024];
    let mut refused = None;
    for _ in 0..200 {
        let mut other = UnixStream::connect(&socket).await.unwrap();
        let head = format!(
            "PUT /storage/v1/object/small HTTP/1.1\r\nHost: edge\r\nx-hardshell-write: overwrite\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        other.write_all(head.as_bytes()).await.unwrap();
        let _ = other.write_all(&body).await;
        let answer = until_closed(&mut other).await;
        if answer.starts_with("HTTP/1.1 413") {
            refused = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused.is_some(), "a body over the allowance was buffered");
    // Once the holder is gone, the same body fits.
    drop(holder);
    let mut stored = false;
    for _ in 0..200 {
        let mut other = UnixStream::connect(&socket).await.unwrap();
        let head = format!(
            "PUT /storage/v1/object/small HTTP/1.1\r\nHost: edge\r\nx-hardshell-write: overwrite\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        other.write_all(head.as_bytes()).await.unwrap();
        let _ = other.write_all(&body).await;
        if !until_closed(&mut other).await.starts_with("HTTP/1.1 413") {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stored, "the allowance did not come back");
}
