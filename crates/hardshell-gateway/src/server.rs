//! Accepting connections: a cap on how many are open, TLS with a handshake
//! deadline, HTTP/1.1 with header size and read-time limits, and a graceful drain
//! on shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hardshell_auth::devices::device_from_peer_certificates;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::pipeline::{self, ConnInfo};
use crate::state::SharedState;

/// Connections open at once; further clients wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 4096;
/// How long in-flight requests get to finish after shutdown begins.
const DRAIN: Duration = Duration::from_secs(10);
/// Headers per request, beyond which the request is refused.
const MAX_HEADERS: usize = 100;

pub(crate) async fn run(
    listener: TcpListener,
    state: SharedState,
    shutdown: impl Future<Output = ()> + Send,
) {
    // Every connection holds a slot; shutdown is announced on `stopping`, and the
    // drain is over when every slot is back.
    let (stopping, _) = tokio::sync::watch::channel(false);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot { Ok(slot) => slot, Err(_) => break },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (state, watcher) = (state.clone(), stopping.subscribe());
        tokio::spawn(async move {
            let _slot = slot;
            let acceptor = state
                .tls
                .as_ref()
                .map(|tls| TlsAcceptor::from(tls.current()));
            let Some(acceptor) = acceptor else {
                let conn = ConnInfo { peer, device: None };
                return serve_connection(stream, conn, state, watcher).await;
            };
            match tokio::time::timeout(state.limits.header_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    // Only a chain the device verifier accepted gets this far.
                    let device = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(device_from_peer_certificates);
                    serve_connection(stream, ConnInfo { peer, device }, state, watcher).await
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after {DRAIN:?}; closing them");
    }
}

async fn serve_connection<S>(
    stream: S,
    conn: ConnInfo,
    state: SharedState,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = Arc::new(conn);
    let peer = conn.peer;
    let service_state = state.clone();
    let service = service_fn(move |request| {
        let (state, conn) = (service_state.clone(), conn.clone());
        async move { Ok::<_, std::convert::Infallible>(pipeline::handle(state, conn, request).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Some(state.limits.header_timeout))
        .max_buf_size(state.limits.max_header_bytes.max(8192))
        .max_headers(MAX_HEADERS)
        .keep_alive(true);
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = async { stopping.wait_for(|stop| *stop).await.map(|_| ()) } => {
            // Finish the request in flight, accept no further one on this connection.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
