//! Device pairing over HTTP: issue a client certificate for a named device (a new
//! way in, so it needs a fresh interactive login), list them, revoke one. A
//! revocation rebuilds the TLS configuration at once, so the revoked certificate
//! cannot start another connection, and applies at once to the connections it
//! has open (their next request no longer carries the device).

use std::time::Duration;

use axum::body::Body;
use chrono::Utc;
use hardshell_audit::AuditEvent;
use hardshell_audit::event::{DeviceIssued, DeviceRevoked};
use hardshell_auth::devices::{DeviceError, DeviceName, MAX_DEVICE_VALIDITY};
use hardshell_auth::{Admin, FreshAdmin, Permit, Revoked};
use http::{Method, Request, StatusCode};
use serde::Deserialize;

use crate::response::{self, HttpResponse};
use crate::routes::{Context, RoutesBuilder, read_json};

pub(super) fn register(routes: RoutesBuilder) -> RoutesBuilder {
    routes
        .route(Method::GET, "/admin/devices", list)
        .route(Method::POST, "/admin/devices", issue)
        .route(Method::DELETE, "/admin/devices/{name}", revoke)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Issue {
    name: String,
    days: u64,
}

async fn list(_: Permit<Admin>, cx: Context, _: Request<Body>) -> HttpResponse {
    let Some(devices) = &cx.state.devices else {
        return response::not_found();
    };
    match devices.list().await {
        Ok(list) => response::json(StatusCode::OK, &serde_json::json!({ "devices": list })),
        Err(e) => {
            tracing::error!(error = %e, "listing devices failed");
            response::internal_error()
        }
    }
}

async fn issue(permit: Permit<FreshAdmin>, cx: Context, request: Request<Body>) -> HttpResponse {
    let Some(devices) = &cx.state.devices else {
        return response::not_found();
    };
    let Some(wanted) = read_json::<Issue>(request).await else {
        return response::bad_request("expected {\"name\", \"days\"}\n");
    };
    let Ok(name) = DeviceName::parse(&wanted.name) else {
        return response::bad_request("device names are a-z, 0-9 and '-', up to 63 characters\n");
    };
    let validity = Duration::from_secs(wanted.days.saturating_mul(86_400));
    if validity.is_zero() || validity > MAX_DEVICE_VALIDITY {
        return response::bad_request("days must be between 1 and 825\n");
    }
    let issued = match devices.issue(&name, validity, Utc::now()).await {
        Ok(issued) => issued,
        Err(DeviceError::DeviceExists { .. }) => {
            return response::text(
                StatusCode::CONFLICT,
                "a live certificate exists for that name; revoke it first\n",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "issuing a device certificate failed");
            return response::internal_error();
        }
    };
    let event = AuditEvent::DeviceIssued(DeviceIssued {
        device: issued.name.to_string(),
        serial: issued.serial.clone(),
        actor: Some(permit.identity().subject.clone()),
    });
    if cx.state.audit.admin_action(event).await.is_err() {
        // Unrecorded, the certificate must not stay valid.
        let _ = devices.revoke(&name, Utc::now()).await;
        return response::internal_error();
    }
    response::json(
        StatusCode::CREATED,
        &serde_json::json!({
            "name": issued.name,
            "serial": issued.serial,
            "not_after": issued.not_after,
            "certificate_pem": issued.cert_pem,
            "key_pem": issued.key_pem.as_str(),
            "ca_pem": devices.ca_certificate_pem(),
        }),
    )
}

async fn revoke(permit: Permit<Admin>, cx: Context, _: Request<Body>) -> HttpResponse {
    let Some(devices) = &cx.state.devices else {
        return response::not_found();
    };
    let Ok(name) = DeviceName::parse(cx.param("name").unwrap_or_default()) else {
        return response::not_found();
    };
    let info = match devices.revoke(&name, Utc::now()).await {
        Ok(info) => info,
        Err(DeviceError::UnknownDevice { .. }) => return response::not_found(),
        Err(e) => {
            tracing::error!(error = %e, "revoking a device failed");
            return response::internal_error();
        }
    };
    if let Some(revoked) = &cx.state.revoked_devices {
        revoked.note(&info.serial).await;
    }
    cx.state
        .revocations
        .announce(Revoked::Device(info.serial.clone()));
    if let Some(tls) = &cx.state.tls
        && let Err(e) = tls.refresh(Some(devices)).await
    {
        tracing::error!(error = %e, "rebuilding TLS after a revocation failed");
        return response::internal_error();
    }
    let event = AuditEvent::DeviceRevoked(DeviceRevoked {
        serial: info.serial,
        actor: Some(permit.identity().subject.clone()),
    });
    if cx.state.audit.admin_action(event).await.is_err() {
        return response::internal_error();
    }
    response::text(StatusCode::NO_CONTENT, "")
}
