//! The chat channels' webhook routes (`/hooks/<platform>`): public, because
//! the platform cannot log in, and authenticated instead by the platform's
//! own signature or secret, which the channel's `WebhookEndpoint` checks on
//! the raw body before anything of it is parsed. A request that fails is
//! refused with 401, audited (`webhook_rejected`) and charged to its
//! address's failed-authentication budget like any bad credential; an
//! address over that budget is refused before its request is read.

use std::sync::Arc;

use axum::body::Body;
use hardshell_audit::AuditEvent;
use hardshell_audit::event::{RequestId, WebhookRejected, WebhookRejection};
use hardshell_auth::{Permit, Public};
use hardshell_channels::verify::MAX_BODY_BYTES;
use hardshell_channels::webhook::{WebhookEndpoint, WebhookOutcome, WebhookRequest};
use http::{Request, StatusCode};

use crate::response::{self, HttpResponse};
use crate::routes::{Context, RoutesBuilder};

/// Every method of each endpoint at its path.
pub(super) fn register(
    mut routes: RoutesBuilder,
    endpoints: &[Arc<dyn WebhookEndpoint>],
) -> RoutesBuilder {
    for endpoint in endpoints {
        for method in endpoint.methods() {
            let endpoint = endpoint.clone();
            routes = routes.route(
                method.clone(),
                endpoint.path(),
                move |permit: Permit<Public>, cx: Context, request: Request<Body>| {
                    receive(endpoint.clone(), permit, cx, request)
                },
            );
        }
    }
    routes
}

async fn receive(
    endpoint: Arc<dyn WebhookEndpoint>,
    _: Permit<Public>,
    cx: Context,
    request: Request<Body>,
) -> HttpResponse {
    let state = &cx.state;
    if let Err(secs) = state.rate_limits.check_lockout(cx.client) {
        return response::too_many_requests(secs);
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return response::text(StatusCode::PAYLOAD_TOO_LARGE, "body too large\n");
    };
    let outcome = endpoint.receive(WebhookRequest {
        method: &parts.method,
        headers: &parts.headers,
        query: parts.uri.query(),
        body: &body,
        now: chrono::Utc::now(),
    });
    match outcome {
        WebhookOutcome::Accepted { body } => {
            let mut answer = HttpResponse::new(Body::from(body));
            // An endpoint's media type that is no header value is not
            // served as one: plain text, never a panic.
            let media = http::HeaderValue::from_str(endpoint.accepted_content_type())
                .unwrap_or(http::HeaderValue::from_static("text/plain; charset=utf-8"));
            answer
                .headers_mut()
                .insert(http::header::CONTENT_TYPE, media);
            answer
        }
        WebhookOutcome::Duplicate => {
            // A platform's retry, or a replay of a signed delivery within
            // its freshness window: answered as taken, handled once, noted.
            note(&cx, endpoint.platform(), WebhookRejection::Replayed);
            response::text(StatusCode::OK, "")
        }
        WebhookOutcome::Malformed => {
            note(&cx, endpoint.platform(), WebhookRejection::Malformed);
            response::bad_request("not a delivery of this platform\n")
        }
        WebhookOutcome::Busy => {
            let mut busy = response::text(StatusCode::SERVICE_UNAVAILABLE, "busy; try again\n");
            busy.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("5"),
            );
            busy
        }
        WebhookOutcome::Rejected(refusal) => {
            state.rate_limits.charge_failure(cx.client, None);
            state.metrics.record_auth_failure("webhook");
            tracing::info!(platform = %endpoint.platform(), reason = refusal.reason(), client = %cx.client, "webhook refused");
            note(&cx, endpoint.platform(), refusal.rejection());
            response::unauthorized()
        }
    }
}

fn note(cx: &Context, platform: hardshell_channels::Platform, reason: WebhookRejection) {
    if let Ok(request_id) = RequestId::new(&cx.request_id) {
        cx.state
            .audit
            .note(AuditEvent::WebhookRejected(WebhookRejected {
                request_id,
                client: cx.client,
                platform,
                reason,
            }));
    }
}
