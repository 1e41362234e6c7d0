//! Socket Mode (api.slack.com/apis/socket-mode): the edge asks Slack for a
//! WebSocket URL (`apps.connections.open`, app-level token) and connects
//! out to it, so nothing listens for Slack.
//!
//! - Slack says `hello` on a new connection; every envelope
//!   (`{envelope_id, type, payload}`) is acknowledged at once by sending
//!   `{"envelope_id": …}` back, before it is handled (Slack retries an
//!   envelope not acknowledged within 3 s, and a turn takes longer).
//! - `disconnect` (`refresh_requested`, `warning`, `link_disabled`) ends the
//!   connection: it is closed, and only then is a new one opened. One
//!   connection at a time: Slack allows ten per app, and a client that
//!   leaks them stops receiving events.
//! - An envelope's payload is an event (`events_api`), an interaction
//!   (`interactive`: a question's button pressed) or the app's slash
//!   command (`slash_commands`); anything else is acknowledged and skipped.
//! - Failures back off, doubling to a minute; a refused token waits five.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use url::Url;

use super::api::{SlackApi, SlackError, clean_code, clean_text};
use super::events::{Callback, Inbox};
use super::interactive::CommandFields;

/// The largest frame taken; an event is a few KiB.
const MAX_FRAME_BYTES: usize = 1 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the edge pings, and how long a connection may stay silent
/// (no frame, pongs included) before it is taken for dead.
const PING_EVERY: Duration = Duration::from_secs(30);
const SILENCE_LIMIT: Duration = Duration::from_secs(90);
/// How long a close may take before the socket is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
const UNAUTHORIZED_WAIT: Duration = Duration::from_secs(300);
/// Longest envelope id echoed back; Slack's are UUIDs.
const MAX_ENVELOPE_ID: usize = 128;

/// A byte stream to Slack: TLS, or plain TCP to a loopback test server.
pub(crate) trait Link: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Link for T {}

type Socket = WebSocketStream<Box<dyn Link>>;

/// How a connection ended.
#[derive(Debug)]
enum Ended {
    /// Slack asked to reconnect; the reason, cleaned.
    Disconnect(String),
    /// The connection closed or failed; whether `hello` had come first.
    Lost { greeted: bool, cause: String },
    /// The edge is shutting down.
    Shutdown,
}

/// What the loop waits before the next connection, after `ended`.
fn wait_after(ended: &Ended, backoff: &mut Duration) -> Duration {
    match ended {
        // Socket Mode was turned off for the app: the owner's to fix.
        Ended::Disconnect(reason) if reason == "link_disabled" => UNAUTHORIZED_WAIT,
        Ended::Disconnect(_) | Ended::Lost { greeted: true, .. } => {
            *backoff = Duration::from_secs(1);
            Duration::ZERO
        }
        Ended::Lost { .. } | Ended::Shutdown => next_backoff(backoff),
    }
}

/// The wait after a failed `apps.connections.open`.
pub(crate) fn wait_after_open(error: &SlackError, backoff: &mut Duration) -> Duration {
    match error {
        SlackError::RetryAfter { secs, .. } => Duration::from_secs(*secs),
        SlackError::Unauthorized { .. } | SlackError::NoAppToken(_) => UNAUTHORIZED_WAIT,
        _ => next_backoff(backoff),
    }
}

fn next_backoff(backoff: &mut Duration) -> Duration {
    let wait = *backoff;
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    wait
}

/// Keeps one Socket Mode connection open, reconnecting as Slack asks and
/// backing off on failures, until `shutdown` completes; each connection's
/// events go to `inbox`.
pub(crate) async fn keep_connected(
    api: &SlackApi,
    tls: &Arc<rustls::ClientConfig>,
    mut inbox: Inbox,
    shutdown: &mut (impl std::future::Future<Output = ()> + Unpin),
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let opened = tokio::select! {
            () = &mut *shutdown => return,
            opened = api.open_connection() => opened,
        };
        let ended = match opened {
            Ok(url) => match connect(&url, tls).await {
                Ok(socket) => session(socket, &mut inbox, shutdown).await,
                Err(cause) => Ended::Lost {
                    greeted: false,
                    cause,
                },
            },
            Err(e) => {
                let wait = wait_after_open(&e, &mut backoff);
                tracing::error!(error = %e, "slack: opening a connection failed; trying again in {}s", wait.as_secs());
                tokio::select! {
                    () = &mut *shutdown => return,
                    () = tokio::time::sleep(wait) => {}
                }
                continue;
            }
        };
        match &ended {
            Ended::Shutdown => return,
            Ended::Disconnect(reason) => tracing::info!(%reason, "slack: Slack asked to reconnect"),
            Ended::Lost { cause, .. } => tracing::warn!(%cause, "slack: connection lost"),
        }
        let wait = wait_after(&ended, &mut backoff);
        tokio::select! {
            () = &mut *shutdown => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Connects to a Socket Mode `url` from `apps.connections.open`.
async fn connect(url: &Url, tls: &Arc<rustls::ClientConfig>) -> Result<Socket, String> {
    // The URL's query is a one-time ticket: scrubbed from any error text.
    let ticket = url.query().unwrap_or_default().to_owned();
    let scrub = |text: String| clean_text(&text, &[url.as_str(), &ticket]);
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| "connecting timed out".to_owned())?
        .map_err(|e| scrub(format!("connecting: {e}")))?;
    let link: Box<dyn Link> = if url.scheme() == "wss" {
        Box::new(tls_link(tcp, &host, tls).await.map_err(scrub)?)
    } else {
        // `open_connection` takes ws:// only to a loopback address.
        Box::new(tcp)
    };
    handshake(link, url).await.map_err(scrub)
}

async fn tls_link(
    tcp: TcpStream,
    host: &str,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| format!("{host} cannot be checked in TLS: {e}"))?;
    tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))
}

async fn handshake(link: Box<dyn Link>, url: &Url) -> Result<Socket, String> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    tokio_tungstenite::client_async_with_config(url.as_str(), link, Some(config))
        .await
        .map(|(socket, _)| socket)
        .map_err(|e| format!("websocket handshake: {e}"))
}

/// One frame from Slack, as the protocol documents it.
#[derive(Debug, Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    envelope_id: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    num_connections: Option<u64>,
    #[serde(default)]
    payload: Option<serde_json::Value>,
}

/// Reads one connection until Slack or the edge ends it; the socket is
/// closed before this returns, so the next connection is the only one.
async fn session(
    mut socket: Socket,
    inbox: &mut Inbox,
    shutdown: &mut (impl std::future::Future<Output = ()> + Unpin),
) -> Ended {
    let mut greeted = false;
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut last_heard = tokio::time::Instant::now();
    let ended = loop {
        let frame = tokio::select! {
            () = &mut *shutdown => break Ended::Shutdown,
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT {
                    break Ended::Lost { greeted, cause: "silent for too long".into() };
                }
                if let Err(e) = socket.send(Message::Ping(Default::default())).await {
                    break Ended::Lost { greeted, cause: format!("ping: {e}") };
                }
                continue;
            }
            frame = socket.next() => frame,
        };
        last_heard = tokio::time::Instant::now();
        let text = match frame {
            None => {
                break Ended::Lost {
                    greeted,
                    cause: "closed".into(),
                };
            }
            Some(Err(e)) => {
                break Ended::Lost {
                    greeted,
                    cause: format!("{e}"),
                };
            }
            Some(Ok(Message::Text(text))) => text,
            // Pings are answered by tungstenite; a close is answered and
            // then ends the stream.
            Some(Ok(_)) => continue,
        };
        let Ok(frame) = serde_json::from_str::<Frame>(text.as_str()) else {
            tracing::warn!("slack: a Socket Mode frame that is not JSON was skipped");
            continue;
        };
        match frame.kind.as_str() {
            "hello" => {
                greeted = true;
                let connections = frame.num_connections.unwrap_or(1);
                if connections > 1 {
                    // Slack spreads events over every open connection: a
                    // second process with this app token takes some of them.
                    tracing::warn!(
                        connections,
                        "slack: other Socket Mode connections use this app token; stop the other process (one per app)"
                    );
                } else {
                    tracing::info!("slack: Socket Mode connected");
                }
                continue;
            }
            "disconnect" => {
                let reason = clean_code(frame.reason.as_deref().unwrap_or_default());
                break Ended::Disconnect(reason);
            }
            _ => {}
        }
        let Some(envelope_id) = frame
            .envelope_id
            .filter(|id| !id.is_empty() && id.len() <= MAX_ENVELOPE_ID)
        else {
            continue;
        };
        let ack = serde_json::json!({ "envelope_id": envelope_id }).to_string();
        if let Err(e) = socket.send(Message::Text(ack.into())).await {
            break Ended::Lost {
                greeted,
                cause: format!("acknowledging: {e}"),
            };
        }
        if let Some(payload) = frame.payload {
            take(inbox, &frame.kind, payload);
        }
    };
    close(socket).await;
    ended
}

/// Takes an acknowledged envelope's payload by its kind: an event, an
/// interaction (a button pressed) or a slash command; any other kind is
/// skipped.
fn take(inbox: &mut Inbox, kind: &str, payload: serde_json::Value) {
    let taken = match kind {
        "events_api" => match serde_json::from_value::<Callback>(payload) {
            Ok(callback) => inbox.take(callback),
            Err(_) => {
                tracing::warn!("slack: an event that is not an event_callback was skipped");
                return;
            }
        },
        "interactive" => inbox.take_interaction(&payload),
        "slash_commands" => match serde_json::from_value::<CommandFields>(payload) {
            Ok(fields) => inbox.take_slash_command(fields),
            Err(_) => {
                tracing::warn!("slack: a slash command not as Slack sends one was skipped");
                return;
            }
        },
        _ => return,
    };
    tracing::debug!(kind, ?taken, "slack: envelope");
}

/// Closes the socket and waits for Slack's close, bounded.
async fn close(mut socket: Socket) {
    let closing = async {
        let _ = socket.close(None).await;
        while let Some(Ok(_)) = socket.next().await {}
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
}
