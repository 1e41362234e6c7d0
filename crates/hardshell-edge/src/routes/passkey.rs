//! The owner's passkey ceremonies, as `assets/login.js` calls them. Ceremony state
//! stays server-side (single use, five minutes); the browser holds only its id.
//! Every refusal gets the same fixed 401 body and is charged to the client's
//! failed-authentication budget.

use std::time::Duration;

use axum::body::Body;
use chrono::Utc;
use hardshell_audit::AuditEvent;
use hardshell_audit::event::{LoginFailed, PasskeyRegistered, RequestId};
use hardshell_auth::passkey::{
    CEREMONY_TTL, LoginState, PublicKeyCredential, RegisterPublicKeyCredential, RegistrationState,
    SetupToken,
};
use hardshell_auth::{EphemeralError, Method as AuthMethod, Permit, Public};
use http::{Method, Request, StatusCode};
use serde::Deserialize;

use crate::response::{self, HttpResponse};
use crate::routes::{Context, RoutesBuilder, read_json, start_session};

pub(super) fn register(routes: RoutesBuilder) -> RoutesBuilder {
    routes
        .route(Method::POST, "/auth/passkey/register/start", register_start)
        .route(
            Method::POST,
            "/auth/passkey/register/finish",
            register_finish,
        )
        .route(Method::POST, "/auth/passkey/login/start", login_start)
        .route(Method::POST, "/auth/passkey/login/finish", login_finish)
}

/// Ceremony states kept between the two halves, never longer than this.
fn ceremony_ttl() -> Duration {
    CEREMONY_TTL
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterStart {
    setup_token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Finish<C> {
    ceremony: String,
    credential: C,
}

/// One body for every refusal: the client learns nothing about which check
/// failed; the reason goes to the log and the audit record.
fn refused(cx: &Context, reason: String) -> HttpResponse {
    tracing::info!(reason, "passkey ceremony refused");
    cx.state.rate_limits.charge_failure(cx.client, None);
    if let Ok(request_id) = RequestId::new(&cx.request_id) {
        cx.state.audit.note(AuditEvent::LoginFailed(LoginFailed {
            request_id,
            client: cx.client,
            auth_method: AuthMethod::Passkey,
            reason,
        }));
    }
    response::text(StatusCode::UNAUTHORIZED, "passkey refused\n")
}

fn failed(error: &dyn std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %error, "passkey ceremony failed");
    response::internal_error()
}

/// A ceremony state could not be stored: too many in progress (503, retry
/// later), or the store failed.
fn not_stored(error: &EphemeralError) -> HttpResponse {
    match error {
        EphemeralError::Full { .. } => {
            tracing::warn!(error = %error, "refusing a passkey ceremony");
            response::busy()
        }
        _ => failed(error),
    }
}

async fn register_start(_: Permit<Public>, cx: Context, request: Request<Body>) -> HttpResponse {
    let Some(passkeys) = &cx.state.passkeys else {
        return response::not_found();
    };
    if cx.state.rate_limits.check_lockout(cx.client).is_err() {
        return response::too_many_requests(60);
    }
    let Some(body) = read_json::<RegisterStart>(request).await else {
        return response::bad_request("expected {\"setup_token\"}\n");
    };
    let token = match SetupToken::parse(&body.setup_token) {
        Ok(token) => token,
        Err(e) => return refused(&cx, format!("registration start: {e}")),
    };
    let now = Utc::now();
    let (options, state) = match passkeys.start_registration(&token, now).await {
        Ok(started) => started,
        Err(e) if e.is_refusal() => return refused(&cx, format!("registration start: {e}")),
        Err(e) => return failed(&e),
    };
    match cx
        .state
        .registrations
        .put(&state, ceremony_ttl(), now)
        .await
    {
        Ok(ceremony) => response::json(
            StatusCode::OK,
            &serde_json::json!({ "ceremony": ceremony, "options": options }),
        ),
        Err(e) => not_stored(&e),
    }
}

async fn register_finish(_: Permit<Public>, cx: Context, request: Request<Body>) -> HttpResponse {
    let Some(passkeys) = &cx.state.passkeys else {
        return response::not_found();
    };
    let Some(body) = read_json::<Finish<RegisterPublicKeyCredential>>(request).await else {
        return response::bad_request("expected {\"ceremony\", \"credential\"}\n");
    };
    let now = Utc::now();
    let state: RegistrationState = match cx.state.registrations.take(&body.ceremony, now).await {
        Ok(state) => state,
        Err(e) => return refused(&cx, format!("registration finish: {e}")),
    };
    let info = match passkeys
        .finish_registration(&state, &body.credential, now)
        .await
    {
        Ok(info) => info,
        Err(e) if e.is_refusal() => return refused(&cx, format!("registration finish: {e}")),
        Err(e) => return failed(&e),
    };
    let Ok(request_id) = RequestId::new(&cx.request_id) else {
        return response::internal_error();
    };
    let event = AuditEvent::PasskeyRegistered(PasskeyRegistered {
        request_id,
        client: cx.client,
        passkey: info.id.as_str().to_owned(),
    });
    if cx.state.audit.admin_action(event).await.is_err() {
        // Unrecorded, the passkey must not stay: take it back.
        let _ = passkeys.remove(&info.id).await;
        return response::internal_error();
    }
    response::text(StatusCode::NO_CONTENT, "")
}

async fn login_start(_: Permit<Public>, cx: Context, _: Request<Body>) -> HttpResponse {
    let Some(passkeys) = &cx.state.passkeys else {
        return response::not_found();
    };
    if cx.state.rate_limits.check_lockout(cx.client).is_err() {
        return response::too_many_requests(60);
    }
    let now = Utc::now();
    let (options, state) = match passkeys.start_login(now).await {
        Ok(started) => started,
        Err(e) if e.is_refusal() => return refused(&cx, format!("login start: {e}")),
        Err(e) => return failed(&e),
    };
    match cx.state.logins.put(&state, ceremony_ttl(), now).await {
        Ok(ceremony) => response::json(
            StatusCode::OK,
            &serde_json::json!({ "ceremony": ceremony, "options": options }),
        ),
        Err(e) => not_stored(&e),
    }
}

async fn login_finish(_: Permit<Public>, cx: Context, request: Request<Body>) -> HttpResponse {
    let Some(passkeys) = &cx.state.passkeys else {
        return response::not_found();
    };
    if cx.state.rate_limits.check_lockout(cx.client).is_err() {
        return response::too_many_requests(60);
    }
    let Some(body) = read_json::<Finish<PublicKeyCredential>>(request).await else {
        return response::bad_request("expected {\"ceremony\", \"credential\"}\n");
    };
    let now = Utc::now();
    let state: LoginState = match cx.state.logins.take(&body.ceremony, now).await {
        Ok(state) => state,
        Err(e) => return refused(&cx, format!("login finish: {e}")),
    };
    let principal = match passkeys.finish_login(&state, &body.credential, now).await {
        Ok(principal) => principal,
        Err(e) if e.is_refusal() => return refused(&cx, format!("login finish: {e}")),
        Err(e) => return failed(&e),
    };
    start_session(&cx, principal, AuthMethod::Passkey).await
}
