//! The login hand-over to the upstream's own host (`[upstream] host`).
//!
//! The edge's session cookie is host-only on the edge's host and never valid on
//! the upstream's, so a browser arriving there without a session of that host
//! is given a random `state` in a cookie of that host and sent (`pipeline.rs`)
//! to `GET /auth/handoff?next=/path&state=…` on the edge's host. There, once
//! logged in (or after `/login`, which comes back here), the edge mints a
//! single-use code bound to the owner's session, the upstream's host and the
//! `state`, and redirects to `GET /.hardshell/handoff?code=…&next=/path` on the
//! upstream's host, which redeems it, with the browser's `state` cookie, for a
//! session of that host (a child of the owner's, ending with it: see
//! hardshell-auth's `handoff.rs`), sets its cookie and redirects to the path.
//! `next` is a path on the upstream's host and nothing else, checked at both
//! ends.
//!
//! With Cloudflare Access there is nothing to hand over: the upstream's host,
//! behind the same Access application, brings its own token, which the
//! pipeline verifies there exactly as on the edge's host.

use axum::body::Body;
use chrono::Utc;
use hardshell_audit::AuditEvent;
use hardshell_audit::event::{RequestId, SessionHandedOver};
use hardshell_auth::{Chat, Method as AuthMethod, Permit, Public, Subject, authorize};
use http::header::{HeaderValue, LOCATION, SET_COOKIE};
use http::{Method, Request, StatusCode};
use url::form_urlencoded;

use crate::pipeline::target;
use crate::response::{self, HttpResponse};
use crate::routes::{Context, RoutesBuilder};

/// Where the hand-over starts, on the edge's host.
pub(crate) const START: &str = "/auth/handoff";
/// Where it ends, on the upstream's host: a first segment the upstream never
/// gets (`routes.rs` keeps every spelling of an edge-owned segment).
const FINISH: &str = "/.hardshell/handoff";

pub(super) fn register_edge(routes: RoutesBuilder) -> RoutesBuilder {
    routes
        .route(Method::GET, START, start)
        .route(Method::GET, "/", to_upstream)
}

pub(super) fn register_upstream_host(routes: RoutesBuilder) -> RoutesBuilder {
    routes
        .route(Method::GET, FINISH, finish)
        .route(Method::GET, "/.hardshell/{*rest}", reserved)
        .route(Method::POST, "/.hardshell/{*rest}", reserved)
}

/// How long a browser has from being sent to the edge to coming back: a
/// login included.
const STATE_MAX_AGE_SECS: u64 = 10 * 60;

/// Where the pipeline sends a browser that has no session on the upstream's
/// host: the start of the hand-over, on the edge's origin, with a fresh
/// `state` that this browser alone holds, in a cookie of the upstream's host.
pub(crate) fn to_start(
    public_origin: &str,
    path_and_query: &str,
    cookies: crate::cookies::CookiePolicy,
) -> HttpResponse {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        return response::internal_error();
    }
    let state = hex::encode(bytes);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("next", path_and_query)
        .append_pair("state", &state)
        .finish();
    let Some(cookie) = cookies.lax(cookies.handoff_state_name(), &state, STATE_MAX_AGE_SECS) else {
        return response::internal_error();
    };
    let mut response = redirect(&format!("{public_origin}{START}?{query}"));
    response.headers_mut().append(SET_COOKIE, cookie);
    response
}

/// A `state` as [`to_start`] makes them: 32 lower-case hex digits.
fn is_state(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The edge's host has no page of its own at `/` when the upstream has a host:
/// where a login lands without a `next` (an OIDC login always), it goes on to
/// the upstream's, which starts the hand-over when it has no session there.
async fn to_upstream(_: Permit<Public>, cx: Context, _: Request<Body>) -> HttpResponse {
    match cx.state.upstream.as_ref().and_then(|u| u.site.as_ref()) {
        Some(site) => redirect(&format!("{}/", site.origin)),
        None => response::not_found(),
    }
}

/// Mints the code for a logged-in browser; sends one that is not to log in.
async fn start(permit: Permit<Public>, cx: Context, request: Request<Body>) -> HttpResponse {
    let state = &cx.state;
    let Some(site) = state.upstream.as_ref().and_then(|u| u.site.as_ref()) else {
        return response::not_found();
    };
    let Some(next) = query_value(&request, "next").filter(|next| is_local_path(next)) else {
        return response::bad_request("next must be a path on the upstream's host\n");
    };
    let Some(browser_state) = query_value(&request, "state").filter(|state| is_state(state)) else {
        return response::bad_request("the hand-over must begin on the upstream's host\n");
    };
    let Some(principal) = permit.identity() else {
        let back: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &next)
            .append_pair("state", &browser_state)
            .finish();
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &format!("{START}?{back}"))
            .finish();
        return redirect(&format!("/login?{query}"));
    };
    // Only a browser's session is handed over: a token is presented on the
    // upstream's host itself, as on the edge's. So is a Cloudflare Access
    // token: that host is to be behind the same Access application, whose
    // token the pipeline verifies there as here. No session is made from one
    // (it would outlive the token's expiry and Cloudflare's revocation), and
    // the browser is not sent back (on a host Access does not cover, it would
    // come straight back here).
    let Some(session) = &cx.session else {
        let body = match principal.method {
            AuthMethod::CloudflareAccess => {
                "the upstream's host is admitted on its own Cloudflare Access token: \
                 put it behind the same Access application as this host\n"
            }
            _ => {
                "only a browser session is handed over; present the token to the upstream's host\n"
            }
        };
        return response::text(StatusCode::FORBIDDEN, body);
    };
    let now = Utc::now();
    let subject = Subject {
        principal: Some(principal),
        device: cx.device.as_ref(),
        now,
    };
    if authorize::<Chat>(&state.policy, &subject).is_err() {
        return response::forbidden();
    }
    let code = match state
        .handoffs
        .mint(
            principal,
            &session.handle,
            session.expires_at,
            &site.authority,
            &browser_state,
            now,
        )
        .await
    {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = %e, "minting a hand-over code failed");
            return response::internal_error();
        }
    };
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("code", code.expose())
        .append_pair("next", &next)
        .finish();
    redirect(&format!("{}{FINISH}?{query}", site.origin))
}

/// Redeems the code for a session of this host and goes on to `next`.
async fn finish(_: Permit<Public>, cx: Context, request: Request<Body>) -> HttpResponse {
    let state = &cx.state;
    let Some(site) = state.upstream.as_ref().and_then(|u| u.site.as_ref()) else {
        return response::not_found();
    };
    let Some(next) = query_value(&request, "next").filter(|next| is_local_path(next)) else {
        return response::bad_request("next must be a path on this host\n");
    };
    let code = query_value(&request, "code").unwrap_or_default();
    let cookies = state.cookies;
    let browser_state = crate::cookies::find(request.headers(), cookies.handoff_state_name());
    let handed = match state
        .handoffs
        .redeem(&code, &site.authority, browser_state, Utc::now())
        .await
    {
        Ok(handed) => handed,
        Err(e) if e.is_refusal() => {
            // A guess, a replay or a code for elsewhere: charged like any
            // failed credential.
            tracing::info!(reason = %e, "hand-over refused");
            state.rate_limits.charge_failure(cx.client, None);
            let mut refused = response::text(
                StatusCode::FORBIDDEN,
                "this sign-in link is used, expired, or not for this host or browser; \
                 open the page again\n",
            );
            refused
                .headers_mut()
                .append(SET_COOKIE, cookies.clear(cookies.handoff_state_name()));
            return refused;
        }
        Err(e) => {
            tracing::error!(error = %e, "redeeming a hand-over code failed");
            return response::internal_error();
        }
    };
    // On record before the browser gets the session, as a login is: one that
    // cannot be recorded is not given out (made already, it ends unused with
    // its chain).
    let recorded = match RequestId::new(&cx.request_id) {
        Ok(request_id) => {
            let event = AuditEvent::SessionHandedOver(SessionHandedOver {
                request_id,
                client: cx.client,
                subject: handed.subject.clone(),
                auth_method: handed.method,
            });
            state.audit.admin_action(event).await.is_ok()
        }
        Err(_) => false,
    };
    if !recorded {
        return response::internal_error();
    }
    let max_age = (handed.expires_at - Utc::now()).num_seconds().max(0);
    let Some(cookie) = state.cookies.origin_session(handed.id.expose(), max_age) else {
        return response::internal_error();
    };
    let mut response = redirect(&next);
    response.headers_mut().append(SET_COOKIE, cookie);
    response
        .headers_mut()
        .append(SET_COOKIE, cookies.clear(cookies.handoff_state_name()));
    response
}

async fn reserved(_: Permit<Public>, _: Context, _: Request<Body>) -> HttpResponse {
    response::not_found()
}

/// A 302 to `location` (the code is in it: the security headers add
/// `Referrer-Policy: no-referrer` and `Cache-Control: no-store`).
fn redirect(location: &str) -> HttpResponse {
    let Ok(value) = HeaderValue::from_str(location) else {
        return response::bad_request("bad redirect target\n");
    };
    let mut response = response::text(StatusCode::FOUND, "");
    response.headers_mut().insert(LOCATION, value);
    response
}

/// The first value of `name` in the request's query, decoded.
fn query_value(request: &Request<Body>, name: &str) -> Option<String> {
    form_urlencoded::parse(request.uri().query()?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Whether `next` can only be a path (and query) on the host it is followed
/// on: one leading `/` (`//host` is another host, and browsers read `/\host`
/// as `//host`), visible ASCII only, and a path the target phase would accept.
pub(crate) fn is_local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && next.bytes().all(|b| b.is_ascii_graphic())
        && !next.contains('\\')
        && next.parse::<http::uri::PathAndQuery>().is_ok()
        && target::check_path(next.split('?').next().unwrap_or_default()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_path_on_this_host_only() {
        for ok in ["/", "/chat?x=1&y=%20", "/control/ui/index.html"] {
            assert!(is_local_path(ok), "{ok}");
        }
        for off in [
            "",
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example/",
            "\\\\evil.example",
            "evil.example",
            "/x/../../admin",
            "/%2F%2Fevil.example",
            "/ space",
            "/\tx",
            "javascript:alert(1)",
        ] {
            assert!(!is_local_path(off), "{off:?}");
        }
    }
}
