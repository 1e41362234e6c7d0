//! A scripted HTTP server on loopback (TCP or a unix socket) that answers every
//! request with bytes given piece by piece, with pauses and aborts, and records what
//! it was sent; plus helpers to build clients and drain replies.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use hardshell_llm::{
    ApiKey, ChatEvent, ChatRequest, LlmError, Message, ProviderClient, ProviderConfig,
    ProviderKind, Transport,
};
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// One piece of a scripted response body.
#[derive(Debug, Clone)]
pub enum Piece {
    Bytes(Vec<u8>),
    Pause(Duration),
    /// Drop the connection mid-body (the chunked encoding is never finished).
    Abort,
}

pub fn text(text: impl Into<String>) -> Piece {
    Piece::Bytes(text.into().into_bytes())
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Script {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<Piece>,
}

impl Script {
    pub fn event_stream(body: Vec<Piece>) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type", "text/event-stream".into())],
            body,
        }
    }

    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: vec![text(body.to_string())],
        }
    }
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

pub struct TestServer {
    /// The base URL to configure a client with.
    pub base_url: String,
    pub socket: Option<PathBuf>,
    seen: Arc<Mutex<Vec<Seen>>>,
    count: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Scripter = Arc<dyn Fn(usize) -> Script + Send + Sync>;

impl TestServer {
    /// Answers every request with `script`.
    pub async fn tcp(script: Script) -> Self {
        Self::tcp_with(move |_| script.clone()).await
    }

    /// Answers request number `n` (from 0) with `script(n)`.
    pub async fn tcp_with(script: impl Fn(usize) -> Script + Send + Sync + 'static) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (app, seen, count) = app(Arc::new(script));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base_url: format!("http://{address}"),
            socket: None,
            seen,
            count,
            task,
            _dir: None,
        }
    }

    /// The same on a unix socket; the base URL's host is a name the socket ignores.
    pub async fn unix(script: Script) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let script: Scripter = Arc::new(move |_| script.clone());
        let (app, seen, count) = app(script);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base_url: "http://edge/llm/anthropic".into(),
            socket: Some(path),
            seen,
            count,
            task,
            _dir: Some(dir),
        }
    }

    pub fn requests(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn app(script: Scripter) -> (axum::Router, Arc<Mutex<Vec<Seen>>>, Arc<AtomicUsize>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let (seen_in, count_in) = (Arc::clone(&seen), Arc::clone(&count));
    let handler = move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
        let script = Arc::clone(&script);
        let (seen, count) = (Arc::clone(&seen_in), Arc::clone(&count_in));
        async move {
            let n = count.fetch_add(1, Ordering::SeqCst);
            seen.lock().unwrap().push(Seen {
                path: uri.path().to_owned(),
                headers,
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            });
            respond(script(n))
        }
    };
    (axum::Router::new().fallback(handler), seen, count)
}

fn respond(script: Script) -> Response {
    let pieces = futures::stream::iter(script.body).then(|piece| async move {
        match piece {
            Piece::Bytes(bytes) => Some(Ok(Bytes::from(bytes))),
            Piece::Pause(pause) => {
                tokio::time::sleep(pause).await;
                None
            }
            Piece::Abort => Some(Err(std::io::Error::other("scripted abort"))),
        }
    });
    let body = Body::from_stream(pieces.filter_map(futures::future::ready));
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(script.status).unwrap();
    for (name, value) in script.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// An Anthropic event as the API frames it.
pub fn event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// A complete, documented Anthropic text reply, one event per piece.
pub fn anthropic_text_reply(text: &str) -> Vec<Piece> {
    [
        event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_t", "type": "message", "role": "assistant",
                "content": [], "model": "claude-test", "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        event("ping", json!({"type": "ping"})),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        ),
        event("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        event(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"output_tokens": 5}}),
        ),
        event("message_stop", json!({"type": "message_stop"})),
    ]
    .into_iter()
    .map(super::support::text)
    .collect()
}

pub fn request(prompt: &str) -> ChatRequest {
    ChatRequest {
        system: Some("You are terse.".into()),
        messages: vec![Message::user(prompt)],
        tools: vec![],
        max_tokens: 24,
        temperature: Some(0.0),
    }
}

pub fn key(text: &str) -> ApiKey {
    ApiKey::new(Zeroizing::new(text.to_owned())).unwrap()
}

pub fn client(kind: ProviderKind, server: &TestServer, api_key: Option<ApiKey>) -> ProviderClient {
    let mut config = ProviderConfig::new(kind, server.base_url.clone());
    config.api_key = api_key;
    if let Some(socket) = &server.socket {
        config.transport = Transport::UnixSocket(socket.clone());
    }
    ProviderClient::new(config).unwrap()
}

/// Every event of a reply, and the error that ended it, if one did.
pub async fn drain(
    mut stream: impl futures::Stream<Item = Result<ChatEvent, LlmError>> + Unpin,
) -> (Vec<ChatEvent>, Option<LlmError>) {
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => events.push(event),
            Err(e) => {
                assert!(
                    stream.next().await.is_none(),
                    "the stream goes on after an error"
                );
                return (events, Some(e));
            }
        }
    }
    (events, None)
}

pub fn text_of(events: &[ChatEvent]) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            ChatEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the suite with scripts/test, which starts the servers it needs"
        )
    })
}

/// The llama.cpp server that scripts/services.sh starts, with its key.
pub fn local_model(api_key: Option<ApiKey>) -> ProviderClient {
    let mut config =
        ProviderConfig::new(ProviderKind::OpenAi, required_env("HARDSHELL_TEST_LLM_URL"));
    config.api_key = api_key;
    ProviderClient::new(config).unwrap()
}

pub fn local_model_key() -> ApiKey {
    key(&required_env("HARDSHELL_TEST_LLM_KEY"))
}
