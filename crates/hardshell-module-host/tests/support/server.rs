//! The broker's proxy as the module host's tests need it: the testkit's
//! loopback HTTP server (TCP, or a unix socket as the broker listens on)
//! taking absolute-form requests as a forward proxy does and recording each
//! request target, so a test can assert what reached it and what never did;
//! and proxies that are stuck, to time out on.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hardshell_testkit::http_server;
use http_body_util::{BodyExt, Full};

/// `METHOD TARGET` of each request the server received.
pub type Seen = Arc<Mutex<Vec<String>>>;

pub fn seen(requests: &Seen) -> Vec<String> {
    requests.lock().map(|list| list.clone()).unwrap_or_default()
}

pub async fn start_tcp() -> (std::net::SocketAddr, Seen) {
    let requests = Seen::default();
    let recorded = Arc::clone(&requests);
    let address =
        http_server::serve_tcp(move |request| answer(request, Arc::clone(&recorded))).await;
    (address, requests)
}

pub async fn start_unix(path: &Path) -> Seen {
    let requests = Seen::default();
    let recorded = Arc::clone(&requests);
    http_server::serve_unix(path, move |request| answer(request, Arc::clone(&recorded))).await;
    requests
}

/// Records the request, then answers by its path: `/big` past the 4 MiB
/// response limit, `/mib` 1 MiB, `/hang` never; anything else names the
/// method, the path and the body's length.
async fn answer(
    request: hyper::Request<hyper::body::Incoming>,
    requests: Seen,
) -> hyper::Response<Full<Bytes>> {
    let line = format!("{} {}", request.method(), request.uri());
    if let Ok(mut list) = requests.lock() {
        list.push(line);
    }
    let path = request.uri().path().to_string();
    let method = request.method().to_string();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let answer = match path.as_str() {
        "/big" => Bytes::from(vec![b'x'; 5 << 20]),
        "/mib" => Bytes::from(vec![b'x'; 1 << 20]),
        "/hang" => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Bytes::new()
        }
        _ => Bytes::from(format!("hello {method} {path} body={}", body.len())),
    };
    hyper::Response::new(Full::new(answer))
}

/// A proxy that accepts connections and never reads or answers them: each
/// is held open as long as the test's runtime runs.
pub async fn start_silent() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    address
}

/// A proxy that never accepts: a listener with the smallest backlog, filled
/// with connections of the test's own, so the kernel drops the next SYN and
/// a connect waits. Fails the test if the kernel completes every connect.
pub async fn start_not_accepting() -> (std::net::SocketAddr, NotAccepting) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().expect("an address"))
        .expect("bind loopback");
    let listener = socket.listen(0).expect("listen");
    let address = listener.local_addr().expect("address");
    let mut filling = Vec::new();
    for _ in 0..16 {
        let connecting = tokio::net::TcpStream::connect(address);
        match tokio::time::timeout(Duration::from_millis(200), connecting).await {
            Ok(Ok(stream)) => filling.push(stream),
            Ok(Err(error)) => panic!("filling the backlog: {error}"),
            Err(_waits) => {
                return (
                    address,
                    NotAccepting {
                        _listener: listener,
                        _filling: filling,
                    },
                );
            }
        }
    }
    panic!(
        "the kernel completed 16 connects to a backlog of 0; cannot make a proxy that does not accept"
    )
}

/// Keeps [`start_not_accepting`]'s listener and its filling connections.
pub struct NotAccepting {
    _listener: tokio::net::TcpListener,
    _filling: Vec<tokio::net::TcpStream>,
}
