//! Hosting the agent on its unix socket: the server side of
//! [`hardshell_protocol`]'s agent routes ([`AgentRoute`]).
//! The edge is the only client; holding the socket is the capability.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use hardshell_accept::{Listener, serve_http1};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use tokio::net::UnixListener;
use tokio::sync::mpsc;

use crate::{Agent, SessionId, TurnEvent};
use hardshell_protocol::{AgentRoute, TurnLine, TurnRequest};

type Body = BoxBody<Bytes, Infallible>;

/// Largest request the agent reads: a turn request with its prior messages.
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Most messages returned by a history request.
const MAX_HISTORY: usize = 500;

/// Serves `agent` on `listener` until the task is dropped.
pub async fn serve(listener: UnixListener, agent: Arc<Agent>) {
    loop {
        let stream = listener.next("agent socket").await;
        let agent = agent.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let agent = agent.clone();
                async move { Ok::<_, Infallible>(route(agent, request).await) }
            });
            let builder = hyper::server::conn::http1::Builder::new();
            serve_http1("agent socket", &builder, stream, service, false).await;
        });
    }
}

fn full(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed());
    *response.status_mut() = status;
    if let Ok(value) = http::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, value);
    }
    response
}

fn json<T: serde::Serialize>(value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(bytes) => full(StatusCode::OK, "application/json", bytes),
        Err(_) => full(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "encoding failed\n",
        ),
    }
}

async fn route(agent: Arc<Agent>, request: Request<Incoming>) -> Response<Body> {
    let uri = request.uri().clone();
    match AgentRoute::parse(request.method(), uri.path(), uri.query()) {
        Some(AgentRoute::Health) => full(StatusCode::OK, "text/plain", "ok\n"),
        Some(AgentRoute::Turn) => turn(agent, request).await,
        Some(AgentRoute::Sessions) => match agent.sessions().list().await {
            Ok(list) => json(&list),
            Err(e) => {
                tracing::error!(error = %e, "listing sessions failed");
                full(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    "listing failed\n",
                )
            }
        },
        Some(AgentRoute::History { session, limit }) => {
            let Ok(id) = SessionId::parse(session) else {
                return full(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    "invalid session id\n",
                );
            };
            let limit = limit.unwrap_or(MAX_HISTORY).min(MAX_HISTORY);
            match agent.sessions().history(&id, limit).await {
                Ok(history) => json(&history),
                Err(e) => {
                    tracing::error!(error = %e, "reading a session failed");
                    full(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "text/plain",
                        "reading failed\n",
                    )
                }
            }
        }
        None => full(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
}

async fn turn(agent: Arc<Agent>, request: Request<Incoming>) -> Response<Body> {
    let Ok(bytes) = http_body_util::Limited::new(request.into_body(), MAX_REQUEST_BYTES)
        .collect()
        .await
    else {
        return full(
            StatusCode::PAYLOAD_TOO_LARGE,
            "text/plain",
            "request too large\n",
        );
    };
    let Ok(turn) = serde_json::from_slice::<TurnRequest>(&bytes.to_bytes()) else {
        return full(
            StatusCode::BAD_REQUEST,
            "text/plain",
            "expected a TurnRequest\n",
        );
    };
    let Ok(session) = SessionId::parse(&turn.session) else {
        return full(
            StatusCode::BAD_REQUEST,
            "text/plain",
            "invalid session id\n",
        );
    };
    let (lines, receiver) = mpsc::unbounded_channel::<Result<Frame<Bytes>, Infallible>>();
    // The turn runs to completion even if the edge goes away: what it stores is
    // durable, and the next request resumes the session.
    tokio::spawn(async move {
        if !turn.prior.is_empty() {
            seed(&agent, &session, &turn.prior).await;
        }
        let (events, mut forward) = mpsc::unbounded_channel::<TurnEvent>();
        let relay = {
            let lines = lines.clone();
            tokio::spawn(async move {
                while let Some(event) = forward.recv().await {
                    send(&lines, &TurnLine::Event { event });
                }
            })
        };
        let mut sink = events;
        let outcome = agent.turn(&session, &turn.text, &mut sink).await;
        drop(sink);
        let _ = relay.await;
        tracing::info!(request_id = %turn.request_id, session = %session, end = ?outcome.end, "turn finished");
        send(&lines, &TurnLine::Outcome { outcome });
    });
    let body = StreamBody::new(tokio_stream_from(receiver)).boxed();
    let mut response = Response::new(body);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

/// Stores an OpenAI-style client's earlier messages in a new session.
async fn seed(agent: &Agent, session: &SessionId, prior: &[hardshell_llm::Message]) {
    match agent.sessions().history(session, 1).await {
        Ok(existing) if existing.is_empty() => {
            for message in prior {
                if let Err(e) = agent.sessions().append(session, message).await {
                    tracing::warn!(error = %e, "seeding a session with prior messages failed");
                    return;
                }
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "reading a session before seeding failed"),
    }
}

fn send(lines: &mpsc::UnboundedSender<Result<Frame<Bytes>, Infallible>>, line: &TurnLine) {
    if let Ok(mut bytes) = serde_json::to_vec(line) {
        bytes.push(b'\n');
        let _ = lines.send(Ok(Frame::data(Bytes::from(bytes))));
    }
}

/// An mpsc receiver as a stream (tokio-stream's wrapper, without the dependency).
fn tokio_stream_from<T: Send + 'static>(
    mut receiver: mpsc::UnboundedReceiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}
