//! `/admin/overview`: who is signed in, until when the login is fresh enough
//! for actions that grant access, and the access configuration (read only);
//! `/admin/spend`: this month's model spend against the cap;
//! `/admin/requests`: the last hour or day of requests by outcome.

use axum::body::Body;
use chrono::Utc;
use hardshell_auth::{Admin, Permit};
use http::{Method, Request, StatusCode};

use crate::response::{self, HttpResponse};
use crate::routes::{Context, RoutesBuilder};

pub(super) fn register(routes: RoutesBuilder) -> RoutesBuilder {
    routes
        .route(Method::GET, "/admin/overview", overview)
        .route(Method::GET, "/admin/spend", spend)
        .route(Method::GET, "/admin/requests", requests)
}

async fn overview(permit: Permit<Admin>, cx: Context, _: Request<Body>) -> HttpResponse {
    let principal = permit.identity();
    // The same rule as `FreshAdmin`: only an interactive login is ever fresh.
    let fresh_until = principal
        .method
        .is_interactive()
        .then(|| chrono::Duration::from_std(cx.state.policy.fresh_login).ok())
        .flatten()
        .map(|window| principal.authenticated_at + window);
    response::json(
        StatusCode::OK,
        &serde_json::json!({
            "principal": {
                "subject": principal.subject,
                "email": principal.email,
                "method": principal.method,
                "authenticated_at": principal.authenticated_at,
            },
            "fresh_until": fresh_until,
            "access": cx.state.admin.access,
            "features": cx.state.admin.features,
        }),
    )
}

async fn spend(_: Permit<Admin>, cx: Context, _: Request<Body>) -> HttpResponse {
    let month = match cx.state.admin.ledger.month(Utc::now()).await {
        Ok(month) => month,
        Err(e) => {
            tracing::error!(error = %e, "reading the spend ledger failed");
            return response::internal_error();
        }
    };
    let usd = |micro: hardshell_llm::MicroUsd| micro.0 as f64 / 1_000_000.0;
    let models: Vec<serde_json::Value> = month
        .models
        .iter()
        .map(|(model, usage)| {
            serde_json::json!({
                "model": model.to_string(),
                "requests": usage.requests,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cost_usd": usd(usage.cost),
            })
        })
        .collect();
    response::json(
        StatusCode::OK,
        &serde_json::json!({
            "month": month.month,
            "cap_usd": cx.state.admin.spend_cap_usd,
            "total_usd": usd(month.cost),
            "models": models,
        }),
    )
}

/// `?hours=1` (a point a minute) or `?hours=24`, the default (a point every
/// 15 minutes).
async fn requests(_: Permit<Admin>, cx: Context, request: Request<Body>) -> HttpResponse {
    let hours = url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
        .find(|(name, _)| name == "hours")
        .map(|(_, value)| value.into_owned());
    let (minutes, step) = match hours.as_deref() {
        Some("1") => (60, 1),
        Some("24") | None => (crate::metrics::timeline::MINUTES, 15),
        Some(_) => return response::bad_request("hours is 1 or 24\n"),
    };
    let now = crate::metrics::this_minute();
    let points: Vec<serde_json::Value> = cx
        .state
        .metrics
        .timeline()
        .points(now, minutes, step)
        .iter()
        .map(|point| {
            let at = i64::try_from(point.minute.saturating_mul(60))
                .ok()
                .and_then(|secs| chrono::DateTime::<Utc>::from_timestamp(secs, 0));
            serde_json::json!({
                "at": at,
                "served": point.served,
                "refused": point.refused,
                "client_errors": point.client_errors,
                "server_errors": point.server_errors,
            })
        })
        .collect();
    response::json(
        StatusCode::OK,
        &serde_json::json!({ "step_minutes": step, "points": points }),
    )
}
