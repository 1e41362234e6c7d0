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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Mutex;

    use hardshell_protocol::ModuleFailure;

    use super::*;
    use crate::control::{ControlService, route, switch};

    /// Answers every call, keeping what it was asked.
    #[derive(Default)]
    struct Recording(Mutex<Vec<ModuleCallRequest>>);

    impl ModuleCalls for Recording {
        fn call(self: Arc<Self>, request: ModuleCallRequest) -> BoxFuture<'static, ModuleAnswer> {
            self.0.lock().unwrap().push(request);
            Box::pin(async {
                ModuleAnswer::Failed {
                    failure: ModuleFailure::Tool,
                    message: "recorded".into(),
                }
            })
        }
    }

    async fn service(
        modules: Option<Arc<dyn ModuleCalls>>,
    ) -> (ControlService, hardshell_testkit::TestStore) {
        let store = hardshell_testkit::TestStore::new().await;
        let service = ControlService {
            storage: store.scope("agent"),
            settings: None,
            edge: None,
            switches: switch::SwitchGate::new(),
            modules,
        };
        (service, store)
    }

    async fn post(service: &ControlService, method: &str, body: Vec<u8>) -> (u16, String) {
        let request = Request::builder()
            .method(method)
            .uri("/modules/v1/call")
            .body(Body::from(body))
            .unwrap();
        let response = route(service, request).await;
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn a_call_reaches_the_modules_only_when_it_reads_and_there_are_modules() {
        let call = br#"{"session":"web-a","module":"echo","tool":"add","arguments":{"a":1}}"#;
        // No modules: the route does not exist.
        let (without, _store) = service(None).await;
        assert_eq!(post(&without, "POST", call.to_vec()).await.0, 404);

        let recording = Arc::new(Recording::default());
        let (with, _store) = service(Some(recording.clone())).await;
        let (status, body) = post(&with, "POST", call.to_vec()).await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            r#"{"failure":"tool","message":"recorded","status":"failed"}"#
        );
        assert_eq!(recording.0.lock().unwrap()[0].tool, "add");
        // Refused before the modules see it: another method, a body that
        // does not read (an unknown field too), one over the bound.
        assert_eq!(post(&with, "GET", Vec::new()).await.0, 405);
        assert_eq!(post(&with, "POST", b"{".to_vec()).await.0, 400);
        let extra = br#"{"session":"s","module":"m","tool":"t","arguments":{},"path":"/etc"}"#;
        assert_eq!(post(&with, "POST", extra.to_vec()).await.0, 400);
        let huge = vec![b' '; MAX_MODULE_ARGUMENTS_BYTES + 8192];
        assert_eq!(post(&with, "POST", huge).await.0, 413);
        assert_eq!(recording.0.lock().unwrap().len(), 1);
    }
}
