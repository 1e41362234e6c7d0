//! hardshell's edge: the only part of hardshell that listens on the network.
//!
//! Invariants: the edge binds only a [`ListenAddr`], which exists for a
//! non-loopback address only with proof of access control and TLS; every request
//! passes the phases in `pipeline.rs` in their fixed order; a handler receives a
//! `Permit` for its requirement or does not run; the upstream never sees a
//! client's credentials.
#![forbid(unsafe_code)]

mod agent;
mod audit;
mod client_addr;
mod connections;
mod connector;
mod control;
mod cookies;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod listen;
mod metrics;
mod parts;
mod pipeline;
mod proxy;
mod response;
mod routes;
mod server;
mod setup;
mod state;
mod tls;
mod turns;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use zeroize::Zeroizing;

pub use control::{ControlLimits, ControlService, ControlSocket, ModuleCalls};
pub use hardshell_broker::proxy::Broker;
pub use hardshell_broker::secrets::{CHECK_EVERY as SECRET_CHECK_EVERY, LiveScanner};
pub use listen::{ListenAddr, Protection};
pub use parts::{Part, PartStatus};
pub use setup::{Built, EdgeSetup, device_authority, existing_device_authority, owner_passkeys};
pub use state::EdgeState;
pub use tls::{TlsError, check_certificate_files};
pub use turns::{ChatTurns, SharedFile, TurnError};

#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error(
        "refusing to listen on {addr}: no access method and TLS are configured, so the edge listens only on loopback"
    )]
    NotLoopback { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("tls: {0}")]
    Tls(#[from] tls::TlsError),
    /// Opening one of the state store's scopes (`tokens`, `sessions`, `pending`).
    #[error("edge setup: {source}")]
    OpenScope {
        scope: &'static str,
        #[source]
        source: hardshell_storage::StorageError,
    },
    #[error("edge setup: upstream url {url:?} is not usable")]
    UpstreamUrl { url: String },
    /// A header the edge sets or strips for itself cannot carry the name.
    #[error(
        "edge setup: [upstream] identity_header {name:?} is a header the edge sets or removes itself; name another (e.g. X-Forwarded-User)"
    )]
    UpstreamIdentityHeader { name: String },
    /// Two routes of the table collide: a bug in the edge, found at start.
    #[error("edge setup: routes: {source}")]
    Routes {
        #[source]
        source: matchit::InsertError,
    },
    #[error("edge setup: cloudflare access: {source}")]
    CloudflareAccess {
        #[source]
        source: hardshell_auth::CfAccessError,
    },
    #[error("edge setup: oidc redirect url: {source}")]
    OidcRedirectUrl {
        #[source]
        source: url::ParseError,
    },
    #[error("edge setup: [access.oidc] is set but no client secret was given")]
    OidcClientSecretMissing,
    #[error("edge setup: rate limits: {source}")]
    RateLimits {
        #[source]
        source: hardshell_ratelimit::QuotaError,
    },
    /// Opening the passkeys' scope (`auth/passkey`) in the state store.
    #[error("edge setup: passkeys: {source}")]
    PasskeyStore {
        #[source]
        source: hardshell_storage::StorageError,
    },
    /// The relying party from the public URL, or the owner's passkeys.
    #[error("edge setup: passkeys: {source}")]
    Passkeys {
        #[source]
        source: hardshell_auth::passkey::PasskeyError,
    },
    /// Opening the device CA's scope (`auth/devices`) in the state store.
    #[error("edge setup: device CA: {source}")]
    DeviceStore {
        #[source]
        source: hardshell_storage::StorageError,
    },
    #[error("edge setup: device CA: {source}")]
    DeviceAuthority {
        #[source]
        source: hardshell_auth::devices::DeviceError,
    },
    #[error("edge setup: issuing the setup link: {source}")]
    IssueSetupLink {
        #[source]
        source: hardshell_auth::passkey::PasskeyError,
    },
    #[error("edge setup: recording the setup link: {source}")]
    RecordSetupLink {
        #[source]
        source: hardshell_audit::AuditError,
    },
    #[error("edge setup: control socket {}: {source}", path.display())]
    BindControlSocket {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A bound edge listener, ready to serve.
pub struct Edge {
    listener: TcpListener,
    addr: SocketAddr,
    /// The `[metrics] listen` listener, when configured.
    metrics: Option<(TcpListener, SocketAddr)>,
    state: Arc<EdgeState>,
    routes: Arc<routes::Routes>,
}

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge")
            .field("addr", &self.addr)
            .field("tls", &self.state.tls.is_some())
            .finish_non_exhaustive()
    }
}

async fn bind(listen: ListenAddr) -> Result<(TcpListener, SocketAddr), EdgeError> {
    let requested = listen.addr();
    let bind_err = |source| EdgeError::Bind {
        addr: requested,
        source,
    };
    let listener = TcpListener::bind(requested).await.map_err(bind_err)?;
    let addr = listener.local_addr().map_err(bind_err)?;
    Ok((listener, addr))
}

impl Edge {
    /// Binds the listener, and the metrics listener when `[metrics] listen` is
    /// set. Binding happens before serving so the caller can report the real
    /// address (port 0 picks a free one) and fail early if it is taken.
    pub async fn bind(listen: ListenAddr, built: setup::Built) -> Result<Self, EdgeError> {
        let setup::Built { state, routes, .. } = built;
        let (listener, addr) = bind(listen).await?;
        let metrics = match state.metrics_listen {
            // Unauthenticated, so loopback only, whatever protects the main one.
            Some(requested) => Some(bind(ListenAddr::loopback(requested)?).await?),
            None => None,
        };
        Ok(Self {
            listener,
            addr,
            metrics,
            state,
            routes: Arc::new(routes),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `[metrics] listen` is bound, when it is configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, addr)| *addr)
    }

    /// While no owner passkey exists, a one-time link to register one (recorded
    /// in the audit log before it is returned); `None` afterwards or when passkey
    /// login is off. The token is in the fragment, so it never reaches a server log.
    pub async fn first_setup_link(&self) -> Result<Option<Zeroizing<String>>, EdgeError> {
        let Some(passkeys) = &self.state.passkeys else {
            return Ok(None);
        };
        let now = chrono::Utc::now();
        let token = passkeys
            .issue_first_setup_link(now)
            .await
            .map_err(|source| EdgeError::IssueSetupLink { source })?;
        let Some(token) = token else { return Ok(None) };
        self.state
            .audit
            .admin_action(hardshell_audit::AuditEvent::SetupLinkIssued(
                hardshell_audit::event::SetupLinkIssued {
                    expires_at: now + hardshell_auth::passkey::SETUP_LINK_TTL,
                    actor: None,
                },
            ))
            .await
            .map_err(|source| EdgeError::RecordSetupLink { source })?;
        Ok(Some(token.link(&self.state.public_url)))
    }

    /// Serves until `shutdown` completes, then stops accepting and gives in-flight
    /// requests time to finish. Audit records still buffered are flushed last.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) {
        let state = self.state.clone();
        let sweeper = tokio::spawn(setup::background(state.clone()));
        let metrics = self
            .metrics
            .map(|(listener, _)| tokio::spawn(server::metrics::serve(listener, state.clone())));
        server::run(self.listener, self.state, self.routes, shutdown).await;
        sweeper.abort();
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        state.audit.flush().await;
    }
}
