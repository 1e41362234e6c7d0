//! How the tool reaches a browser: a connector that opens a CDP WebSocket
//! to a fresh browser for a conversation (over the edge's unix socket in
//! `hardshell agent`; straight to Chromium's DevTools in tests).

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::BrowserError;

/// The largest CDP message taken (a full-page screenshot is a few MiB).
pub const MAX_CDP_MESSAGE_BYTES: usize = 32 << 20;

/// A byte stream to the browser (a unix socket to the edge; in tests, TCP).
pub trait BrowserStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> BrowserStream for T {}

/// A CDP WebSocket to a browser-wide target.
pub type BrowserSocket = WebSocketStream<Box<dyn BrowserStream>>;

/// How the tool reaches a fresh browser for a conversation.
pub trait BrowserConnector: Send + Sync + 'static {
    /// A new browser for `session`, ended when the socket closes.
    fn connect<'a>(
        &'a self,
        session: &'a str,
    ) -> BoxFuture<'a, Result<BrowserSocket, BrowserError>>;
}

/// The WebSocket handshake at `url` over `stream`, taking messages up to
/// [`MAX_CDP_MESSAGE_BYTES`].
pub async fn handshake(
    stream: Box<dyn BrowserStream>,
    url: &str,
) -> Result<BrowserSocket, BrowserError> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_CDP_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_CDP_MESSAGE_BYTES));
    let (socket, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .map_err(|e| BrowserError::Connect {
            reason: e.to_string(),
        })?;
    Ok(socket)
}
