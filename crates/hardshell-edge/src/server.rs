//! Accepting connections: a cap on how many are open and on how many one
//! address holds, idle connections closed first near the cap
//! (`connections.rs`), TLS with a handshake deadline, HTTP/1.1 with header size
//! and read-time limits (the first request's head, like every later one, must
//! arrive within `header_timeout`), and a graceful drain on shutdown.

pub(crate) mod metrics;

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

use crate::connections::{Conn, Connections, Occupancy};
use crate::pipeline::{self, ConnInfo};
use crate::routes::Routes;
use crate::state::SharedState;
/// How long in-flight requests get to finish after shutdown begins.
const DRAIN: Duration = Duration::from_secs(10);
/// Headers per request, beyond which the request is refused.
const MAX_HEADERS: usize = 100;

pub(crate) async fn run(
    listener: TcpListener,
    state: SharedState,
    routes: Arc<Routes>,
    shutdown: impl Future<Output = ()> + Send,
) {
    // Every connection holds a slot; shutdown is announced on `stopping`, and the
    // drain is over when every slot is back.
    let (stopping, _) = tokio::sync::watch::channel(false);
    let max = state.limits.max_connections;
    let slots = Arc::new(Semaphore::new(max));
    let open = Connections::new(
        state.limits.max_connections_per_address,
        state.trusted_proxies.clone(),
    );
    // Within this many slots of the cap, idle connections make room for new ones.
    let reserve = (max / 8).max(1);
    tokio::pin!(shutdown);
    loop {
        let free = slots.available_permits();
        if free < reserve {
            open.shed_idle(reserve - free);
        }
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
        let conn = match open.admit(peer.ip()) {
            Ok(conn) => Arc::new(conn),
            Err(refused) => {
                // Closed before a byte is read: it costs this address nothing to
                // retry, and the edge nothing to refuse.
                tracing::debug!(%peer, ?refused, "connection refused");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (state, routes, watcher) = (state.clone(), routes.clone(), stopping.subscribe());
        tokio::spawn(async move {
            // Shared with a WebSocket relay that outlives this task.
            let slot = Arc::new(slot);
            let conn = conn;
            let acceptor = state
                .tls
                .as_ref()
                .map(|tls| TlsAcceptor::from(tls.current()));
            let Some(acceptor) = acceptor else {
                let info = ConnInfo { peer, device: None };
                return serve_connection(stream, info, (conn, slot), (state, routes), watcher)
                    .await;
            };
            match tokio::time::timeout(state.limits.header_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream))
                    if stream.get_ref().1.alpn_protocol() == Some(crate::tls::ACME_TLS_ALPN) =>
                {
                    // An ACME server's validation: its handshake saw the
                    // challenge certificate, and it is served nothing else.
                    tracing::debug!(%peer, "ACME validation handshake");
                }
                Ok(Ok(stream)) => {
                    // Only a chain the device verifier accepted gets this far.
                    let device = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(device_from_peer_certificates);
                    let info = ConnInfo { peer, device };
                    serve_connection(stream, info, (conn, slot), (state, routes), watcher).await
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after {DRAIN:?}; closing them");
    }
}

async fn serve_connection<S>(
    stream: S,
    info: ConnInfo,
    (conn, slot): (Arc<Conn>, Arc<tokio::sync::OwnedSemaphorePermit>),
    (state, routes): (SharedState, Arc<Routes>),
    mut stopping: tokio::sync::watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let info = Arc::new(info);
    let peer = info.peer;
    let service_state = state.clone();
    let service_routes = routes;
    let service_conn = conn.clone();
    let occupancy = Occupancy::new(conn.clone(), slot, stopping.clone());
    let service = service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        let (state, routes, info) = (service_state.clone(), service_routes.clone(), info.clone());
        let busy = service_conn.busy();
        request.extensions_mut().insert(occupancy.clone());
        async move {
            let response = pipeline::handle(state, routes, info, request).await;
            drop(busy);
            Ok::<_, std::convert::Infallible>(response)
        }
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
        () = conn.asked_to_close() => {
            // The edge is near its cap and this connection is idle: close it now,
            // or after the request it may have just begun.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
