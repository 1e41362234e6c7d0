//! The routes that forward to the upstream (see `proxy.rs` for what crosses),
//! and the relay a WebSocket handshake turns into.

use std::time::Instant;

use axum::body::Body;
use chrono::Utc;
use hardshell_auth::identity::IDENTITY_HEADER;
use hardshell_auth::{Chat, Permit};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::connections::{Kept, Occupancy};
use crate::pipeline::watch::CredentialWatch;
use crate::proxy::{insert, is_websocket_upgrade, scrub_request_headers, scrub_response_headers};
use crate::response::{self, HttpResponse};
use crate::routes::{Context, RoutesBuilder};

const PROXIED_METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

pub(crate) fn register(mut routes: RoutesBuilder) -> RoutesBuilder {
    for method in PROXIED_METHODS {
        routes = routes
            .proxy(method.clone(), "/", forward)
            .proxy(method, "/{*rest}", forward);
    }
    routes
}

async fn forward(permit: Permit<Chat>, cx: Context, mut request: Request<Body>) -> HttpResponse {
    let state = &cx.state;
    let Some(upstream) = &state.upstream else {
        return response::not_found();
    };
    let websocket = is_websocket_upgrade(request.headers());
    let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut request));
    let occupancy = request.extensions_mut().remove::<Occupancy>();

    let path = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let Ok(uri) = Uri::builder()
        .scheme("http")
        .authority(upstream.authority)
        .path_and_query(path)
        .build()
    else {
        return response::bad_request("bad request target\n");
    };
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    scrub_request_headers(headers, websocket);
    let assertion = state.assertions.assertion(permit.identity(), Utc::now());
    insert(headers, IDENTITY_HEADER, &assertion);
    if let Some(name) = &upstream.identity_header {
        // Every copy the client sent goes, whatever the principal's name.
        headers.remove(name);
        match HeaderValue::from_str(&permit.identity().subject) {
            Ok(value) => {
                headers.insert(name.clone(), value);
            }
            // Not a name the upstream could be told: it is not served unnamed.
            Err(_) => return response::forbidden(),
        }
    }
    insert(headers, "x-request-id", &cx.request_id);
    insert(headers, "x-forwarded-for", &cx.client.to_string());
    insert(
        headers,
        "x-forwarded-proto",
        if state.https { "https" } else { "http" },
    );

    let started = Instant::now();
    let sent = tokio::time::timeout(upstream.timeout, upstream.client.request(request)).await;
    state.metrics.record_upstream(started.elapsed());
    let mut upstream_response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            state.metrics.record_upstream_error();
            if let Some(status) = upstream.not_ready() {
                // A workload that has not come up yet (OpenClaw takes ~20 s)
                // is starting, not broken: say so, and when to ask again.
                return response::workload_not_ready(status);
            }
            tracing::warn!(error = %e, "upstream request failed");
            return response::bad_gateway();
        }
        Err(_) => {
            state.metrics.record_upstream_error();
            return response::gateway_timeout();
        }
    };

    if let Some(client_upgrade) = client_upgrade {
        if upstream_response.status() != StatusCode::SWITCHING_PROTOCOLS {
            return finish(upstream_response.map(Body::new), false);
        }
        let upstream_upgrade = hyper::upgrade::on(&mut upstream_response);
        let ends = WebSocketEnds {
            credentials: cx.credentials,
            kept: occupancy.map(Occupancy::keep),
        };
        tokio::spawn(relay(client_upgrade, upstream_upgrade, ends));
        return finish(upstream_response.map(|_| Body::empty()), true);
    }
    finish(upstream_response.map(Body::new), false)
}

/// What a WebSocket relay ends with besides either side closing.
struct WebSocketEnds {
    /// The credentials the handshake was granted on: revoking any ends it.
    credentials: CredentialWatch,
    /// The connection's slot and place in its address's count, held until the
    /// relay ends; `None` only if the server passed none (it always does).
    kept: Option<Kept>,
}

/// Relays bytes both ways until a side closes, a credential the handshake
/// was granted on is revoked, or the edge shuts down; then drops both sides,
/// which closes them. No close frame is sent: the relay does not parse frames,
/// and one written mid-frame would corrupt the stream rather than close it.
async fn relay(client: OnUpgrade, upstream: OnUpgrade, ends: WebSocketEnds) {
    let WebSocketEnds {
        credentials,
        mut kept,
    } = ends;
    let (client, upstream) = match tokio::join!(client, upstream) {
        (Ok(client), Ok(upstream)) => (client, upstream),
        (client, upstream) => {
            tracing::warn!(
                client = client.is_ok(),
                upstream = upstream.is_ok(),
                "websocket upgrade failed"
            );
            return;
        }
    };
    let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
    let stopping = async {
        match &mut kept {
            Some(kept) => kept.stopping().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        copied = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
            if let Err(e) = copied {
                tracing::debug!(error = %e, "websocket relay ended");
            }
        }
        () = credentials.ended() => {
            tracing::info!("websocket closed: a credential it was opened with was revoked");
        }
        () = stopping => tracing::debug!("websocket closed: the edge is shutting down"),
    }
}

fn finish(mut response: HttpResponse, upgraded: bool) -> HttpResponse {
    scrub_response_headers(response.headers_mut(), upgraded);
    response
}
