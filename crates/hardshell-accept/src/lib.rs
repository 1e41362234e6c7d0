//! The accept loop every HTTP/1 listener of hardshell's but the edge's own
//! (which adds TLS, per-address limits and graceful shutdown) runs: the
//! control socket, the metrics listener, the egress broker's sockets and the
//! agent's socket.
//!
//! Invariants: a failed accept (most often: no file descriptor left) never
//! ends a listener and never spins it: it is logged and retried after a
//! pause. Each connection is served in its own task, so a slow one holds up
//! no other; how it ended is logged at debug with the listener's name only,
//! never anything the peer sent. What a listener admits (how many
//! connections, what it answers past that) stays its own decision, made in
//! its loop between [`Listener::next`] and [`serve_http1`].
#![forbid(unsafe_code)]

use std::future::Future;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::HttpService;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// How long a listener pauses after a failed accept before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A listening socket whose connections are served over HTTP/1.
pub trait Listener: Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Accepts one connection.
    fn accept_one(&self) -> impl Future<Output = std::io::Result<Self::Stream>> + Send;

    /// The next connection, however many accepts fail first. `name` says
    /// which listener in the log.
    fn next(&self, name: &'static str) -> impl Future<Output = Self::Stream> + Send {
        async move {
            loop {
                match self.accept_one().await {
                    Ok(stream) => return stream,
                    Err(e) => {
                        tracing::warn!(listener = name, error = %e, "accept failed");
                        tokio::time::sleep(ACCEPT_RETRY).await;
                    }
                }
            }
        }
    }
}

impl Listener for tokio::net::UnixListener {
    type Stream = tokio::net::UnixStream;

    async fn accept_one(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;

    async fn accept_one(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

/// Serves `stream` with `service` under `builder`'s limits until the peer
/// is done. With `upgrades`, a request may take the connection over
/// (`CONNECT` tunnels).
pub async fn serve_http1<IO, S, B>(
    name: &'static str,
    builder: &http1::Builder,
    stream: IO,
    service: S,
    upgrades: bool,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let ended = if upgrades {
        connection.with_upgrades().await
    } else {
        connection.await
    };
    if let Err(e) = ended {
        tracing::debug!(listener = name, error = %e, "connection ended with an error");
    }
}
