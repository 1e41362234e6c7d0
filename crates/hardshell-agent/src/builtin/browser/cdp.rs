//! A minimal CDP client over one WebSocket: commands as JSON values with our
//! own ids, answers matched by id, and the few page events the tool waits
//! for kept in a bounded buffer. No typed CDP structs: Chromium adds events
//! and fields every release, and the browser may be hostile anyway, so each
//! answer is read for the one field the caller needs.
//!
//! Every wait is bounded. Parameters (typed text, evaluated code) are never
//! put into an error: errors name the method only.

use std::collections::VecDeque;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::BrowserSocket;
use super::text::clean_line;

/// The longest the browser may take to answer one command.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);
/// Events kept while nobody waits for them; older ones are dropped.
const MAX_BUFFERED_EVENTS: usize = 256;
/// The most of a browser's (or the edge's) error message passed on.
const MAX_ERROR_CHARS: usize = 200;
/// The only events kept: what the tool waits for.
const KEPT_EVENTS: &[&str] = &[
    "Page.frameStartedLoading",
    "Page.frameStoppedLoading",
    "Page.frameRequestedNavigation",
    "Page.loadEventFired",
];

/// Why talking to the browser failed.
#[derive(Debug, thiserror::Error)]
pub enum CdpError {
    /// The WebSocket closed or broke: the browser (or the edge) ended it.
    #[error("the browser connection ended")]
    Lost,
    /// No answer to `method` in time.
    #[error("the browser did not answer {method} in time")]
    Timeout { method: &'static str },
    /// The browser or the edge's policy answered `method` with an error.
    #[error("the browser refused {method}: {message}")]
    Refused {
        method: &'static str,
        message: String,
    },
    /// The answer to `method` lacked what it must hold.
    #[error("the browser's answer to {method} was malformed")]
    Malformed { method: &'static str },
}

/// An event the tool waits for.
#[derive(Debug, Clone)]
pub struct Event {
    pub method: String,
    pub session: Option<String>,
    pub params: Value,
}

/// One CDP connection.
pub struct Cdp {
    socket: BrowserSocket,
    next_id: u64,
    events: VecDeque<Event>,
}

impl std::fmt::Debug for Cdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cdp")
            .field("next_id", &self.next_id)
            .finish()
    }
}

impl Cdp {
    pub fn new(socket: BrowserSocket) -> Self {
        Self {
            socket,
            next_id: 1,
            events: VecDeque::new(),
        }
    }

    /// Sends `method` (to the page `session`, or browser-wide) and waits for
    /// its answer's `result`.
    pub async fn call(
        &mut self,
        method: &'static str,
        params: Value,
        session: Option<&str>,
    ) -> Result<Value, CdpError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut command = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            command["sessionId"] = Value::from(session);
        }
        self.socket
            .send(Message::text(command.to_string()))
            .await
            .map_err(|_| CdpError::Lost)?;
        let deadline = Instant::now() + ANSWER_WITHIN;
        loop {
            let message = self
                .next_message(deadline)
                .await?
                .ok_or(CdpError::Timeout { method })?;
            if message.get("id").and_then(Value::as_u64) != Some(id) {
                self.keep_event(message);
                continue;
            }
            if let Some(error) = message.get("error") {
                let text = error.get("message").and_then(Value::as_str).unwrap_or("");
                return Err(CdpError::Refused {
                    method,
                    message: clean_line(text, MAX_ERROR_CHARS),
                });
            }
            return message
                .get("result")
                .cloned()
                .ok_or(CdpError::Malformed { method });
        }
    }

    /// Forgets the events seen so far, before an action whose own events
    /// are to be waited for.
    pub fn forget_events(&mut self) {
        self.events.clear();
    }

    /// Waits until `deadline` for an event `wanted` accepts, taking it (and
    /// those before it) from the buffer. `Ok(None)`: none came in time.
    pub async fn wait_event(
        &mut self,
        deadline: Instant,
        wanted: impl Fn(&Event) -> bool,
    ) -> Result<Option<Event>, CdpError> {
        while let Some(event) = self.events.pop_front() {
            if wanted(&event) {
                return Ok(Some(event));
            }
        }
        loop {
            let Some(message) = self.next_message(deadline).await? else {
                return Ok(None);
            };
            if let Some(event) = event(message)
                && wanted(&event)
            {
                return Ok(Some(event));
            }
        }
    }

    /// Ends the connection, which ends the browser behind the edge.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.socket.close(None)).await;
    }

    /// The next JSON message, `None` at `deadline`. Anything but a JSON text
    /// message is skipped; a close or a broken socket is [`CdpError::Lost`].
    async fn next_message(&mut self, deadline: Instant) -> Result<Option<Value>, CdpError> {
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next()).await;
            let Ok(next) = next else {
                return Ok(None);
            };
            match next {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Err(CdpError::Lost),
                Some(Ok(Message::Text(text))) => {
                    if let Ok(value) = serde_json::from_str::<Value>(&text) {
                        return Ok(Some(value));
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    }

    fn keep_event(&mut self, message: Value) {
        let Some(event) = event(message) else {
            return;
        };
        if self.events.len() == MAX_BUFFERED_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }
}

/// `message` as one of the [`KEPT_EVENTS`], else `None`.
fn event(mut message: Value) -> Option<Event> {
    let method = message.get("method")?.as_str()?;
    if !KEPT_EVENTS.contains(&method) {
        return None;
    }
    Some(Event {
        method: method.to_owned(),
        session: message
            .get("sessionId")
            .and_then(Value::as_str)
            .map(str::to_owned),
        params: message.get_mut("params").map(Value::take)?,
    })
}
