//! A listener served through the helper answers requests, several
//! connections at once.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;

use bytes::Bytes;
use hardshell_accept::{Listener, serve_http1};
use http_body_util::Full;
use hyper::service::service_fn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn get(addr: std::net::SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn each_accepted_connection_is_served_in_its_own_task() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let stream = listener.next("test").await;
            tokio::spawn(async move {
                let service = service_fn(|_request| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("hi"))))
                });
                let builder = hyper::server::conn::http1::Builder::new();
                serve_http1("test", &builder, stream, service, false).await;
            });
        }
    });
    // One connection left open does not hold up the next.
    let _idle = TcpStream::connect(addr).await.unwrap();
    let (first, second) = tokio::join!(get(addr), get(addr));
    for answer in [first, second] {
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.ends_with("hi"), "{answer}");
    }
}
