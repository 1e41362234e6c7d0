//! Who am I, log out, and the owner's view of every session: list them and
//! end one. A session is shown by its handle, never its cookie.

use axum::body::Body;
use chrono::Utc;
use hardshell_audit::AuditEvent;
use hardshell_audit::event::SessionRevoked;
use hardshell_auth::{Admin, Chat, Permit, Public};
use http::header::SET_COOKIE;
use http::{Method, Request, StatusCode};

use crate::cookies;
use crate::response::{self, HttpResponse};
use crate::routes::{Context, RoutesBuilder};

pub(super) fn register(routes: RoutesBuilder) -> RoutesBuilder {
    routes
        .route(Method::GET, "/auth/whoami", whoami)
        .route(Method::POST, "/auth/logout", logout)
        .route(Method::GET, "/admin/sessions", list)
        .route(Method::DELETE, "/admin/sessions/{id}", end)
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

async fn list(_: Permit<Admin>, cx: Context, _: Request<Body>) -> HttpResponse {
    match cx.state.sessions.list(Utc::now()).await {
        Ok(sessions) => {
            response::json(StatusCode::OK, &serde_json::json!({ "sessions": sessions }))
        }
        Err(e) => {
            tracing::error!(error = %e, "listing sessions failed");
            response::internal_error()
        }
    }
}

/// Ends every link of one session chain, then records who ended whose.
async fn end(permit: Permit<Admin>, cx: Context, _: Request<Body>) -> HttpResponse {
    let id = cx.param("id").unwrap_or_default();
    // Handles are 32 hex digits (16 for sessions older than handles).
    let handle_shaped =
        matches!(id.len(), 16 | 32) && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !handle_shaped {
        return response::not_found();
    }
    let ended = match cx.state.sessions.revoke_handle(id).await {
        Ok(Some(principal)) => principal,
        Ok(None) => return response::not_found(),
        Err(e) => {
            tracing::error!(error = %e, "ending a session failed");
            return response::internal_error();
        }
    };
    let event = AuditEvent::SessionRevoked(SessionRevoked {
        subject: ended.subject,
        actor: Some(permit.identity().subject.clone()),
    });
    if cx.state.audit.admin_action(event).await.is_err() {
        return response::internal_error();
    }
    response::text(StatusCode::NO_CONTENT, "")
}

async fn reserved(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    response::not_found()
}
