//! A real HTTP/1.1 server on loopback, over TCP or over a unix socket (as
//! the broker and the upstreams listen), for the tests that need something
//! to answer: each connection is served by hyper with the test's own
//! handler, so a test writes only what its server says, not the accept loop.
//!
//! The server runs as tasks of the test's runtime and stops with it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};

/// Serves `handler`, a test's own function of each request, on a free
/// port of 127.0.0.1, and gives its address.
pub async fn serve_tcp<H, A>(handler: H) -> SocketAddr
where
    H: Fn(Request<Incoming>) -> A + Clone + Send + Sync + 'static,
    A: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let address = listener.local_addr().expect("the bound address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_connection(stream, handler.clone()));
        }
    });
    address
}

/// Serves `handler` on a unix socket made at `path`.
pub async fn serve_unix<H, A>(path: &Path, handler: H)
where
    H: Fn(Request<Incoming>) -> A + Clone + Send + Sync + 'static,
    A: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = UnixListener::bind(path)
        .unwrap_or_else(|error| panic!("bind the unix socket {}: {error}", path.display()));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_connection(stream, handler.clone()));
        }
    });
}

/// One connection, request after request, until the client closes it. An
/// upgrade (WebSocket) is let through to the handler's `hyper::upgrade::on`.
async fn serve_connection<S, H, A>(stream: S, handler: H)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    H: Fn(Request<Incoming>) -> A + Send + Sync + 'static,
    A: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let service = service_fn(move |request| {
        let answer = handler(request);
        async move { Ok::<_, Infallible>(answer.await) }
    });
    // A client that goes away mid-request is the test's business, not an
    // error of the server's.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn path_of(request: Request<Incoming>) -> Response<Full<Bytes>> {
        Response::new(Full::new(Bytes::from(format!(
            "you asked for {}",
            request.uri().path()
        ))))
    }

    /// Sends one request over `stream` and gives the whole response.
    async fn exchange(mut stream: impl AsyncRead + AsyncWrite + Unpin) -> String {
        let request = "GET /a/b HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n";
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        response
    }

    #[tokio::test]
    async fn the_handler_answers_over_tcp_and_over_a_unix_socket() {
        let address = serve_tcp(path_of).await;
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let response = exchange(stream).await;
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with("you asked for /a/b"), "{response}");

        let directory = tempfile::tempdir().expect("tempdir");
        let socket = directory.path().join("server.sock");
        serve_unix(&socket, path_of).await;
        let stream = tokio::net::UnixStream::connect(&socket)
            .await
            .expect("connect");
        let response = exchange(stream).await;
        assert!(response.ends_with("you asked for /a/b"), "{response}");
    }
}
