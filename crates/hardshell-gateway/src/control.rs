//! The control socket: how the workload (the agent process, later inside its
//! shell) reaches the edge. It is a unix socket in a private directory; holding it
//! is the capability, so there is no authentication on it — and nothing the
//! workload can do through it escapes its scope:
//!
//! - `/storage/v1/...`: the workload's state, confined to the `agent/` scope of
//!   the state store and sealed by the edge (the workload has no key).
//!
//! Each request is logged; storage writes and refusals are counted in metrics.

mod storage;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use hardshell_storage::Scope;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::UnixListener;

use crate::GatewayError;
use crate::response::{self, HttpResponse};

/// Largest body the control socket reads (a stored object).
pub(crate) const MAX_CONTROL_BODY: usize = 16 * 1024 * 1024;

/// What the control socket serves.
pub struct ControlService {
    /// The workload's storage scope.
    pub(crate) storage: Scope,
}

impl ControlService {
    pub fn new(storage: Scope) -> Arc<Self> {
        Arc::new(Self { storage })
    }
}

impl std::fmt::Debug for ControlService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlService")
            .field("storage", &self.storage)
            .finish()
    }
}

/// A bound control socket.
#[derive(Debug)]
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
    service: Arc<ControlService>,
}

impl ControlSocket {
    /// Binds `path` (replacing a stale socket file) in a directory only this user
    /// can enter; the socket itself is mode 0600.
    pub fn bind(path: &Path, service: Arc<ControlService>) -> Result<Self, GatewayError> {
        use std::os::unix::fs::PermissionsExt;
        let bind_err = |e: std::io::Error| {
            GatewayError::Setup(format!("control socket {}: {e}", path.display()))
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(bind_err)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(bind_err)?;
        }
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(bind_err(e)),
        }
        let listener = UnixListener::bind(path).map_err(bind_err)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(bind_err)?;
        Ok(Self {
            listener,
            path: path.to_owned(),
            service,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves until the task is dropped.
    pub async fn serve(self) {
        loop {
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let service = self.service.clone();
            tokio::spawn(async move {
                let handler = service_fn(move |request| {
                    let service = service.clone();
                    async move { Ok::<_, std::convert::Infallible>(route(&service, request).await) }
                });
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder.timer(TokioTimer::new()).keep_alive(true);
                if let Err(e) = builder
                    .serve_connection(TokioIo::new(stream), handler)
                    .await
                {
                    tracing::debug!(error = %e, "control connection ended with an error");
                }
            });
        }
    }
}

async fn route(service: &ControlService, request: Request<Incoming>) -> HttpResponse {
    let path = request.uri().path().to_owned();
    let request = request.map(Body::new);
    let response: Response<Body> = if let Some(rest) = path.strip_prefix("/storage/v1/") {
        storage::handle(&service.storage, rest, request).await
    } else {
        response::not_found()
    };
    response
}
