//! Administration over HTTP: API tokens and metrics here; the admin page's
//! other views in `admin/`. Issuing a token weakens security (a new credential
//! exists), so it needs a fresh interactive login; listing and revoking need an
//! admin. Every change is written to the audit log before it is answered.

mod activity;
mod approvals;
mod audit;
mod overview;
mod pairing;
mod parts;
mod passkeys;

use std::time::Duration;

use axum::body::Body;
use chrono::Utc;
use hardshell_auth::{Admin, FreshAdmin, Permit, TokenScope};
use http::{Method, Request, StatusCode};
use serde::Deserialize;

use crate::response::{self, HttpResponse};
use crate::routes::{Context, RoutesBuilder};

/// Largest JSON body an admin endpoint reads.
const MAX_ADMIN_BODY: usize = 16 * 1024;

pub(super) fn register(routes: RoutesBuilder) -> RoutesBuilder {
    let routes = overview::register(routes);
    let routes = activity::register(routes);
    let routes = audit::register(routes);
    let routes = approvals::register(routes);
    let routes = passkeys::register(routes);
    let routes = pairing::register(routes);
    let routes = parts::register(routes);
    routes
        .route(Method::GET, "/admin/tokens", list_tokens)
        .route(Method::POST, "/admin/tokens", create_token)
        .route(Method::DELETE, "/admin/tokens/{id}", revoke_token)
        .route(Method::POST, "/admin/passkeys/setup-link", setup_link)
        .route(Method::GET, "/metrics", metrics)
}

async fn list_tokens(_: Permit<Admin>, cx: Context, _: Request<Body>) -> HttpResponse {
    match cx.state.tokens.list().await {
        Ok(records) => {
            // Named field by field: the stored record also holds the secret's
            // hash, which a reader of this list has no use for and an attacker
            // holding it could use to test guesses offline.
            let tokens: Vec<serde_json::Value> = records
                .iter()
                .map(|record| {
                    serde_json::json!({
                        "id": record.id,
                        "name": record.name,
                        "scope": record.scope,
                        "created_at": record.created_at,
                        "expires_at": record.expires_at,
                        "revoked_at": record.revoked_at,
                        "last_used_at": record.last_used_at,
                    })
                })
                .collect();
            response::json(StatusCode::OK, &serde_json::json!({ "tokens": tokens }))
        }
        Err(e) => {
            tracing::error!(error = %e, "listing tokens failed");
            response::internal_error()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    name: String,
    scope: TokenScope,
    expires_in_days: u64,
}

async fn create_token(
    permit: Permit<FreshAdmin>,
    cx: Context,
    request: Request<Body>,
) -> HttpResponse {
    let Ok(bytes) = axum::body::to_bytes(request.into_body(), MAX_ADMIN_BODY).await else {
        return response::bad_request("unreadable or oversized body\n");
    };
    let Ok(wanted) = serde_json::from_slice::<CreateToken>(&bytes) else {
        return response::bad_request(
            "expected {\"name\", \"scope\": \"chat\"|\"admin\", \"expires_in_days\"}\n",
        );
    };
    let lifetime = Duration::from_secs(wanted.expires_in_days.saturating_mul(86_400));
    let state = &cx.state;
    let (record, token) = match state
        .tokens
        .create(&wanted.name, wanted.scope, lifetime, Utc::now())
        .await
    {
        Ok(created) => created,
        Err(hardshell_auth::TokenError::InvalidName { .. }) => {
            return response::bad_request("invalid token name\n");
        }
        Err(hardshell_auth::TokenError::InvalidLifetime) => {
            return response::bad_request("invalid lifetime\n");
        }
        Err(e) => {
            tracing::error!(error = %e, "creating a token failed");
            return response::internal_error();
        }
    };
    if let Err(e) = state.audit.token_created(permit.identity(), &record).await {
        // Unaudited, the token must not exist: take it back before failing.
        tracing::error!(error = %e, "audit write failed; revoking the new token");
        let _ = state.tokens.revoke(&record.id, Utc::now()).await;
        return response::internal_error();
    }
    response::json(
        StatusCode::CREATED,
        &serde_json::json!({
            "id": record.id,
            "token": token.expose(),
            "scope": record.scope,
            "expires_at": record.expires_at,
        }),
    )
}

async fn revoke_token(permit: Permit<Admin>, cx: Context, _: Request<Body>) -> HttpResponse {
    let id = cx.param("id").unwrap_or_default().to_owned();
    let state = &cx.state;
    match state.tokens.revoke(&id, Utc::now()).await {
        Ok(Some(record)) => {
            if let Err(e) = state.audit.token_revoked(permit.identity(), &record).await {
                tracing::error!(error = %e, "audit write failed after revoking a token");
                return response::internal_error();
            }
            response::text(StatusCode::NO_CONTENT, "")
        }
        Ok(None) => response::not_found(),
        Err(e) => {
            tracing::error!(error = %e, "revoking a token failed");
            response::internal_error()
        }
    }
}

async fn metrics(_: Permit<Admin>, cx: Context, _: Request<Body>) -> HttpResponse {
    if cx.state.metrics_listen.is_some() {
        return response::not_found();
    }
    crate::metrics::exposition(&cx.state.metrics, cx.state.audit.backlog())
}

/// A link to register another passkey for the owner. A new passkey is a new way
/// in, so this needs a fresh interactive login.
async fn setup_link(permit: Permit<FreshAdmin>, cx: Context, _: Request<Body>) -> HttpResponse {
    let Some(passkeys) = &cx.state.passkeys else {
        return response::not_found();
    };
    let now = Utc::now();
    let token = match passkeys.setup_links().issue(now).await {
        Ok(token) => token,
        Err(e) => {
            tracing::error!(error = %e, "issuing a setup link failed");
            return response::internal_error();
        }
    };
    let expires_at = now + hardshell_auth::passkey::SETUP_LINK_TTL;
    let event =
        hardshell_audit::AuditEvent::SetupLinkIssued(hardshell_audit::event::SetupLinkIssued {
            expires_at,
            actor: Some(permit.identity().subject.clone()),
        });
    if cx.state.audit.admin_action(event).await.is_err() {
        return response::internal_error();
    }
    response::json(
        StatusCode::CREATED,
        &serde_json::json!({
            "link": token.link(&cx.state.public_url).as_str(),
            "expires_at": expires_at,
        }),
    )
}
