//! The edge's own pages and their assets, compiled into the binary: nothing is
//! read from disk at request time and nothing is fetched from elsewhere.
//!
//! The pages are public: they hold no data, and their scripts ask the APIs,
//! which check the caller. The admin page (`/admin`) is served whatever is
//! behind the edge: its APIs are the edge's (`routes/admin.rs`). They are assets (`RoutesBuilder::asset`): constant,
//! and not charged to the request rate limits. The chat page (`/`) is served
//! only when the edge runs the built-in agent; with an `[upstream]`, `/` belongs
//! to the upstream.

use std::sync::LazyLock;

use axum::body::Body;
use hardshell_auth::{Permit, Public};
use http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderValue};
use http::{Request, StatusCode};

use crate::response::{HttpResponse, PAGE_CONTENT_SECURITY_POLICY};
use crate::routes::{Context, RoutesBuilder};

const LOGIN_HTML: &str = include_str!("../../assets/login.html");
const LOGIN_JS: &str = include_str!("../../assets/login.js");
const LOGIN_CSS: &str = include_str!("../../assets/login.css");
const CHAT_HTML: &str = include_str!("../../assets/chat.html");
const CHAT_JS: &str = include_str!("../../assets/chat.js");
const CHAT_CSS: &str = include_str!("../../assets/chat.css");
const MARKDOWN_JS: &str = include_str!("../../assets/markdown.js");
const ADMIN_HTML: &str = include_str!("../../assets/admin.html");
const ADMIN_KIT_JS: &str = include_str!("../../assets/admin-kit.js");
const ADMIN_ACTIVITY_JS: &str = include_str!("../../assets/admin-activity.js");
const ADMIN_PAIRING_JS: &str = include_str!("../../assets/admin-pairing.js");
const ADMIN_PARTS_JS: &str = include_str!("../../assets/admin-parts.js");
const ADMIN_JS: &str = include_str!("../../assets/admin.js");
const ADMIN_CSS: &str = include_str!("../../assets/admin.css");

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

pub(super) fn register(routes: RoutesBuilder) -> RoutesBuilder {
    routes
        .asset("/login", login_page)
        .asset("/login.js", login_script)
        .asset("/login.css", login_style)
        .asset("/admin", admin_page)
        .asset("/admin/admin-kit.js", admin_kit_script)
        .asset("/admin/admin-activity.js", admin_activity_script)
        .asset("/admin/admin-pairing.js", admin_pairing_script)
        .asset("/admin/admin-parts.js", admin_parts_script)
        .asset("/admin/admin.js", admin_script)
        .asset("/admin/admin.css", admin_style)
}

/// The web chat with the built-in agent (its API is `routes/chat.rs`).
pub(super) fn register_chat(routes: RoutesBuilder) -> RoutesBuilder {
    routes
        .asset("/", chat_page)
        .asset("/chat.js", chat_script)
        .asset("/chat.css", chat_style)
        .asset("/markdown.js", markdown_script)
}

/// A page or one of its files; a page gets the pages' policy, which requires
/// Trusted Types on top of the edge's.
fn asset(body: &'static str, content_type: &'static str) -> HttpResponse {
    let mut response = http::Response::new(Body::from(body));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if content_type == HTML {
        headers.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CONTENT_SECURITY_POLICY),
        );
    }
    response
}

/// The login page with its identity provider's link shown, for an edge
/// with `[access.oidc]`.
static LOGIN_HTML_OIDC: LazyLock<String> = LazyLock::new(|| {
    LOGIN_HTML.replace(
        "<section id=\"oidc\" aria-labelledby=\"oidc-title\" hidden>",
        "<section id=\"oidc\" aria-labelledby=\"oidc-title\">",
    )
});

async fn login_page(_: Permit<Public>, cx: Context, _: Request<Body>) -> HttpResponse {
    match cx.state.oidc {
        Some(_) => asset(LazyLock::force(&LOGIN_HTML_OIDC).as_str(), HTML),
        None => asset(LOGIN_HTML, HTML),
    }
}

async fn login_script(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    asset(LOGIN_JS, JAVASCRIPT)
}

async fn login_style(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    asset(LOGIN_CSS, CSS)
}

async fn chat_page(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    asset(CHAT_HTML, HTML)
}

async fn chat_script(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    asset(CHAT_JS, JAVASCRIPT)
}

async fn chat_style(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    asset(CHAT_CSS, CSS)
}

async fn markdown_script(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    asset(MARKDOWN_JS, JAVASCRIPT)
}

async fn admin_page(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    asset(ADMIN_HTML, HTML)
}

async fn admin_kit_script(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    asset(ADMIN_KIT_JS, JAVASCRIPT)
}

async fn admin_activity_script(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    asset(ADMIN_ACTIVITY_JS, JAVASCRIPT)
}

async fn admin_pairing_script(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    asset(ADMIN_PAIRING_JS, JAVASCRIPT)
}

async fn admin_parts_script(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    asset(ADMIN_PARTS_JS, JAVASCRIPT)
}

async fn admin_script(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    asset(ADMIN_JS, JAVASCRIPT)
}

async fn admin_style(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    asset(ADMIN_CSS, CSS)
}
