//! Connections to destinations: dialled at the address the guard checked,
//! in TLS on a TLS route (the certificate checked for the host the route
//! allowed), and kept for reuse by that address and name.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::Broker;

/// Where an upstream connection goes: the checked address, and the name its
/// certificate must carry on a TLS route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Upstream {
    pub(super) address: SocketAddr,
    pub(super) tls_name: Option<String>,
}

/// Connections kept per upstream.
const MAX_IDLE_PER_UPSTREAM: usize = 8;

pub(super) type IdlePool =
    std::sync::Mutex<std::collections::HashMap<Upstream, Vec<SendRequest<Full<Bytes>>>>>;

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

impl Broker {
    /// A connection to the checked address. Without Nagle's algorithm: a
    /// request or a tunnel's bytes leave as they were written, instead of a
    /// small write waiting (up to a delayed ACK, ~40 ms) behind the last.
    pub(super) async fn dial(&self, address: SocketAddr) -> Result<TcpStream, String> {
        match tokio::time::timeout(self.limits.connect_timeout, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => {
                stream
                    .set_nodelay(true)
                    .map_err(|e| format!("setting TCP_NODELAY: {e}"))?;
                Ok(stream)
            }
            Ok(Err(e)) => Err(format!("connecting: {e}")),
            Err(_) => Err("connecting timed out".to_owned()),
        }
    }

    /// A new HTTP/1.1 connection to `upstream`, in TLS on a TLS route (the
    /// certificate checked against the host the policy allowed).
    pub(super) async fn connect(
        &self,
        upstream: &Upstream,
    ) -> Result<SendRequest<Full<Bytes>>, String> {
        let stream = self.dial(upstream.address).await?;
        let Some(name) = &upstream.tls_name else {
            return handshake(stream).await;
        };
        let name = rustls::pki_types::ServerName::try_from(name.clone())
            .map_err(|e| format!("{name} cannot be checked in TLS: {e}"))?;
        let connector = tokio_rustls::TlsConnector::from(self.tls.clone());
        match tokio::time::timeout(self.limits.connect_timeout, connector.connect(name, stream))
            .await
        {
            Ok(Ok(stream)) => handshake(stream).await,
            Ok(Err(e)) => Err(format!("TLS with the destination failed: {e}")),
            Err(_) => Err("TLS with the destination timed out".to_owned()),
        }
    }

    /// A kept connection to `upstream` that is ready for a request. Keyed by
    /// the address the guard checked (and the TLS name), so reuse never
    /// skips a check.
    pub(super) fn idle_connection(&self, upstream: &Upstream) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept = idle.get_mut(upstream)?;
        while let Some(sender) = kept.pop() {
            // A connection still streaming an earlier reply is not ready; a
            // closed one never will be.
            if sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    pub(super) fn keep_connection(&self, upstream: Upstream, sender: SendRequest<Full<Bytes>>) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept = idle.entry(upstream).or_default();
        if kept.len() < MAX_IDLE_PER_UPSTREAM {
            kept.push(sender);
        }
    }
}

async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Ok((sender, connection)) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        return Err("the destination did not speak HTTP".to_owned());
    };
    tokio::spawn(connection);
    Ok(sender)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::address::AddressGuard;
    use crate::policy::EgressPolicy;

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
