//! Talking to the built-in agent from a browser or a program: sessions, history,
//! and a turn streamed back as server-sent events. The bodies and events are
//! `hardshell_protocol::chat`'s, which `hardshell chat` reads:
//!
//! ```text
//! GET  /api/sessions                 your sessions, newest first (SessionList)
//! POST /api/sessions                 a new session's id (NewSession)
//! GET  /api/sessions/{id}            its messages, and the commands waiting for an answer
//! POST /api/sessions/{id}/messages   {"text"} -> text/event-stream:
//!      accepted {"seq"} · delta {"text"} · tool {"name","state","ok"} ·
//!      approval {"id","command"} · approval_resolved {"id","approved"} ·
//!      command {"command","decision"} · commands_missed {"count"} ·
//!      done {"usage"} · error {"message"}
//! POST /api/sessions/{id}/approvals/{approval}  {"approve": bool} -> 204
//! ```
//!
//! An `approval` event is the `exec` tool asking to run a command that is not
//! in `[exec] allow`; the turn waits until the session's owner answers (or the
//! question expires as a refusal). The agent only says that it asks: the id
//! it names is looked up in the edge's own questions for this session, and the
//! command shown is the edge's; an id the edge does not hold for the session
//! is dropped and audited (`approval_event_dropped`). `approval_resolved` and
//! `command` (every command the edge runs in the session, listed or approved,
//! with its text) come from the edge alone; the agent's word on how a question
//! ended is not passed on.
//!
//! A turn's stream ends early when the session, token or device it was opened
//! with is revoked (`CredentialWatch::cut`).
//!
//! Sessions belong to the principal that made them: their ids carry a tag of the
//! principal's subject, and nobody else can list, read or continue them.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use hardshell_audit::AuditEvent;
use hardshell_audit::event::{ApprovalEventDropped, RequestId, TurnEnding, TurnFinished};
use hardshell_auth::{Chat, Permit, Principal};
use hardshell_protocol::chat::{
    Approve, ChatEvent, NewSession, Question, SendMessage, SessionHistory, SessionList, ToolState,
    path,
};
use hardshell_protocol::{TurnEnd, TurnEvent, TurnFailure, TurnLine, TurnRefusal, TurnRequest};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, StatusCode};
use hyper::body::Frame;
use tokio::sync::mpsc;

use crate::agent::{AgentClient, AgentError};
use crate::response::{self, HttpResponse};
use crate::routes::{Context, RoutesBuilder, read_json};
use crate::state::SharedState;
use relay::{Checked, Relay, checked};

mod relay;

/// The chat API, when the agent runs: each handler is given the agent's
/// client, so none has to ask whether there is one.
pub(super) fn register(routes: RoutesBuilder, agent: &Arc<AgentClient>) -> RoutesBuilder {
    routes
        .route(Method::GET, path::SESSIONS, to_agent(agent, list))
        .route(Method::POST, path::SESSIONS, create)
        .route(Method::GET, path::SESSION, to_agent(agent, history))
        .route(Method::POST, path::MESSAGES, to_agent(agent, send))
        .route(Method::POST, path::APPROVAL, approve)
        .route(Method::GET, path::SCREENSHOT, screenshot)
        .route(Method::GET, path::FILE, shared_file)
}

/// The chat API's paths when no agent runs and nothing is proxied: each
/// answers 404 once authorised, as the API has always answered without an
/// agent (so a visitor is still asked to log in, as on any chat path).
pub(super) fn register_without_agent(routes: RoutesBuilder) -> RoutesBuilder {
    routes
        .route(Method::GET, path::SESSIONS, no_agent)
        .route(Method::POST, path::SESSIONS, no_agent)
        .route(Method::GET, path::SESSION, no_agent)
        .route(Method::POST, path::MESSAGES, no_agent)
        .route(Method::POST, path::APPROVAL, no_agent)
        .route(Method::GET, path::FILE, no_agent)
}

/// A chat path's answer, once authorised, when no agent runs.
pub(super) async fn no_agent(_: Permit<Chat>, _: Context, _: Request<Body>) -> HttpResponse {
    response::not_found()
}

/// `handler` with the agent's client as its first argument.
pub(super) fn to_agent<F, Fut>(
    agent: &Arc<AgentClient>,
    handler: F,
) -> impl Fn(Permit<Chat>, Context, Request<Body>) -> Fut + Send + Sync + 'static
where
    F: Fn(Arc<AgentClient>, Permit<Chat>, Context, Request<Body>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    let agent = agent.clone();
    move |permit, cx, request| handler(agent.clone(), permit, cx, request)
}

/// The tag a principal's session ids carry (the protocol's rule, which the
/// agent reads too).
fn tag_of(subject: &str) -> String {
    hardshell_protocol::subject_tag(subject)
}

/// A new session id on `channel` for `principal`.
pub(crate) fn new_session(channel: &str, principal: &Principal) -> String {
    new_session_for(channel, &principal.subject)
}

/// A new session id on `channel` for `subject`.
pub(crate) fn new_session_for(channel: &str, subject: &str) -> String {
    let mut random = [0u8; 12];
    let suffix = match getrandom::fill(&mut random) {
        Ok(()) => hex::encode(random),
        Err(_) => format!(
            "{:x}",
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ),
    };
    format!("{channel}-{}-{suffix}", tag_of(subject))
}

fn owns(principal: &Principal, session: &str) -> bool {
    owned_by(&principal.subject, session)
}

/// Whether `session` carries `subject`'s tag.
pub(crate) fn owned_by(subject: &str, session: &str) -> bool {
    let tag = tag_of(subject);
    session
        .split_once('-')
        .is_some_and(|(channel, rest)| !channel.is_empty() && rest.starts_with(&format!("{tag}-")))
}

pub(super) fn unavailable(e: &dyn std::fmt::Display) -> HttpResponse {
    tracing::warn!(error = %e, "the agent is unavailable");
    response::text(StatusCode::SERVICE_UNAVAILABLE, "agent unavailable\n")
}

async fn list(
    agent: Arc<AgentClient>,
    permit: Permit<Chat>,
    _: Context,
    _: Request<Body>,
) -> HttpResponse {
    match agent.sessions().await {
        Ok(sessions) => {
            let mine: Vec<_> = sessions
                .into_iter()
                .filter(|s| owns(permit.identity(), s.id.as_str()))
                .collect();
            let list = SessionList { sessions: mine };
            response::json(
                StatusCode::OK,
                &serde_json::to_value(list).unwrap_or_default(),
            )
        }
        Err(e) => unavailable(&e),
    }
}

async fn create(permit: Permit<Chat>, _: Context, _: Request<Body>) -> HttpResponse {
    let id = new_session("web", permit.identity());
    response::json(
        StatusCode::CREATED,
        &serde_json::to_value(NewSession { id }).unwrap_or_default(),
    )
}

async fn history(
    agent: Arc<AgentClient>,
    permit: Permit<Chat>,
    cx: Context,
    _: Request<Body>,
) -> HttpResponse {
    let id = cx.param("id").unwrap_or_default().to_owned();
    if !owns(permit.identity(), &id) {
        return response::not_found();
    }
    let waiting: Vec<_> = cx
        .state
        .exec
        .as_ref()
        .map(|exec| exec.waiting(&id))
        .unwrap_or_default()
        .into_iter()
        .map(|(id, command)| Question { command, id })
        .collect();
    match agent.history(&id, 500).await {
        Ok(messages) => response::json(
            StatusCode::OK,
            &serde_json::to_value(SessionHistory { messages, waiting }).unwrap_or_default(),
        ),
        Err(e) => unavailable(&e),
    }
}

/// A screenshot the agent's browser took in the session: the edge's copy
/// (decoded and encoded again when kept), to its owner only, never cached,
/// never sniffed as anything but an image.
async fn screenshot(permit: Permit<Chat>, cx: Context, _: Request<Body>) -> HttpResponse {
    let id = cx.param("id").unwrap_or_default();
    let shot = cx.param("shot").and_then(|shot| shot.parse::<u64>().ok());
    let (Some(screenshots), Some(shot)) = (&cx.state.screenshots, shot) else {
        return response::not_found();
    };
    if !owns(permit.identity(), id) {
        return response::not_found();
    }
    let Some(png) = screenshots.get(id, shot) else {
        return response::not_found();
    };
    let mut response = HttpResponse::new(Body::from(png));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("image/png"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

/// A file the agent shared in the session: the edge's copy, to its owner
/// only, as a download. A shell wrote it, so it must never render at the
/// edge's origin (an HTML file would run as the edge's own page): it goes
/// out as `application/octet-stream`, `attachment`, never sniffed, never
/// cached.
async fn shared_file(permit: Permit<Chat>, cx: Context, _: Request<Body>) -> HttpResponse {
    let id = cx.param("id").unwrap_or_default();
    let file = cx.param("file").unwrap_or_default();
    let Some(exec) = &cx.state.exec else {
        return response::not_found();
    };
    if !owns(permit.identity(), id) {
        return response::not_found();
    }
    let Some((name, bytes)) = exec.shared_file(id, file) else {
        return response::not_found();
    };
    let mut response = HttpResponse::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The name is cleaned to letters, digits, `.`, `_` and `-`: nothing in
    // it can end the quoted string or the header.
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    headers.insert(http::header::CONTENT_DISPOSITION, disposition);
    response
}

/// The session's owner answers an `exec` question.
async fn approve(permit: Permit<Chat>, cx: Context, request: Request<Body>) -> HttpResponse {
    let Some(exec) = &cx.state.exec else {
        return response::not_found();
    };
    let id = cx.param("id").unwrap_or_default().to_owned();
    let approval = cx.param("approval").unwrap_or_default().to_owned();
    if !owns(permit.identity(), &id) {
        return response::not_found();
    }
    let Some(body) = read_json::<Approve>(request).await else {
        return response::bad_request("expected {\"approve\": true or false}\n");
    };
    match exec.answer(&id, &approval, body.approve, &permit.identity().subject) {
        Ok(()) => response::text(StatusCode::NO_CONTENT, ""),
        Err(hardshell_exec::AnswerError::Unknown) => response::not_found(),
        Err(hardshell_exec::AnswerError::Answered) => {
            response::text(StatusCode::CONFLICT, "already answered\n")
        }
    }
}

async fn send(
    agent: Arc<AgentClient>,
    permit: Permit<Chat>,
    mut cx: Context,
    request: Request<Body>,
) -> HttpResponse {
    let id = cx.param("id").unwrap_or_default().to_owned();
    if !owns(permit.identity(), &id) {
        return response::not_found();
    }
    let Some(body) = read_json::<SendMessage>(request).await else {
        return response::bad_request("expected {\"text\"}\n");
    };
    let turn = TurnRequest {
        session: id,
        text: body.text,
        prior: Vec::new(),
        request_id: cx.request_id.clone(),
    };
    match checked_turn(&agent, &cx.state, &permit.identity().subject, &turn).await {
        Ok(events) => {
            // The stream ends when a credential it was opened with is revoked.
            // The turn itself runs on and is stored, as when a client leaves.
            let credentials = std::mem::take(&mut cx.credentials);
            sse(credentials.cut(events.map(|event| frame(&event))))
        }
        Err(e) => unavailable(&e),
    }
}

/// Runs a turn for `subject` (who owns `turn.session`: the caller checked)
/// and returns what its client is shown: the agent's events, checked (a
/// question only as the edge holds it), with the edge's own news of the
/// session's commands and screenshots. Its outcome is audited.
pub(crate) async fn checked_turn(
    agent: &AgentClient,
    state: &SharedState,
    subject: &str,
    turn: &TurnRequest,
) -> Result<impl futures::Stream<Item = ChatEvent> + Send + 'static, AgentError> {
    // Before the turn starts: none of its commands is missed.
    let exec_events = state
        .exec
        .as_ref()
        .map(hardshell_exec::ExecService::subscribe);
    let shots = state
        .screenshots
        .as_ref()
        .map(|screenshots| screenshots.subscribe());
    let events = start_turn(agent, state, subject, turn).await?;
    let (state, request_id) = (state.clone(), turn.request_id.clone());
    let mut asked = std::collections::HashSet::new();
    let session = turn.session.clone();
    // One record per turn says the agent announced what the edge does
    // not hold: a hostile agent can announce millions of ids in a
    // turn, and each would otherwise be a record and a log line.
    let mut reported = false;
    let check = move |event| match checked(state.exec.as_ref(), &session, &mut asked, event) {
        Checked::Shown(shown) => Some(shown),
        Checked::Withheld => None,
        Checked::Unheld => {
            if !std::mem::replace(&mut reported, true) {
                dropped(&state.audit, &session, &request_id);
            }
            None
        }
    };
    let relay = Relay {
        session: turn.session.clone(),
        turn: Box::pin(events),
        exec_events,
        shots,
        check,
    };
    Ok(relay.events())
}

/// Audits a question the agent announced that the edge does not hold.
fn dropped(audit: &crate::audit::Trail, session: &str, request_id: &str) {
    tracing::warn!(session = %session, "the agent announced a question the edge does not hold for this session; not shown");
    if let Ok(request_id) = RequestId::new(request_id) {
        audit.note(AuditEvent::ApprovalEventDropped(ApprovalEventDropped {
            request_id,
            session: session.to_owned(),
        }));
    }
}

/// Which of the agent's outcomes becomes the turn's record: one per turn, for
/// the session the edge asked about, in the edge's words (see
/// [`recorded_end`]). An agent that sends more outcomes, names another
/// session or puts text of its own in a failure gets none of it into the
/// audit log.
struct TurnRecorder<'a> {
    session: &'a str,
    recorded: bool,
}

impl<'a> TurnRecorder<'a> {
    fn new(session: &'a str) -> Self {
        Self {
            session,
            recorded: false,
        }
    }

    /// Whether `outcome` is recorded: the first for the turn's session.
    fn takes(&mut self, outcome: &hardshell_protocol::TurnOutcome) -> bool {
        if self.recorded || outcome.session.as_str() != self.session {
            return false;
        }
        self.recorded = true;
        true
    }
}

pub(super) fn frame(event: &ChatEvent) -> Bytes {
    Bytes::from(event.to_sse())
}

/// Starts a turn for `subject` and returns its client-facing events; the
/// outcome is audited when it arrives.
pub(crate) async fn start_turn(
    agent: &AgentClient,
    state: &SharedState,
    subject: &str,
    turn: &TurnRequest,
) -> Result<impl futures::Stream<Item = TurnEvent> + Send + 'static, AgentError> {
    let mut lines = agent.turn(turn).await?;
    let (events, receiver) = mpsc::channel::<TurnEvent>(64);
    let state = state.clone();
    let (request_id, subject) = (turn.request_id.clone(), subject.to_owned());
    let session = turn.session.clone();
    tokio::spawn(async move {
        let mut finished = false;
        let mut recorder = TurnRecorder::new(&session);
        while let Some(line) = lines.recv().await {
            match line {
                TurnLine::Event { event } => {
                    finished |= matches!(event, TurnEvent::Done { .. } | TurnEvent::Failed { .. });
                    // A client that left does not stop the turn; it is stored anyway.
                    let _ = events.send(event).await;
                }
                TurnLine::Outcome { outcome } => {
                    if !recorder.takes(&outcome) {
                        continue;
                    }
                    let (end, reason) = recorded_end(&outcome.end);
                    if let Ok(request_id) = RequestId::new(&request_id) {
                        state.audit.note(AuditEvent::TurnFinished(TurnFinished {
                            request_id,
                            subject: subject.clone(),
                            session: session.clone(),
                            end,
                            reason,
                            steps: outcome.steps,
                            tool_calls: u32::try_from(outcome.tool_calls.len()).unwrap_or(u32::MAX),
                            input_tokens: outcome.usage.input_tokens,
                            output_tokens: outcome.usage.output_tokens,
                        }));
                    }
                }
            }
        }
        if !finished {
            let _ = events
                .send(TurnEvent::Failed {
                    message: "The agent stopped before finishing this reply; please try again."
                        .into(),
                })
                .await;
        }
    });
    Ok(futures::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|event| (event, receiver)) },
    ))
}

/// An event of the agent's that carries no question, as the client sees it.
pub(super) fn chat_event(event: &TurnEvent) -> Option<ChatEvent> {
    Some(match event {
        TurnEvent::Accepted { seq } => ChatEvent::Accepted { seq: *seq },
        TurnEvent::TextDelta { text } => ChatEvent::Delta { text: text.clone() },
        TurnEvent::ToolStarted { name } => ChatEvent::Tool {
            name: name.clone(),
            ok: None,
            state: ToolState::Started,
        },
        TurnEvent::ToolFinished { name, ok } => ChatEvent::Tool {
            name: name.clone(),
            ok: Some(*ok),
            state: ToolState::Finished,
        },
        // Questions and how they ended are never the agent's text: see
        // `Relay::checked`.
        TurnEvent::ApprovalRequested { .. } | TurnEvent::ApprovalResolved { .. } => return None,
        TurnEvent::Done { usage } => ChatEvent::Done { usage: *usage },
        TurnEvent::Failed { message } => ChatEvent::Error {
            message: message.clone(),
        },
    })
}

/// A `text/event-stream` response from a stream of ready-made frames.
pub(crate) fn sse(frames: impl futures::Stream<Item = Bytes> + Send + 'static) -> HttpResponse {
    let body = Body::new(http_body_util::StreamBody::new(
        frames.map(|bytes| Ok::<_, Infallible>(Frame::data(bytes))),
    ));
    let mut response = http::Response::new(body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// How a turn ended, for its audit record: the kind, and the reason in the
/// edge's words with the numbers the agent reported — never a name, message
/// or detail it sent (a tool name or a provider's error is the agent's text).
fn recorded_end(end: &TurnEnd) -> (TurnEnding, Option<String>) {
    let reason = match end {
        TurnEnd::Completed => return (TurnEnding::Completed, None),
        TurnEnd::Refused(TurnRefusal::MessageTooLarge { bytes, limit }) => {
            return (
                TurnEnding::Refused,
                Some(format!(
                    "message of {bytes} bytes is over the limit of {limit}"
                )),
            );
        }
        TurnEnd::Refused(TurnRefusal::EmptyMessage) => {
            return (TurnEnding::Refused, Some("message is empty".into()));
        }
        TurnEnd::Failed(TurnFailure::UnknownTool { .. }) => {
            "the model called an unknown tool again after being told".to_owned()
        }
        TurnEnd::Failed(TurnFailure::InvalidArguments { .. }) => {
            "the model sent invalid tool arguments again after being told".to_owned()
        }
        TurnEnd::Failed(TurnFailure::StepLimit { steps }) => {
            format!("the model still wanted tools after {steps} steps")
        }
        TurnEnd::Failed(TurnFailure::Model { .. }) => "the model call failed".to_owned(),
        TurnEnd::Failed(TurnFailure::Truncated) => {
            "the model's reply stream ended without finishing".to_owned()
        }
        TurnEnd::Failed(TurnFailure::TimedOut { limit_secs }) => {
            format!("the turn took longer than {limit_secs} s")
        }
        TurnEnd::Failed(TurnFailure::StoreMessage { .. }) => {
            "storing the user's message failed".to_owned()
        }
        TurnEnd::Failed(TurnFailure::StoreReply { .. }) => "storing the reply failed".to_owned(),
    };
    (TurnEnding::Failed, Some(reason))
}

#[cfg(test)]
mod tests;
