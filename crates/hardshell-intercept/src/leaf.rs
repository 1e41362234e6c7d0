//! The leaf issuer the broker's TLS server asks for a certificate: one leaf
//! per SNI host, issued by the egress CA on first use and cached.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use rustls::pki_types::DnsName;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

mod cache;

use cache::LeafCache;

use crate::{EgressCa, InterceptError};

/// How long a leaf is valid (after its one-minute backdating). Short, so a
/// leaf copied out of the broker's memory is soon worthless.
pub const LEAF_VALIDITY: Duration = Duration::from_secs(24 * 60 * 60);

/// How many hosts' leaves are kept; past it, the oldest issued is dropped.
pub const LEAF_CACHE_HOSTS: usize = 1024;

/// A cached leaf is reissued once less than this is left of it, so no client
/// is handed a leaf that expires during its connection.
const RENEW_BEFORE: Duration = Duration::from_secs(60 * 60);

/// Why a ClientHello gets no certificate (and so no handshake).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LeafRefused {
    /// Without SNI there is no host to issue for, and the broker would have
    /// nothing to hold the `CONNECT` authority and `Host` against.
    #[error("the client sent no server name (SNI)")]
    NoServerName,
    /// The CA's name constraints exclude every address, and a route names
    /// hosts, not addresses.
    #[error("the server name is an IP address")]
    IpAddress,
    #[error("the server name is not a DNS name")]
    NotADnsName,
}

/// Issues and caches leaves; the broker's `rustls::ServerConfig` resolves its
/// certificate through this. Issuing runs in the handshake's task, holding a
/// lock for the ~50 µs of ECDSA it takes (measured, release build): short
/// enough not to stall the runtime, and two handshakes for one host never
/// issue twice. A burst of first handshakes to many new hosts queues on the
/// lock; at 50 µs each, 1024 hosts take about 50 ms in all.
pub struct LeafIssuer {
    state: Mutex<State>,
}

struct State {
    ca: Arc<EgressCa>,
    cache: LeafCache,
}

impl LeafIssuer {
    pub fn new(ca: Arc<EgressCa>) -> Self {
        Self::with_capacity(ca, LEAF_CACHE_HOSTS)
    }

    /// An issuer keeping at most `hosts` leaves (at least one).
    pub fn with_capacity(ca: Arc<EgressCa>, hosts: usize) -> Self {
        Self {
            state: Mutex::new(State {
                ca,
                cache: LeafCache::new(hosts),
            }),
        }
    }

    /// Issues from `ca` from now on (after a rotation), dropping every leaf
    /// the previous CA issued.
    pub fn replace_ca(&self, ca: Arc<EgressCa>) {
        let mut state = self.lock();
        state.ca = ca;
        state.cache.clear();
    }

    pub fn ca(&self) -> Arc<EgressCa> {
        self.lock().ca.clone()
    }

    /// How many hosts have a cached leaf.
    pub fn cached_hosts(&self) -> usize {
        self.lock().cache.len()
    }

    /// The leaf for the ClientHello's server name: the cached one while it has
    /// more than an hour left, else a new one.
    pub fn leaf_for(&self, server_name: Option<&str>) -> Result<Arc<CertifiedKey>, InterceptError> {
        self.leaf_at(server_name, SystemTime::now())
    }

    pub(crate) fn leaf_at(
        &self,
        server_name: Option<&str>,
        now: SystemTime,
    ) -> Result<Arc<CertifiedKey>, InterceptError> {
        let host = leaf_host(server_name)?;
        let mut state = self.lock();
        if let Some(leaf) = state.cache.get(&host, now) {
            return Ok(leaf);
        }
        let (leaf, not_after) = state.ca.issue_leaf(&host, now, LEAF_VALIDITY)?;
        let renew_at = not_after.checked_sub(RENEW_BEFORE).unwrap_or(now);
        state.cache.insert(host, leaf.clone(), renew_at);
        Ok(leaf)
    }

    /// A poisoned lock only means another handshake panicked mid-issue; the
    /// cache it left is still a valid cache.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ResolvesServerCert for LeafIssuer {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match self.leaf_for(client_hello.server_name()) {
            Ok(leaf) => Some(leaf),
            Err(error) => {
                tracing::info!(%error, "intercepted handshake refused");
                None
            }
        }
    }
}

impl fmt::Debug for LeafIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("LeafIssuer")
            .field("ca", &state.ca)
            .field("cached_hosts", &state.cache.len())
            .finish()
    }
}

/// The host a leaf may be issued for: a DNS name, lower-cased (SNI is case
/// insensitive, and one host must have one cache entry).
fn leaf_host(server_name: Option<&str>) -> Result<String, LeafRefused> {
    let name = server_name.ok_or(LeafRefused::NoServerName)?;
    if name.parse::<IpAddr>().is_ok() {
        return Err(LeafRefused::IpAddress);
    }
    if name.contains('*') || name.ends_with('.') || DnsName::try_from(name).is_err() {
        return Err(LeafRefused::NotADnsName);
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests;
