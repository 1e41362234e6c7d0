//! Who am I, and log out.

use axum::body::Body;
use hardshell_auth::{Chat, Permit, Public};
use http::header::SET_COOKIE;
use http::{Method, Request, StatusCode};

use crate::cookies;
use crate::response::{self, HttpResponse};
use crate::routes::{Context, RoutesBuilder};

pub(super) fn register(routes: RoutesBuilder) -> RoutesBuilder {
    routes
        .route(Method::GET, "/auth/whoami", whoami)
        .route(Method::POST, "/auth/logout", logout)
        // The edge owns these prefixes: nothing under them reaches the upstream.
        .route(Method::GET, "/auth/{*rest}", reserved)
        .route(Method::POST, "/auth/{*rest}", reserved)
        .route(Method::GET, "/admin/{*rest}", reserved)
        .route(Method::POST, "/admin/{*rest}", reserved)
}

async fn whoami(permit: Permit<Chat>, cx: Context, _: Request<Body>) -> HttpResponse {
    let principal = permit.identity();
    response::json(
        StatusCode::OK,
        &serde_json::json!({
            "subject": principal.subject,
            "email": principal.email,
            "groups": principal.groups,
            "method": principal.method,
            "token_scope": principal.token_scope,
            "authenticated_at": principal.authenticated_at,
            "device": cx.device.as_ref().map(|d| &d.name),
        }),
    )
}

/// Public so that a stale or revoked session can still clear its cookie.
async fn logout(permit: Permit<Public>, cx: Context, request: Request<Body>) -> HttpResponse {
    let state = &cx.state;
    if let Some(cookie) = cookies::find(request.headers(), state.cookies.session_name())
        && let Err(e) = state.sessions.revoke(cookie).await
    {
        tracing::error!(error = %e, "revoking a session failed");
        return response::internal_error();
    }
    if let Some(principal) = permit.identity()
        && state.audit.session_ended(principal).await.is_err()
    {
        return response::internal_error();
    }
    let mut response = response::text(StatusCode::NO_CONTENT, "");
    response
        .headers_mut()
        .append(SET_COOKIE, state.cookies.clear_session());
    response
}

async fn reserved(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    response::not_found()
}
