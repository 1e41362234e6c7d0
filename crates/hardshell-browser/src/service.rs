//! The CDP service: one client WebSocket (the edge's `/cdp`, the agent's
//! socket, a workload's) given a fresh browser of its own for as long as it
//! stays, through the policed relay, and the browser's whole shell ended
//! when it goes. The session's start and end are recorded here; refusals
//! and navigations by the relay.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use futures::SinkExt;
use hardshell_audit::AuditLog;
use hardshell_audit::event::CdpClient as RecordedClient;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

use crate::chromium::{DOWNLOAD_DIR, UPLOAD_DIR};
use crate::policy::{MethodPolicy, PolicyError, SessionRules};
use crate::pool::{BrowserPool, PoolError};
use crate::relay::{RelayLimits, relay};
use crate::screenshots::Screenshots;
use crate::trail::BrowserTrail;

/// Who drives a session: for its records and the agent's conversations.
#[derive(Debug, Clone)]
pub enum CdpClient {
    /// A client of the edge's `/cdp` (who it is, the request's own record
    /// says).
    Api,
    /// The built-in agent, for one of its conversations.
    Agent { session: String },
    /// The workload (`[workload] browser`).
    Workload,
}

impl CdpClient {
    fn recorded(&self) -> RecordedClient {
        match self {
            CdpClient::Api => RecordedClient::Edge,
            CdpClient::Agent { .. } => RecordedClient::Agent,
            CdpClient::Workload => RecordedClient::Workload,
        }
    }
}

/// Serves CDP clients from a [`BrowserPool`] through the method policy.
#[derive(Debug)]
pub struct CdpService {
    pool: BrowserPool,
    policy: MethodPolicy,
    /// The paths a session's browser sees, checked once.
    rules: SessionRules,
    limits: RelayLimits,
    audit: Arc<AuditLog>,
    /// What the agent's browsers captured, kept for the owner to see.
    screenshots: Arc<Screenshots>,
}

/// Why the service could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CdpServiceError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Rules(#[from] crate::policy::SessionRulesError),
}

impl CdpService {
    /// Sessions from `pool` under the standard method policy and `limits`,
    /// recorded in `audit`.
    pub fn new(
        pool: BrowserPool,
        limits: RelayLimits,
        audit: Arc<AuditLog>,
    ) -> Result<Self, CdpServiceError> {
        Ok(Self {
            pool,
            policy: MethodPolicy::standard()?,
            rules: SessionRules::new(Path::new(DOWNLOAD_DIR), Path::new(UPLOAD_DIR))?,
            limits,
            audit,
            screenshots: Arc::default(),
        })
    }

    /// The screenshots the agent's browsers took, as the relay carried them.
    pub fn screenshots(&self) -> Arc<Screenshots> {
        self.screenshots.clone()
    }

    /// Serves one client on `io` (the connection after its WebSocket
    /// handshake was answered) until it leaves, its browser ends, a limit
    /// ends it, or `stop` completes (a credential it came with was revoked,
    /// the edge stops).
    pub async fn serve<IO>(&self, io: IO, client: CdpClient, stop: impl Future<Output = ()> + Send)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let config = self.limits.client_config();
        let mut socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        let mut session = match self.pool.open().await {
            Ok(session) => session,
            Err(e) => {
                tracing::warn!(error = %e, client = ?client.recorded(), "no browser for a CDP client");
                let (code, reason) = match e {
                    PoolError::Busy(_) => (CloseCode::Again, "every browser is in use"),
                    _ => (CloseCode::Error, "the browser did not start"),
                };
                close(&mut socket, code, reason).await;
                return;
            }
        };
        let Some(browser) = session.take_browser() else {
            return;
        };
        let mut trail = BrowserTrail::new(self.audit.clone(), session.id.as_str());
        if let CdpClient::Agent {
            session: conversation,
        } = &client
        {
            trail = trail.with_screenshots(self.screenshots.clone(), conversation);
        }
        trail.session_started(client.recorded());
        tracing::info!(session = %session.id, client = ?client.recorded(), "browser session started");
        let end = relay(
            socket,
            browser,
            &self.policy,
            &self.rules,
            &self.limits,
            &trail,
            stop,
        )
        .await;
        trail.session_ended(&end);
        let exit = session.close().await;
        tracing::info!(session = %trail.session(), cause = ?end.cause, ?exit, "browser session ended");
    }
}

async fn close<S: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut WebSocketStream<S>,
    code: CloseCode,
    reason: &'static str,
) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
    let _ = socket.close(None).await;
}
