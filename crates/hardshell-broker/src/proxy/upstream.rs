//! Connections to destinations: dialled at the address the guard checked,
//! in TLS on a TLS route (the certificate checked for the host the route
//! allowed), and kept for reuse by that address and name: a bounded number,
//! for a bounded time, since every one kept is a descriptor of the edge's.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{Body, Broker};

/// Where an upstream connection goes: the checked address, and the name its
/// certificate must carry on a TLS route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Upstream {
    pub(super) address: SocketAddr,
    pub(super) tls_name: Option<String>,
}

/// Connections kept per upstream.
const MAX_IDLE_PER_UPSTREAM: usize = 8;
/// Connections kept in all: a shell that makes requests to many addresses
/// (names resolving to each its own) does not leave the edge a descriptor
/// for each; the oldest kept goes first.
const MAX_IDLE: usize = 64;
/// How long a kept connection may wait for reuse.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) type IdlePool = Pool<Upstream, SendRequest<Body>>;

/// Idle connections by key, bounded per key and in all, each dropped (which
/// closes it) when it has waited longer than the timeout.
pub(super) struct Pool<K, C> {
    kept: Mutex<Kept<K, C>>,
    per_key: usize,
    total: usize,
    timeout: Duration,
}

struct Kept<K, C> {
    by_key: HashMap<K, Vec<(C, Instant)>>,
    /// Keys in the order their connections were kept, oldest first (a key
    /// once per connection), to find the oldest when the pool is full.
    order: VecDeque<K>,
}

impl<K, C> Default for Pool<K, C> {
    fn default() -> Self {
        Self::new(MAX_IDLE_PER_UPSTREAM, MAX_IDLE, IDLE_TIMEOUT)
    }
}

impl<K, C> Pool<K, C> {
    fn new(per_key: usize, total: usize, timeout: Duration) -> Self {
        Self {
            kept: Mutex::new(Kept {
                by_key: HashMap::new(),
                order: VecDeque::new(),
            }),
            per_key,
            total,
            timeout,
        }
    }
}

impl<K: Clone + Eq + Hash, C> Pool<K, C> {
    /// The newest kept connection for `key` that `ready` accepts; the ones
    /// it refuses (closed, or still busy) are dropped.
    pub(super) fn take(&self, key: &K, now: Instant, ready: impl Fn(&C) -> bool) -> Option<C> {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        self.expire(&mut kept, now);
        let Kept { by_key, order } = &mut *kept;
        let connections = by_key.get_mut(key)?;
        let mut found = None;
        while let Some((connection, _)) = connections.pop() {
            remove_one(order, key);
            if ready(&connection) {
                found = Some(connection);
                break;
            }
        }
        if connections.is_empty() {
            by_key.remove(key);
        }
        found
    }

    /// Keeps `connection` for `key`, unless the key has its share; the
    /// oldest kept connection of all makes room when the pool is full.
    pub(super) fn keep(&self, key: K, connection: C, now: Instant) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        self.expire(&mut kept, now);
        if kept
            .by_key
            .get(&key)
            .is_some_and(|c| c.len() >= self.per_key)
        {
            return;
        }
        if kept.order.len() >= self.total {
            let Kept { by_key, order } = &mut *kept;
            if let Some(oldest) = order.pop_front()
                && let Some(connections) = by_key.get_mut(&oldest)
            {
                // A key's connections are kept in order: its first is its
                // oldest.
                if !connections.is_empty() {
                    connections.remove(0);
                }
                if connections.is_empty() {
                    by_key.remove(&oldest);
                }
            }
        }
        if self.total == 0 {
            return;
        }
        kept.order.push_back(key.clone());
        kept.by_key.entry(key).or_default().push((connection, now));
    }

    /// How many connections are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.by_key.values().map(Vec::len).sum()
    }

    /// Drops every connection that has waited longer than the timeout.
    fn expire(&self, kept: &mut Kept<K, C>, now: Instant) {
        let timeout = self.timeout;
        let fresh = |since: &Instant| now.saturating_duration_since(*since) <= timeout;
        let Kept { by_key, order } = kept;
        let mut expired = 0;
        by_key.retain(|_, connections| {
            let before = connections.len();
            connections.retain(|(_, since)| fresh(since));
            expired += before - connections.len();
            !connections.is_empty()
        });
        if expired > 0 {
            // Rebuilt from what is left (a key's newest entries, since its
            // oldest expired first); rare, only when some expired.
            let mut counts: HashMap<K, usize> =
                by_key.iter().map(|(k, c)| (k.clone(), c.len())).collect();
            let mut kept: VecDeque<K> = VecDeque::with_capacity(order.len());
            for key in order.drain(..).rev() {
                if let Some(left) = counts.get_mut(&key)
                    && *left > 0
                {
                    *left -= 1;
                    kept.push_front(key);
                }
            }
            *order = kept;
        }
    }
}

/// Takes one `key` out of `order`, its newest (a connection taken is its
/// key's newest).
fn remove_one<K: Eq>(order: &mut VecDeque<K>, key: &K) {
    if let Some(at) = order.iter().rposition(|k| k == key) {
        order.remove(at);
    }
}

/// The TLS client configuration for TLS routes: the platform's roots (on
/// Linux, the system's certificate store), aws-lc-rs as the one provider.
pub fn platform_tls() -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_platform_verifier()?
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Why an allowed destination could not be reached. Its message is the
/// broker's 502 body to the shell: hardshell's words and the system's error,
/// never a request's content.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConnectError {
    #[error("setting TCP_NODELAY: {0}")]
    NoDelay(#[source] std::io::Error),
    #[error("connecting: {0}")]
    Connect(#[source] std::io::Error),
    #[error("connecting timed out")]
    ConnectTimedOut,
    #[error("{name} cannot be checked in TLS: {source}")]
    TlsName {
        name: String,
        #[source]
        source: rustls::pki_types::InvalidDnsNameError,
    },
    #[error("TLS with the destination failed: {0}")]
    Tls(#[source] std::io::Error),
    #[error("TLS with the destination timed out")]
    TlsTimedOut,
    #[error("the destination did not speak HTTP")]
    NotHttp,
}

impl Broker {
    /// A connection to the checked address. Without Nagle's algorithm: a
    /// request or a tunnel's bytes leave as they were written, instead of a
    /// small write waiting (up to a delayed ACK, ~40 ms) behind the last.
    pub(super) async fn dial(&self, address: SocketAddr) -> Result<TcpStream, ConnectError> {
        match tokio::time::timeout(self.limits.connect_timeout, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => {
                stream.set_nodelay(true).map_err(ConnectError::NoDelay)?;
                Ok(stream)
            }
            Ok(Err(e)) => Err(ConnectError::Connect(e)),
            Err(_) => Err(ConnectError::ConnectTimedOut),
        }
    }

    /// A new HTTP/1.1 connection to `upstream`, in TLS on a TLS route (the
    /// certificate checked against the host the policy allowed).
    pub(super) async fn connect(
        &self,
        upstream: &Upstream,
    ) -> Result<SendRequest<Body>, ConnectError> {
        let stream = self.dial(upstream.address).await?;
        let Some(name) = &upstream.tls_name else {
            return handshake(stream).await;
        };
        let name = rustls::pki_types::ServerName::try_from(name.clone()).map_err(|source| {
            ConnectError::TlsName {
                name: name.clone(),
                source,
            }
        })?;
        let connector = tokio_rustls::TlsConnector::from(self.tls.clone());
        match tokio::time::timeout(self.limits.connect_timeout, connector.connect(name, stream))
            .await
        {
            Ok(Ok(stream)) => handshake(stream).await,
            Ok(Err(e)) => Err(ConnectError::Tls(e)),
            Err(_) => Err(ConnectError::TlsTimedOut),
        }
    }

    /// A kept connection to `upstream` that is ready for a request. Keyed by
    /// the address the guard checked (and the TLS name), so reuse never
    /// skips a check.
    pub(super) fn idle_connection(&self, upstream: &Upstream) -> Option<SendRequest<Body>> {
        // A connection still streaming an earlier reply is not ready; a
        // closed one never will be.
        self.idle
            .take(upstream, Instant::now(), SendRequest::is_ready)
    }

    pub(super) fn keep_connection(&self, upstream: Upstream, sender: SendRequest<Body>) {
        self.idle.keep(upstream, sender, Instant::now());
    }
}

async fn handshake<S>(stream: S) -> Result<SendRequest<Body>, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Ok((sender, connection)) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        return Err(ConnectError::NotHttp);
    };
    // With upgrades: a WebSocket's `101` hands the connection over.
    tokio::spawn(connection.with_upgrades());
    Ok(sender)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::address::AddressGuard;
    use crate::policy::EgressPolicy;

    #[test]
    fn the_pool_keeps_a_bounded_number_for_a_bounded_time() {
        let pool: Pool<u32, u32> = Pool::new(2, 4, Duration::from_secs(60));
        let start = Instant::now();
        // Many keys (a shell's requests to many addresses): never more than
        // the total kept, the oldest going first.
        for key in 0..100 {
            pool.keep(key, key, start);
        }
        assert_eq!(pool.len(), 4);
        assert_eq!(pool.take(&0, start, |_| true), None);
        assert_eq!(pool.take(&99, start, |_| true), Some(99));
        // A key keeps its share only.
        for connection in 0..5 {
            pool.keep(7, connection, start);
        }
        let mut taken = Vec::new();
        while let Some(connection) = pool.take(&7, start, |_| true) {
            taken.push(connection);
        }
        assert_eq!(taken, [1, 0]);
        // A connection not ready is dropped, not handed out.
        pool.keep(8, 1, start);
        pool.keep(8, 2, start);
        assert_eq!(pool.take(&8, start, |c| *c == 1), Some(1));
        assert_eq!(pool.take(&8, start, |_| true), None);
        // Past the timeout, what was kept is gone.
        pool.keep(9, 9, start);
        let later = start + Duration::from_secs(61);
        assert_eq!(pool.take(&9, later, |_| true), None);
        assert_eq!(pool.len(), 0);
        // And the pool fills again from empty.
        for key in 0..3 {
            pool.keep(key, key, later);
        }
        assert_eq!(pool.len(), 3);
    }

    #[tokio::test]
    async fn a_dialled_connection_sends_small_writes_at_once() {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let broker = Broker::new(
            EgressPolicy { routes: Vec::new() },
            AddressGuard::default(),
            Arc::new(tls),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = broker.dial(listener.local_addr().unwrap()).await.unwrap();
        // Nagle's algorithm off: the ~40 ms a small write would otherwise
        // wait for a delayed ACK is the regression this guards against.
        assert!(stream.nodelay().unwrap());
    }
}
