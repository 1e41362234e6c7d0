//! `/admin/pairing`: who may talk to the agent from a chat platform, the
//! requests waiting for the owner, approving one by the code its sender was
//! given, and revoking a pairing. As `hardshell pair` does, with the admin as
//! the actor in the audit log. A pairing is a way in, so approving needs a
//! fresh login; taking one away needs an admin.

use axum::body::Body;
use chrono::Utc;
use hardshell_audit::AuditEvent;
use hardshell_audit::event::{PairingApproved, PairingRevoked};
use hardshell_auth::{Admin, FreshAdmin, Permit};
use hardshell_channels::{ChannelRole, Code, PairingError, Pairings, Platform, Sender};
use http::{Method, Request, StatusCode};
use serde::Deserialize;

use crate::response::{self, HttpResponse};
use crate::routes::{Context, RoutesBuilder, read_json};

pub(super) fn register(routes: RoutesBuilder) -> RoutesBuilder {
    routes
        .route(Method::GET, "/admin/pairing", list)
        .route(Method::POST, "/admin/pairing/approve", approve)
        .route(Method::DELETE, "/admin/pairing/{sender}", revoke)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Approve {
    code: String,
    role: ChannelRole,
}

/// The pairings, when a chat platform is configured: 404 otherwise, for the
/// page to hide its section.
fn pairings(cx: &Context) -> Option<&Pairings> {
    cx.state.admin.pairings.as_ref()
}

async fn list(_: Permit<Admin>, cx: Context, _: Request<Body>) -> HttpResponse {
    let Some(pairings) = pairings(&cx) else {
        return response::not_found();
    };
    let (paired, pending) = match pairings.list(Utc::now()).await {
        Ok(listed) => listed,
        Err(e) => {
            tracing::error!(error = %e, "listing pairings failed");
            return response::internal_error();
        }
    };
    let paired: Vec<serde_json::Value> = paired
        .iter()
        .map(|pairing| {
            serde_json::json!({
                "sender": pairing.sender.to_string(),
                "role": pairing.role,
                "subject": pairing.subject(),
                "approved_at": pairing.approved_at,
            })
        })
        .collect();
    // Never a request's code: only its sender has it, to give the owner.
    let pending: Vec<serde_json::Value> = pending
        .iter()
        .map(|request| {
            serde_json::json!({
                "sender": request.sender.to_string(),
                "requested_at": request.requested_at,
                "expires_at": request.expires_at,
            })
        })
        .collect();
    response::json(
        StatusCode::OK,
        &serde_json::json!({ "paired": paired, "pending": pending }),
    )
}

async fn approve(permit: Permit<FreshAdmin>, cx: Context, request: Request<Body>) -> HttpResponse {
    let Some(pairings) = pairings(&cx) else {
        return response::not_found();
    };
    let Some(wanted) = read_json::<Approve>(request).await else {
        return response::bad_request("expected {\"code\", \"role\": \"owner\" or \"guest\"}\n");
    };
    let pairing = match pairings
        .approve(&Code::typed(&wanted.code), wanted.role, Utc::now())
        .await
    {
        Ok(pairing) => pairing,
        Err(PairingError::UnknownCode) => {
            return response::text(
                StatusCode::NOT_FOUND,
                "no request waits with that code: codes expire after an hour and work once\n",
            );
        }
        Err(PairingError::TooManyPaired { .. }) => {
            return response::text(
                StatusCode::CONFLICT,
                "that platform has as many paired senders as it may: revoke one first\n",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "approving a pairing failed");
            return response::internal_error();
        }
    };
    let event = AuditEvent::PairingApproved(PairingApproved {
        sender: pairing.sender.clone(),
        role: pairing.role,
        subject: pairing.subject(),
        actor: Some(permit.identity().subject.clone()),
    });
    if cx.state.audit.admin_action(event).await.is_err() {
        // Unaudited, the pairing must not stand.
        let _ = pairings.revoke(&pairing.sender).await;
        return response::internal_error();
    }
    response::json(
        StatusCode::CREATED,
        &serde_json::json!({
            "sender": pairing.sender.to_string(),
            "role": pairing.role,
            "subject": pairing.subject(),
        }),
    )
}

/// `{sender}` is `platform:id`, as the list names it.
async fn revoke(permit: Permit<Admin>, cx: Context, _: Request<Body>) -> HttpResponse {
    let Some(pairings) = pairings(&cx) else {
        return response::not_found();
    };
    let Some(sender) = cx
        .param("sender")
        .and_then(|text| text.split_once(':'))
        .and_then(|(platform, id)| Sender::parse(Platform::parse(platform).ok()?, id).ok())
    else {
        return response::not_found();
    };
    match pairings.revoke(&sender).await {
        Ok(Some(_)) => {}
        Ok(None) => return response::not_found(),
        Err(e) => {
            tracing::error!(error = %e, "revoking a pairing failed");
            return response::internal_error();
        }
    }
    let event = AuditEvent::PairingRevoked(PairingRevoked {
        sender,
        actor: Some(permit.identity().subject.clone()),
    });
    if cx.state.audit.admin_action(event).await.is_err() {
        return response::internal_error();
    }
    response::text(StatusCode::NO_CONTENT, "")
}
