//! The CDP service: one client WebSocket (the edge's `/cdp`, the agent's
//! socket, a workload's) given a fresh browser of its own for as long as it
//! stays, through the policed relay, and the browser's whole shell ended
//! when it goes.

use std::future::Future;

use futures::SinkExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use crate::pool::{BrowserPool, PoolError};

/// The largest message a client may send: a CDP command is small, and the
/// biggest a real client sends (Playwright's injected script) is under
/// 1 MiB; Chromium itself would take 100 MB.
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 4 << 20;

/// Who drives a session: for its records and the taint of the agent's
/// conversations.
#[derive(Debug, Clone)]
pub enum CdpClient {
    /// A client of the edge's `/cdp`, by its principal's subject.
    Api { subject: String },
    /// The built-in agent, for one of its conversations.
    Agent { session: String },
    /// The workload (`[workload] browser`).
    Workload,
}

/// Serves CDP clients from a [`BrowserPool`].
#[derive(Debug)]
pub struct CdpService {
    pool: BrowserPool,
    /// What the agent's browsers captured, kept for the owner to see.
    screenshots: std::sync::Arc<crate::Screenshots>,
}

impl CdpService {
    pub fn new(pool: BrowserPool) -> Self {
        Self {
            pool,
            screenshots: std::sync::Arc::default(),
        }
    }

    /// The screenshots the agent's browsers took, as the relay carried them.
    pub fn screenshots(&self) -> std::sync::Arc<crate::Screenshots> {
        self.screenshots.clone()
    }

    /// Serves one client on `io` (the connection after its WebSocket
    /// handshake was answered) until it leaves, its browser ends, or `stop`
    /// completes (a credential it came with was revoked, the edge stops).
    pub async fn serve<IO>(&self, io: IO, client: CdpClient, stop: impl Future<Output = ()> + Send)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_CLIENT_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_CLIENT_MESSAGE_BYTES));
        let mut socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        let mut session = match self.pool.open().await {
            Ok(session) => session,
            Err(e) => {
                tracing::warn!(error = %e, ?client, "no browser for a CDP client");
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
        tracing::info!(session = %session.id, ?client, "browser session started");
        tokio::select! {
            () = crate::passthrough::relay(socket, browser) => {}
            () = stop => tracing::info!(session = %session.id, "browser session stopped by the edge"),
        }
        let exit = session.close().await;
        tracing::info!(?exit, "browser session ended");
    }
}

/// The `Sec-WebSocket-Accept` answer to a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    tokio_tungstenite::tungstenite::handshake::derive_accept_key(key)
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
