//! The control socket: how the workload (the agent process, later inside its
//! shell) reaches the edge. It is a unix socket in a private directory; holding it
//! is the capability, so there is no authentication on it — and nothing the
//! workload can do through it escapes its scope. Its routes and messages are
//! `hardshell_protocol`'s ([`ControlRoute`]):
//!
//! - `/storage/v1/...`: the workload's state, confined to the `agent/` scope of
//!   the state store and sealed by the edge (the workload has no key).
//! - `/agent/v1/settings`: what the agent needs from the config it never reads.
//! - `/agent/v1/switch`: the agent reports a fallback switch, for the audit log.
//! - `/exec/v1/run` and `/exec/v1/approvals/<id>/wait`: the `exec` tool's
//!   commands, decided and run by the edge (see `hardshell_exec`).
//! - `/exec/v1/files/send`: the agent shares a file of its session's
//!   workspace (`send_file`); the edge reads it (see `hardshell_exec::files`).
//! - `/modules/v1/call`: a locked module's tool (see [`ModuleCalls`]).
//!
//! Each request is logged; storage writes and refusals are counted in metrics.
//!
//! Whatever is on the other end may be hostile, so the socket bounds what it
//! can hold of the edge ([`ControlLimits`]): connections at once (more are
//! closed as they come), time to send a request's head, time between two
//! pieces of its body, and request bytes held in memory across every
//! connection (a body over the allowance is refused with 503).

mod limits;
mod modules;
mod storage;
mod switch;

pub use limits::ControlLimits;
use limits::{Allowance, bounded};
pub use modules::ModuleCalls;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use hardshell_accept::{Listener, serve_http1};
use hardshell_storage::Scope;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioTimer;
use tokio::net::UnixListener;
use tokio::sync::Semaphore;
use tracing::Instrument;

use hardshell_protocol::{
    AgentSettings, ControlRoute, ExecRequest, MAX_COMMAND_BYTES, MAX_FILE_PATH_BYTES,
    SendFileAnswer, SendFileRequest,
};

use crate::state::EdgeState;
use crate::{Edge, EdgeError};

use crate::response::{self, HttpResponse};

/// Largest body the control socket reads (a stored object).
pub(crate) const MAX_CONTROL_BODY: usize = 16 * 1024 * 1024;

/// What the control socket serves.
pub struct ControlService {
    /// The workload's storage scope.
    pub(crate) storage: Scope,
    pub(crate) settings: Option<AgentSettings>,
    /// For audit records of what the workload reports.
    pub(crate) edge: Option<Arc<EdgeState>>,
    /// How often the workload may have a switch recorded.
    pub(crate) switches: switch::SwitchGate,
    /// The locked modules' tools, when there are any.
    pub(crate) modules: Option<Arc<dyn ModuleCalls>>,
}

impl ControlService {
    /// Storage only: for a workload that brings its own loop (and for tests).
    pub fn new(storage: Scope) -> Arc<Self> {
        Arc::new(Self {
            storage,
            settings: None,
            edge: None,
            switches: switch::SwitchGate::new(),
            modules: None,
        })
    }

    /// Everything the built-in agent uses (its models it reaches through
    /// its broker, not here); `modules` runs its module tools' calls.
    pub fn for_agent(
        storage: Scope,
        settings: AgentSettings,
        edge: &Edge,
        modules: Option<Arc<dyn ModuleCalls>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            storage,
            settings: Some(settings),
            edge: Some(edge.state.clone()),
            switches: switch::SwitchGate::new(),
            modules,
        })
    }
}

impl std::fmt::Debug for ControlService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlService")
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

/// A bound control socket.
#[derive(Debug)]
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
    service: Arc<ControlService>,
    limits: ControlLimits,
}

impl ControlSocket {
    /// Binds `path` (replacing a stale socket file), mode 0600, in a
    /// directory the caller made, that only the edge may write (a shell that
    /// could write there could replace the socket).
    pub fn bind(path: &Path, service: Arc<ControlService>) -> Result<Self, EdgeError> {
        let listener = hardshell_broker::socket::bind(path).map_err(|source| {
            EdgeError::BindControlSocket {
                path: path.to_owned(),
                source,
            }
        })?;
        Ok(Self {
            listener,
            path: path.to_owned(),
            service,
            limits: ControlLimits::default(),
        })
    }

    /// Other limits than the defaults (tests use short ones).
    #[must_use]
    pub fn with_limits(mut self, limits: ControlLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves until the task is dropped.
    pub async fn serve(self) {
        let limits = Arc::new(self.limits);
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let allowance = Allowance::new(limits.max_buffered_bytes);
        loop {
            let stream = self.listener.next("control socket").await;
            // Closed at once: waiting in the backlog instead would let the
            // shell keep the edge's queue full.
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::warn!("control socket: too many connections at once; one closed");
                drop(stream);
                continue;
            };
            let (service, limits, allowance) =
                (self.service.clone(), limits.clone(), allowance.clone());
            tokio::spawn(async move {
                let _slot = slot;
                let body_idle = limits.body_idle;
                let handler = service_fn(move |request: Request<Incoming>| {
                    let (service, allowance) = (service.clone(), allowance.clone());
                    let span = tracing::info_span!(
                        "control_request",
                        route = route_pattern(request.uri().path())
                    );
                    async move {
                        // Held until the answer is made: the body is in
                        // memory until then.
                        let (request, held) = bounded(request, &allowance, body_idle);
                        let response = route(&service, request).await;
                        drop(held);
                        Ok::<_, std::convert::Infallible>(response)
                    }
                    .instrument(span)
                });
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(Some(limits.header_timeout))
                    .max_buf_size(MAX_HEAD_BYTES)
                    .max_headers(MAX_HEADERS)
                    .keep_alive(true);
                serve_http1("control socket", &builder, stream, handler, false).await;
            });
        }
    }
}

/// A request head's size, and header count, beyond which it is refused:
/// the workload's requests are small and few-headed.
const MAX_HEAD_BYTES: usize = 16 * 1024;
const MAX_HEADERS: usize = 32;

/// The route a request's path takes, as a pattern for its span: the path
/// itself is the shell's text (object keys, approval ids), never logged.
fn route_pattern(path: &str) -> &'static str {
    if path.starts_with("/storage/v1/") {
        "/storage/v1/{*rest}"
    } else if path == "/agent/v1/settings" {
        "/agent/v1/settings"
    } else if path == "/agent/v1/switch" {
        "/agent/v1/switch"
    } else if path == "/exec/v1/run" {
        "/exec/v1/run"
    } else if path == "/exec/v1/files/send" {
        "/exec/v1/files/send"
    } else if path.starts_with("/exec/v1/approvals/") && path.ends_with("/wait") {
        "/exec/v1/approvals/{id}/wait"
    } else if path == "/modules/v1/call" {
        "/modules/v1/call"
    } else {
        "unmatched"
    }
}

async fn route(service: &ControlService, request: Request<Body>) -> HttpResponse {
    let path = request.uri().path().to_owned();
    let response: Response<Body> = match ControlRoute::parse(&path) {
        Some(ControlRoute::Storage { rest }) => {
            storage::handle(&service.storage, rest, request).await
        }
        Some(ControlRoute::Settings) => match &service.settings {
            Some(settings) => response::json(
                http::StatusCode::OK,
                &serde_json::to_value(settings).unwrap_or_default(),
            ),
            None => response::not_found(),
        },
        Some(ControlRoute::Switch) if request.method() == http::Method::POST => {
            switch::report(service, request).await
        }
        Some(route) if route.is_exec() => exec(service, route, request).await,
        Some(ControlRoute::ModuleCall) => modules::call(service, request).await,
        _ => response::not_found(),
    };
    response
}

/// The `exec` tool: a command to decide on, or a wait for the owner's answer.
async fn exec(
    service: &ControlService,
    route: ControlRoute<'_>,
    request: Request<Body>,
) -> HttpResponse {
    let Some(exec) = service.edge.as_ref().and_then(|edge| edge.exec.as_ref()) else {
        return response::not_found();
    };
    if request.method() != http::Method::POST {
        return response::method_not_allowed();
    }
    let answer = match route {
        ControlRoute::ExecRun => {
            let limit = MAX_COMMAND_BYTES + 4096;
            let Ok(bytes) = axum::body::to_bytes(request.into_body(), limit).await else {
                return response::payload_too_large();
            };
            let Ok(run) = serde_json::from_slice::<ExecRequest>(&bytes) else {
                return response::bad_request("expected {\"session\", \"command\"}\n");
            };
            exec.request(run).await
        }
        ControlRoute::ExecWait { approval } => exec.wait(approval).await,
        ControlRoute::ExecSendFile => return send_file(exec, request).await,
        _ => return response::not_found(),
    };
    response::json(
        http::StatusCode::OK,
        &serde_json::to_value(answer).unwrap_or_default(),
    )
}

/// `send_file`: the edge reads the file from the session's workspace and
/// keeps it for the session's owner; a refusal says why, to the agent.
async fn send_file(exec: &hardshell_exec::ExecService, request: Request<Body>) -> HttpResponse {
    let limit = MAX_FILE_PATH_BYTES + 4096;
    let Ok(bytes) = axum::body::to_bytes(request.into_body(), limit).await else {
        return response::payload_too_large();
    };
    let Ok(send) = serde_json::from_slice::<SendFileRequest>(&bytes) else {
        return response::bad_request("expected {\"session\", \"path\"}\n");
    };
    let answer = if send.path.len() > MAX_FILE_PATH_BYTES {
        SendFileAnswer::Refused {
            reason: format!("the path is longer than {MAX_FILE_PATH_BYTES} bytes"),
        }
    } else {
        match exec.share(&send.session, &send.path).await {
            Ok(shared) => SendFileAnswer::Shared {
                name: shared.name,
                size: shared.size,
            },
            Err(e) => SendFileAnswer::Refused {
                reason: e.to_string(),
            },
        }
    };
    response::json(
        http::StatusCode::OK,
        &serde_json::to_value(answer).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::route_pattern;

    #[test]
    fn a_request_span_names_the_route_never_the_shells_path() {
        assert_eq!(route_pattern("/exec/v1/run"), "/exec/v1/run");
        assert_eq!(route_pattern("/exec/v1/files/send"), "/exec/v1/files/send");
        assert_eq!(
            route_pattern("/exec/v1/approvals/0a1b/wait"),
            "/exec/v1/approvals/{id}/wait"
        );
        assert_eq!(
            route_pattern("/storage/v1/objects/notes%2Fsk-live-123"),
            "/storage/v1/{*rest}"
        );
        assert_eq!(route_pattern("/sk-live-123"), "unmatched");
    }
}
