//! `POST /modules/v1/call`: the agent calls a locked module's tool. The edge
//! only reads the request, bounded, and hands it to the [`ModuleCalls`] it
//! was given (the binary's, which checks the module and tool against the
//! lock, runs the call in the module's shell and records it).

use std::sync::Arc;

use axum::body::Body;
use futures::future::BoxFuture;
use hardshell_protocol::{MAX_MODULE_ARGUMENTS_BYTES, ModuleAnswer, ModuleCallRequest};
use http::Request;

use super::ControlService;
use crate::response::{self, HttpResponse};

/// Runs the agent's module calls.
pub trait ModuleCalls: Send + Sync + 'static {
    /// Every way a call can fail is an answer, for the model.
    fn call(self: Arc<Self>, request: ModuleCallRequest) -> BoxFuture<'static, ModuleAnswer>;
}

pub(super) async fn call(service: &ControlService, request: Request<Body>) -> HttpResponse {
    let Some(modules) = service.modules.as_ref().map(Arc::clone) else {
        return response::not_found();
    };
    if request.method() != http::Method::POST {
        return response::method_not_allowed();
    }
    // The arguments, and room for the session, module and tool names.
    let limit = MAX_MODULE_ARGUMENTS_BYTES + 4096;
    let Ok(bytes) = axum::body::to_bytes(request.into_body(), limit).await else {
        return response::payload_too_large();
    };
    let Ok(call) = serde_json::from_slice::<ModuleCallRequest>(&bytes) else {
        return response::bad_request(
            "expected {\"session\", \"module\", \"tool\", \"arguments\"}\n",
        );
    };
    let answer = modules.call(call).await;
    response::json(
        http::StatusCode::OK,
        &serde_json::to_value(answer).unwrap_or_default(),
    )
}
