//! Responses the edge writes itself. Error bodies are fixed strings chosen here;
//! causes go to the log and the audit record, never to the client.

use axum::body::Body;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

pub(crate) type HttpResponse = Response<Body>;

/// A plain-text response with a fixed body.
pub(crate) fn text(status: StatusCode, body: &'static str) -> HttpResponse {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> HttpResponse {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub(crate) fn not_found() -> HttpResponse {
    text(StatusCode::NOT_FOUND, "not found\n")
}

pub(crate) fn method_not_allowed() -> HttpResponse {
    text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
}

pub(crate) fn unauthorized() -> HttpResponse {
    let mut response = text(StatusCode::UNAUTHORIZED, "authentication required\n");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"hardshell\""),
    );
    response
}

pub(crate) fn forbidden() -> HttpResponse {
    text(StatusCode::FORBIDDEN, "forbidden\n")
}

/// A 403 that says what would allow the request when the requester can do
/// it (sign in again, without a token); the plain 403 otherwise. The admin
/// page sends the owner to the login on the first two.
pub(crate) fn forbidden_because(denied: &hardshell_auth::Denied) -> HttpResponse {
    match denied {
        hardshell_auth::Denied::LoginNotFresh { .. } => text(
            StatusCode::FORBIDDEN,
            "this action needs a recent login: sign in again\n",
        ),
        hardshell_auth::Denied::NotInteractive => text(
            StatusCode::FORBIDDEN,
            "this action needs an interactive login; API tokens cannot perform it\n",
        ),
        _ => forbidden(),
    }
}

pub(crate) fn bad_request(body: &'static str) -> HttpResponse {
    text(StatusCode::BAD_REQUEST, body)
}

pub(crate) fn too_many_requests(retry_after_secs: u64) -> HttpResponse {
    let mut response = text(StatusCode::TOO_MANY_REQUESTS, "too many requests\n");
    if let Ok(value) = HeaderValue::from_str(&retry_after_secs.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Too many logins in progress: the pending-ceremony store is full. Retrying
/// after a minute may succeed, as abandoned ceremonies expire.
pub(crate) fn busy() -> HttpResponse {
    let mut response = text(
        StatusCode::SERVICE_UNAVAILABLE,
        "too many logins in progress\n",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    response
}

pub(crate) fn internal_error() -> HttpResponse {
    text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
}

pub(crate) fn bad_gateway() -> HttpResponse {
    text(StatusCode::BAD_GATEWAY, "upstream unavailable\n")
}

/// 503 for a workload that is not ready: starting, stopped between restarts,
/// or failing its health checks; `Retry-After` says when to ask again.
pub(crate) fn workload_not_ready(status: hardshell_workload::Status) -> HttpResponse {
    let body = match status {
        hardshell_workload::Status::Starting { .. } => "the workload is starting\n",
        hardshell_workload::Status::Stopped => "the workload is not running; it is restarted\n",
        hardshell_workload::Status::StartTimedOut => {
            "the workload did not become ready in time; see the edge's log\n"
        }
        hardshell_workload::Status::Unhealthy { .. } | hardshell_workload::Status::Ready => {
            "the workload is failing its health checks\n"
        }
    };
    let mut response = text(StatusCode::SERVICE_UNAVAILABLE, body);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

pub(crate) fn gateway_timeout() -> HttpResponse {
    text(StatusCode::GATEWAY_TIMEOUT, "upstream timed out\n")
}

pub(crate) fn payload_too_large() -> HttpResponse {
    text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n")
}

/// The policy of every response that does not bring its own: no external or
/// inline scripts, styles or fonts, no plugins, no framing.
macro_rules! edge_policy {
    () => {
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    };
}
pub(crate) const CONTENT_SECURITY_POLICY: &str = edge_policy!();

/// The edge's own pages' policy (`routes/pages.rs`): the one above, and Trusted
/// Types required with no policy allowed, so the browser itself refuses every
/// string-to-HTML or string-to-script sink (`innerHTML`, `eval`, ...) in them.
/// Not for an upstream's pages, whose scripts may need such sinks.
pub(crate) const PAGE_CONTENT_SECURITY_POLICY: &str = concat!(
    edge_policy!(),
    "; require-trusted-types-for 'script'; trusted-types 'none'"
);

/// Headers every response from the edge carries; a response's own
/// Content-Security-Policy is kept.
pub(crate) fn add_security_headers(response: &mut HttpResponse, request_id: &str, https: bool) {
    let headers = response.headers_mut();
    let fixed: [(header::HeaderName, &'static str); 5] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(header::HeaderName::from_static("x-request-id"), value);
    }
}
