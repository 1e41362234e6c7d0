//! `/admin/parts`: the parts of hardshell the edge runs beside but does not
//! own (the modules and what they may do, the workload's image and state),
//! each as its wiring reads it; `/admin/browser`: the browser sessions open
//! now.

use std::time::Duration;

use axum::body::Body;
use hardshell_auth::{Admin, Permit};
use http::{Method, Request, StatusCode};

use crate::response::{self, HttpResponse};
use crate::routes::{Context, RoutesBuilder};

/// How long a part may take to answer before the page is told it did not.
const PART_WITHIN: Duration = Duration::from_secs(5);

pub(super) fn register(routes: RoutesBuilder) -> RoutesBuilder {
    routes
        .route(Method::GET, "/admin/parts", parts)
        .route(Method::GET, "/admin/browser", browser)
}

async fn parts(_: Permit<Admin>, cx: Context, _: Request<Body>) -> HttpResponse {
    let reads = cx.state.admin.parts.iter().map(|part| async move {
        match tokio::time::timeout(PART_WITHIN, part.status.read()).await {
            Ok(Ok(status)) => serde_json::json!({ "name": part.name, "status": status }),
            Ok(Err(reason)) => {
                tracing::warn!(part = part.name, reason = %reason, "reading a part for the admin page failed");
                serde_json::json!({ "name": part.name, "error": reason })
            }
            Err(_) => serde_json::json!({
                "name": part.name,
                "error": format!("it did not answer within {} s", PART_WITHIN.as_secs()),
            }),
        }
    });
    let parts = futures::future::join_all(reads).await;
    response::json(StatusCode::OK, &serde_json::json!({ "parts": parts }))
}

async fn browser(_: Permit<Admin>, cx: Context, _: Request<Body>) -> HttpResponse {
    let Some(browser) = &cx.state.browser else {
        return response::not_found();
    };
    response::json(
        StatusCode::OK,
        &serde_json::json!({
            "sessions": browser.sessions(),
            "max": browser.max_sessions(),
        }),
    )
}
