//! The edge's own pages and their assets, compiled into the binary: nothing is
//! read from disk at request time and nothing is fetched from elsewhere.

use axum::body::Body;
use hardshell_auth::{Permit, Public};
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, StatusCode};

use crate::response::HttpResponse;
use crate::routes::{Context, RoutesBuilder};

const LOGIN_HTML: &str = include_str!("../../assets/login.html");
const LOGIN_JS: &str = include_str!("../../assets/login.js");
const LOGIN_CSS: &str = include_str!("../../assets/login.css");

pub(super) fn register(routes: RoutesBuilder) -> RoutesBuilder {
    routes
        .route(Method::GET, "/login", login_page)
        .route(Method::GET, "/login.js", login_script)
        .route(Method::GET, "/login.css", login_style)
}

fn asset(body: &'static str, content_type: &'static str) -> HttpResponse {
    let mut response = http::Response::new(Body::from(body));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

async fn login_page(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    asset(LOGIN_HTML, "text/html; charset=utf-8")
}

async fn login_script(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    asset(LOGIN_JS, "text/javascript; charset=utf-8")
}

async fn login_style(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    asset(LOGIN_CSS, "text/css; charset=utf-8")
}
