//! `/admin/passkeys`: the owner's passkeys, and removing one (a lost device).
//! Adding one is the setup link's (`POST /admin/passkeys/setup-link`).

use axum::body::Body;
use hardshell_audit::AuditEvent;
use hardshell_audit::event::PasskeyRemoved;
use hardshell_auth::passkey::{PasskeyId, Removal};
use hardshell_auth::{Admin, Permit};
use http::{Method, Request, StatusCode};

use crate::response::{self, HttpResponse};
use crate::routes::{Context, RoutesBuilder};

pub(super) fn register(routes: RoutesBuilder) -> RoutesBuilder {
    routes.route(Method::GET, "/admin/passkeys", list).route(
        Method::DELETE,
        "/admin/passkeys/{id}",
        remove,
    )
}

async fn list(_: Permit<Admin>, cx: Context, _: Request<Body>) -> HttpResponse {
    let Some(passkeys) = &cx.state.passkeys else {
        return response::not_found();
    };
    match passkeys.list().await {
        Ok(list) => response::json(StatusCode::OK, &serde_json::json!({ "passkeys": list })),
        Err(e) => {
            tracing::error!(error = %e, "listing passkeys failed");
            response::internal_error()
        }
    }
}

/// Removing a passkey takes a way in away, so an admin may; removing the last
/// one would lock the owner out until someone runs `hardshell` on the host,
/// so it is refused here.
async fn remove(permit: Permit<Admin>, cx: Context, _: Request<Body>) -> HttpResponse {
    let Some(passkeys) = &cx.state.passkeys else {
        return response::not_found();
    };
    let Some(id) = PasskeyId::parse(cx.param("id").unwrap_or_default()) else {
        return response::not_found();
    };
    match passkeys.remove_unless_last(&id, chrono::Utc::now()).await {
        Ok(Removal::Removed) => {}
        Ok(Removal::NotFound) => return response::not_found(),
        Ok(Removal::Last) => {
            return response::text(
                StatusCode::CONFLICT,
                "this is the owner's last passkey: add another before removing it\n",
            );
        }
        Ok(Removal::Busy) => {
            return response::text(
                StatusCode::CONFLICT,
                "another passkey is being removed: try again in a moment\n",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "removing a passkey failed");
            return response::internal_error();
        }
    }
    let event = AuditEvent::PasskeyRemoved(PasskeyRemoved {
        passkey: id.as_str().to_owned(),
        actor: Some(permit.identity().subject.clone()),
    });
    if cx.state.audit.admin_action(event).await.is_err() {
        return response::internal_error();
    }
    response::text(StatusCode::NO_CONTENT, "")
}
