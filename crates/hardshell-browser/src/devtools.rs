//! Reaching a session's browser: its DevTools server, on its shell's own
//! loopback, through the unix socket of the shell's inbound forwarder.
//!
//! The browser is as hostile as the pages it loaded, so what it answers is
//! read for one thing only, the path of its browser-wide WebSocket, and that
//! path must have the one shape Chromium gives it.

use std::path::Path;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::chromium::DEVTOOLS_PORT;

/// The most of `/json/version` read (Chromium's is under 1 KiB).
const VERSION_MAX_BYTES: usize = 16 * 1024;
/// Between two tries while the browser starts.
const RETRY_EVERY: Duration = Duration::from_millis(50);
/// One try's deadline: a forwarder relays to a DevTools server that answers
/// at once or not at all.
const TRY_WITHIN: Duration = Duration::from_secs(2);

/// Why a session's browser could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum DevtoolsError {
    #[error("the browser did not answer on its DevTools port within {0:?}")]
    NotReady(Duration),
    #[error("the browser's /json/version was not what Chromium answers")]
    Version,
    #[error("the WebSocket handshake with the browser: {0}")]
    Handshake(#[source] tokio_tungstenite::tungstenite::Error),
}

/// The browser-wide CDP WebSocket of the browser behind `socket`, once its
/// DevTools server answers (tried until `ready_within`).
pub(crate) async fn connect(
    socket: &Path,
    ready_within: Duration,
    config: WebSocketConfig,
) -> Result<WebSocketStream<UnixStream>, DevtoolsError> {
    let deadline = tokio::time::Instant::now() + ready_within;
    let path = loop {
        if let Ok(Ok(Some(answer))) = tokio::time::timeout(TRY_WITHIN, version(socket)).await {
            break browser_path(&answer).ok_or(DevtoolsError::Version)?;
        }
        if tokio::time::Instant::now() + RETRY_EVERY >= deadline {
            return Err(DevtoolsError::NotReady(ready_within));
        }
        tokio::time::sleep(RETRY_EVERY).await;
    };
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| DevtoolsError::Handshake(e.into()))?;
    // Chromium refuses a Host that is not an address or `localhost` (its
    // defence against DNS rebinding); an address is what it is.
    let url = format!("ws://127.0.0.1:{DEVTOOLS_PORT}{path}");
    let (socket, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .map_err(DevtoolsError::Handshake)?;
    Ok(socket)
}

/// `GET /json/version`'s body, or `None` when nothing answered yet (the
/// forwarder closes a connection while nothing listens on the port).
async fn version(socket: &Path) -> std::io::Result<Option<Bytes>> {
    let stream = UnixStream::connect(socket).await?;
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream)).await
    else {
        return Ok(None);
    };
    let connection = tokio::spawn(connection);
    let request = hyper::Request::get("/json/version")
        .header(hyper::header::HOST, format!("127.0.0.1:{DEVTOOLS_PORT}"))
        .body(Empty::new())
        .map_err(std::io::Error::other)?;
    let answer = match sender.send_request(request).await {
        Ok(answer) if answer.status() == hyper::StatusCode::OK => answer,
        _ => {
            connection.abort();
            return Ok(None);
        }
    };
    let body = Limited::new(answer.into_body(), VERSION_MAX_BYTES)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .ok();
    connection.abort();
    Ok(body)
}

/// The path of `webSocketDebuggerUrl` in a `/json/version` answer, when it
/// is exactly `/devtools/browser/<uuid>` (lower-case hex and dashes).
fn browser_path(answer: &[u8]) -> Option<String> {
    let version: serde_json::Value = serde_json::from_slice(answer).ok()?;
    let url = url::Url::parse(version.get("webSocketDebuggerUrl")?.as_str()?).ok()?;
    let id = url.path().strip_prefix("/devtools/browser/")?;
    let uuid_shaped = id.len() == 36
        && id.char_indices().all(|(at, c)| match at {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        });
    (uuid_shaped && url.query().is_none()).then(|| url.path().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_path_is_taken_only_in_chromiums_shape() {
        let answer =
            |url: &str| format!(r#"{{"Browser":"Chrome/156","webSocketDebuggerUrl":"{url}"}}"#);
        let good = "ws://localhost/devtools/browser/251fdbcd-2618-469d-8345-49b7a371683c";
        assert_eq!(
            browser_path(answer(good).as_bytes()).as_deref(),
            Some("/devtools/browser/251fdbcd-2618-469d-8345-49b7a371683c")
        );
        for bad in [
            "ws://localhost/devtools/page/251fdbcd-2618-469d-8345-49b7a371683c",
            "ws://localhost/devtools/browser/../../json/new",
            "ws://localhost/devtools/browser/251fdbcd-2618-469d-8345-49b7a371683c?x=1",
            "ws://localhost/devtools/browser/251FDBCD-2618-469d-8345-49b7a371683c",
            "ws://localhost/devtools/browser/251fdbcd-2618-469d-8345-49b7a371683",
            "not a url",
        ] {
            assert_eq!(browser_path(answer(bad).as_bytes()), None, "{bad}");
        }
        assert_eq!(browser_path(b"{}"), None);
        assert_eq!(browser_path(b"\xff"), None);
    }
}
