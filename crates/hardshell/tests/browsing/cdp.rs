//! A minimal CDP client for the tests: commands by id over a WebSocket,
//! events kept in order, every wait bounded.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// How long one command or event is waited for.
const WAIT: Duration = Duration::from_secs(30);

pub struct Cdp<S> {
    socket: WebSocketStream<S>,
    next: u64,
    pub events: Vec<Value>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Cdp<S> {
    pub fn new(socket: WebSocketStream<S>) -> Self {
        Self {
            socket,
            next: 1,
            events: Vec::new(),
        }
    }

    /// Sends `method` (in `session`, flat mode, when given) and returns its
    /// whole answer: `{"result": …}` or `{"error": …}`.
    pub async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap_or_else(|e| panic!("sending {method}: {e}"));
        loop {
            let message = self.next_message(method).await;
            if message.get("id").and_then(Value::as_u64) == Some(id) {
                return message;
            }
            self.events.push(message);
        }
    }

    /// `call`, expecting a result.
    pub async fn ok(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let answer = self.call(session, method, params).await;
        match answer.get("result") {
            Some(result) => result.clone(),
            None => panic!("{method} failed: {answer}"),
        }
    }

    /// Waits for an event named `method` (one already received included).
    pub async fn event(&mut self, method: &str) -> Value {
        if let Some(at) = self.events.iter().position(|e| e["method"] == method) {
            return self.events.remove(at);
        }
        loop {
            let message = self.next_message(method).await;
            if message["method"] == method {
                return message;
            }
            self.events.push(message);
        }
    }

    async fn next_message(&mut self, waiting_for: &str) -> Value {
        loop {
            let frame = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {waiting_for} within {WAIT:?}"));
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("waiting for {waiting_for}, the socket gave {other:?}"),
            }
        }
    }

    /// The socket's next frame, whatever it is (to see how it closes).
    pub async fn next_frame(
        &mut self,
    ) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
        tokio::time::timeout(WAIT, self.socket.next())
            .await
            .unwrap_or_else(|_| panic!("no frame within {WAIT:?}"))
    }

    /// A new page (in `context`, when given), attached in flat mode, its
    /// page events on; returns its session id.
    pub async fn page(&mut self, context: Option<&str>) -> String {
        let mut params = json!({"url": "about:blank"});
        if let Some(context) = context {
            params["browserContextId"] = json!(context);
        }
        let target = self.ok(None, "Target.createTarget", params).await;
        let attached = self
            .ok(
                None,
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        let session = attached["sessionId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.ok(Some(&session), "Page.enable", json!({})).await;
        session
    }

    /// Navigates the page of `session` to `url`: `Ok(())` once it loaded,
    /// `Err(errorText)` when the navigation failed.
    pub async fn navigate(&mut self, session: &str, url: &str) -> Result<(), String> {
        self.events.retain(|e| e["method"] != "Page.loadEventFired");
        let answer = self
            .ok(Some(session), "Page.navigate", json!({"url": url}))
            .await;
        if let Some(error) = answer.get("errorText").and_then(Value::as_str) {
            return Err(error.to_owned());
        }
        self.event("Page.loadEventFired").await;
        Ok(())
    }

    /// `expression` evaluated in the page of `session`, by value.
    pub async fn eval(&mut self, session: &str, expression: &str) -> Value {
        let answer = self
            .ok(
                Some(session),
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        answer["result"]["value"].clone()
    }
}
