//! `POST /v1/chat/completions` for OpenAI clients (streamed or not), and
//! `GET /v1/models`. Each request is one turn of the agent in a fresh session
//! seeded with the conversation the client sent: the last user message is the
//! turn, the messages before it are its history. A streamed answer ends, and a
//! whole one is refused, when a credential the request was granted on is
//! revoked before it is complete.

use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use hardshell_auth::{Chat, Permit};
use hardshell_llm::Message;
use hardshell_protocol::{TurnEvent, TurnRequest};
use http::{Method, Request, StatusCode};
use serde::Deserialize;

use crate::agent::AgentClient;
use crate::response::{self, HttpResponse};
use crate::routes::chat::{new_session, no_agent, sse, start_turn, to_agent, unavailable};
use crate::routes::{Context, RoutesBuilder, read_json};

/// The one model this endpoint offers: hardshell's agent, whatever models it uses.
const MODEL: &str = "hardshell";

/// The OpenAI API, when the agent runs.
pub(super) fn register(routes: RoutesBuilder, agent: &Arc<AgentClient>) -> RoutesBuilder {
    routes
        .route(Method::POST, COMPLETIONS, to_agent(agent, completions))
        .route(Method::GET, MODELS, models)
}

/// Its paths when no agent runs: 404 once authorised, as always.
pub(super) fn register_without_agent(routes: RoutesBuilder) -> RoutesBuilder {
    routes
        .route(Method::POST, COMPLETIONS, no_agent)
        .route(Method::GET, MODELS, no_agent)
}

const COMPLETIONS: &str = "/v1/chat/completions";
const MODELS: &str = "/v1/models";

#[derive(Deserialize)]
struct CompletionRequest {
    messages: Vec<IncomingMessage>,
    #[serde(default)]
    stream: bool,
}

#[derive(Deserialize)]
struct IncomingMessage {
    role: String,
    content: IncomingContent,
}

/// OpenAI accepts a string or a list of parts; only text parts are used.
#[derive(Deserialize)]
#[serde(untagged)]
enum IncomingContent {
    Text(String),
    Parts(Vec<IncomingPart>),
}

#[derive(Deserialize)]
struct IncomingPart {
    #[serde(default)]
    text: Option<String>,
}

impl IncomingContent {
    fn text(&self) -> String {
        match self {
            IncomingContent::Text(text) => text.clone(),
            IncomingContent::Parts(parts) => {
                parts.iter().filter_map(|p| p.text.as_deref()).collect()
            }
        }
    }
}

fn error(status: StatusCode, kind: &str, message: &str) -> HttpResponse {
    response::json(
        status,
        &serde_json::json!({ "error": { "message": message, "type": kind } }),
    )
}

async fn models(_: Permit<Chat>, _: Context, _: Request<Body>) -> HttpResponse {
    response::json(
        StatusCode::OK,
        &serde_json::json!({ "object": "list", "data": [{ "id": MODEL, "object": "model", "owned_by": "hardshell" }] }),
    )
}

async fn completions(
    agent: Arc<AgentClient>,
    permit: Permit<Chat>,
    mut cx: Context,
    request: Request<Body>,
) -> HttpResponse {
    let Some(body) = read_json::<CompletionRequest>(request).await else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "expected a chat completion request",
        );
    };
    let Some(last) = body.messages.iter().rposition(|m| m.role == "user") else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "no user message",
        );
    };
    let prior: Vec<Message> = body.messages[..last]
        .iter()
        .filter_map(|m| match m.role.as_str() {
            "user" => Some(Message::user(m.content.text())),
            "assistant" => Some(Message::assistant(m.content.text())),
            // System prompts come from the agent's workspace, not the client.
            _ => None,
        })
        .collect();
    let turn = TurnRequest {
        session: new_session("api", permit.identity()),
        text: body.messages[last].content.text(),
        prior,
        request_id: cx.request_id.clone(),
    };
    let events = match start_turn(&agent, &cx.state, &permit.identity().subject, &turn).await {
        Ok(events) => events,
        Err(e) => return unavailable(&e),
    };
    let id = format!("chatcmpl-{}", cx.request_id);
    let created = chrono::Utc::now().timestamp();
    let credentials = std::mem::take(&mut cx.credentials);
    if body.stream {
        streamed(id, created, credentials.cut(events))
    } else {
        tokio::select! {
            response = whole(id, created, events) => response,
            () = credentials.ended() => response::unauthorized(),
        }
    }
}

async fn whole(
    id: String,
    created: i64,
    events: impl futures::Stream<Item = TurnEvent> + Send,
) -> HttpResponse {
    let mut text = String::new();
    let mut usage = hardshell_llm::Usage::default();
    let mut events = std::pin::pin!(events);
    while let Some(event) = events.next().await {
        match event {
            TurnEvent::TextDelta { text: delta } => text.push_str(&delta),
            TurnEvent::Done { usage: done } => usage = done,
            TurnEvent::Failed { message } => {
                return error(StatusCode::BAD_GATEWAY, "agent_error", &message);
            }
            _ => {}
        }
    }
    response::json(
        StatusCode::OK,
        &serde_json::json!({
            "id": id, "object": "chat.completion", "created": created, "model": MODEL,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
            "usage": {
                "prompt_tokens": usage.input_tokens,
                "completion_tokens": usage.output_tokens,
                "total_tokens": usage.input_tokens + usage.output_tokens,
            },
        }),
    )
}

fn streamed(
    id: String,
    created: i64,
    events: impl futures::Stream<Item = TurnEvent> + Send + 'static,
) -> HttpResponse {
    let chunk = move |delta: serde_json::Value, finish: Option<&str>| {
        let value = serde_json::json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": MODEL,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        });
        Bytes::from(format!("data: {value}\n\n"))
    };
    let first = chunk(
        serde_json::json!({ "role": "assistant", "content": "" }),
        None,
    );
    let frames = events.filter_map(move |event| {
        let frame = match event {
            TurnEvent::TextDelta { text } => {
                Some(chunk(serde_json::json!({ "content": text }), None))
            }
            TurnEvent::Done { .. } => {
                let mut last = chunk(serde_json::json!({}), Some("stop")).to_vec();
                last.extend_from_slice(b"data: [DONE]\n\n");
                Some(Bytes::from(last))
            }
            TurnEvent::Failed { message } => {
                let error =
                    serde_json::json!({ "error": { "message": message, "type": "agent_error" } });
                Some(Bytes::from(format!("data: {error}\n\ndata: [DONE]\n\n")))
            }
            _ => None,
        };
        async move { frame }
    });
    sse(futures::stream::once(async move { first }).chain(frames))
}
