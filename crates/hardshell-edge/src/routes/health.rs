//! `/healthz`: liveness for load balancers. Public, and says nothing else.

use axum::body::Body;
use hardshell_auth::{Permit, Public};
use http::{Method, Request, StatusCode};

use crate::response::{self, HttpResponse};
use crate::routes::{Context, RoutesBuilder};

pub(super) fn register(routes: RoutesBuilder) -> RoutesBuilder {
    routes.route(Method::GET, "/healthz", healthz)
}

async fn healthz(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    response::json(StatusCode::OK, &serde_json::json!({ "status": "ok" }))
}
