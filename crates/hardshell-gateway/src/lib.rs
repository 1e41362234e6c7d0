//! hardshell's edge: the only part of hardshell that listens on the network.
//!
//! Invariant: the edge binds only a [`ListenAddr`], and a `ListenAddr` can only be
//! made for a loopback address until an access method exists to put in front of
//! every route. Exposing an unauthenticated agent is not a configuration option.
#![forbid(unsafe_code)]

mod listen;
mod routes;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

pub use listen::ListenAddr;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(
        "refusing to listen on {addr}: no access method is configured, so the edge listens only on loopback"
    )]
    NotLoopback { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("serving on {addr} failed: {source}")]
    Serve {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A bound edge listener, ready to serve.
#[derive(Debug)]
pub struct Edge {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Edge {
    /// Binds the listener. Binding happens before serving so the caller can report
    /// the real address (port 0 picks a free one) and fail early if it is taken.
    pub async fn bind(listen: ListenAddr) -> Result<Self, GatewayError> {
        let requested = listen.addr();
        let listener = TcpListener::bind(requested)
            .await
            .map_err(|source| GatewayError::Bind {
                addr: requested,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| GatewayError::Bind {
            addr: requested,
            source,
        })?;
        Ok(Self { listener, addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes, then stops accepting and lets in-flight
    /// requests finish.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), GatewayError> {
        let addr = self.addr;
        axum::serve(self.listener, routes::router())
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|source| GatewayError::Serve { addr, source })
    }
}
