//! The CDP service: one client WebSocket (the edge's `/cdp`, the agent's
//! socket, a workload's) given a fresh browser of its own for as long as it
//! stays, through the policed relay, and the browser's whole shell ended
//! when it goes. The session's start and end are recorded here; refusals
//! and navigations by the relay.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};

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
    /// How the admin page names it.
    fn word(&self) -> &'static str {
        match self {
            CdpClient::Api => "edge",
            CdpClient::Agent { .. } => "agent",
            CdpClient::Workload => "workload",
        }
    }

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
    /// The sessions open now, by id, for the admin page.
    open: Arc<Mutex<BTreeMap<String, OpenSession>>>,
}

/// A browser session open now, as the admin page lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OpenSession {
    /// The session's name (`s<number>`), as its audit records name it.
    pub id: String,
    /// Who drives it: `edge` (a `/cdp` client), `agent` or `workload`.
    pub client: &'static str,
    /// The agent's conversation it browses for, when the agent drives it.
    pub conversation: Option<String>,
    pub started_at: chrono::DateTime<chrono::Utc>,
}

/// Lists a session while it is open, and unlists it when dropped, however
/// the session ends.
struct Listed {
    open: Arc<Mutex<BTreeMap<String, OpenSession>>>,
    id: String,
}

impl Drop for Listed {
    fn drop(&mut self) {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.id);
    }
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
            open: Arc::default(),
        })
    }

    /// The sessions open now, oldest first.
    pub fn sessions(&self) -> Vec<OpenSession> {
        let open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut sessions: Vec<OpenSession> = open.values().cloned().collect();
        sessions.sort_by_key(|session| session.started_at);
        sessions
    }

    /// How many sessions may be open at once (`[browser] max_instances`).
    pub fn max_sessions(&self) -> usize {
        self.pool.max_instances()
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
        let _listed = self.list(session.id.as_str(), &client);
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

impl CdpService {
    fn list(&self, id: &str, client: &CdpClient) -> Listed {
        let conversation = match client {
            CdpClient::Agent { session } => Some(session.clone()),
            CdpClient::Api | CdpClient::Workload => None,
        };
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                id.to_owned(),
                OpenSession {
                    id: id.to_owned(),
                    client: client.word(),
                    conversation,
                    started_at: chrono::Utc::now(),
                },
            );
        Listed {
            open: self.open.clone(),
            id: id.to_owned(),
        }
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
