//! `[metrics] listen`: a second listener that answers `GET /metrics` and
//! nothing else, without authentication. It exists only on loopback (the config
//! refuses any other address and `ListenAddr::loopback` makes it
//! unrepresentable here), for a scraper on the same host.

use std::sync::Arc;

use hardshell_accept::{Listener, serve_http1};
use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioTimer;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::response::{self, HttpResponse};
use crate::state::SharedState;

/// Scrapers open one connection at a time; a handful is plenty.
const MAX_CONNECTIONS: usize = 16;

/// Serves until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, state: SharedState) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = listener.next("metrics").await;
        let state = state.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service_state = state.clone();
            let service = service_fn(move |request| {
                let state = service_state.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&state, &request)) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(Some(state.limits.header_timeout))
                .max_buf_size(8192)
                .max_headers(32);
            serve_http1("metrics", &builder, stream, service, false).await;
        });
    }
}

fn answer(state: &SharedState, request: &Request<Incoming>) -> HttpResponse {
    if request.uri().path() != "/metrics" {
        return response::not_found();
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return response::method_not_allowed();
    }
    let mut response = crate::metrics::exposition(&state.metrics, state.audit.backlog());
    if request.method() == Method::HEAD {
        *response.body_mut() = axum::body::Body::empty();
    }
    *response.status_mut() = StatusCode::OK;
    response
}
