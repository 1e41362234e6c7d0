//! Connection slots: idle connections cannot keep new clients out.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{TestEdge, get, parse};

/// Reads what the edge sends on `stream` until it closes it.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut bytes),
    )
    .await;
    bytes
}

#[tokio::test]
async fn one_address_cannot_hold_more_than_its_share_of_connections() {
    let edge = TestEdge::start_with("max_connections_per_address = 4\n", "").await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(edge.addr).await.unwrap());
    }
    let mut fifth = TcpStream::connect(edge.addr).await.unwrap();
    let _ = fifth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    assert!(
        until_closed(&mut fifth).await.is_empty(),
        "the fifth connection was served"
    );
    // The four it holds are served.
    held[0]
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(parse(&until_closed(&mut held[0]).await).status, 200);
    edge.stop().await;
}

#[tokio::test]
async fn idle_connections_make_room_for_a_new_client_at_the_cap() {
    // Idle connections would otherwise hold their slots for a minute.
    let edge = TestEdge::start_with(
        "max_connections = 8\nmax_connections_per_address = 8\nheader_timeout_secs = 60\n",
        "",
    )
    .await;
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(edge.addr).await.unwrap());
    }
    let reply = get(edge.addr, "/healthz", &[]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    // The longest idle connection was the one closed to make room.
    assert!(until_closed(&mut idle[0]).await.is_empty());
    edge.stop().await;
}

/// An upgraded connection leaves HTTP but not the edge's count: WebSockets
/// from one address beyond its share are refused like any other connection.
#[tokio::test]
async fn websockets_count_against_their_address_until_they_close() {
    let (url, _) = crate::support::upstream::tcp().await;
    let edge = TestEdge::start_with(
        "max_connections_per_address = 2\n",
        &format!("[upstream]\nurl = \"{url}\"\n"),
    )
    .await;
    let chat = crate::support::bearer(&edge.token(hardshell_auth::TokenScope::Chat).await);
    let mut first = crate::revocation::open(edge.addr, &chat).await;
    let _second = crate::revocation::open(edge.addr, &chat).await;
    let mut third = TcpStream::connect(edge.addr).await.unwrap();
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    assert!(
        until_closed(&mut third).await.is_empty(),
        "a third connection was served beside two WebSockets"
    );
    assert!(crate::revocation::echoes(&mut first).await);
    edge.stop().await;
}
