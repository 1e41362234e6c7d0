//! The edge over a real socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hardshell_gateway::{Edge, ListenAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn request(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn healthz_answers_and_shutdown_stops_the_listener() {
    let edge = Edge::bind(ListenAddr::loopback("127.0.0.1:0".parse().unwrap()).unwrap())
        .await
        .unwrap();
    let addr = edge.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(edge.serve(async {
        let _ = stopped.await;
    }));

    let response = request(addr, "/healthz").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("{\"status\":\"ok\"}"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff")
    );

    let response = request(addr, "/nope").await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still listening after shutdown"
    );
}

#[tokio::test]
async fn a_taken_port_is_a_bind_error() {
    let first = Edge::bind(ListenAddr::loopback("127.0.0.1:0".parse().unwrap()).unwrap())
        .await
        .unwrap();
    let err = Edge::bind(ListenAddr::loopback(first.local_addr()).unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot listen on"), "{err}");
}
