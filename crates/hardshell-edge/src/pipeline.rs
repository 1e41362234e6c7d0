//! The request pipeline. Every request the edge receives goes through these
//! phases, in this order, in [`handle`] below; a phase either passes the request
//! on or answers it.
//!
//! 1. **request id** — a fresh random id for logs, audit and the upstream. A
//!    client's own `X-Request-Id` is never trusted.
//! 2. **framing** — a body must be framed by `Content-Length`: any
//!    `Transfer-Encoding` is refused, so `Content-Length` + `Transfer-Encoding`
//!    ambiguity (request smuggling) cannot reach a handler or the upstream; an
//!    announced body over the limit is refused before it is read.
//! 3. **target** — exactly one valid `Host` (missing only on HTTP/1.0), and a
//!    path with one meaning: `//`, dot segments, backslashes and escaped `/`,
//!    `\\`, `.`, `%` or NUL are refused (`target.rs`), so that the edge and the
//!    upstream cannot read one path as two different resources.
//! 4. **client address** — the socket's, or `X-Forwarded-For` from a trusted
//!    proxy (an entry there that is not an address is refused with 400).
//! 5. **match** — the endpoint for method and path, in the table of the
//!    request's host (with `[upstream] host`, the upstream's own host has a
//!    table of its own: the proxy and the hand-over's end, none of the
//!    edge's routes; the edge's host has no proxy); unknown routes end here,
//!    before any credential is examined. A path whose first segment, decoded
//!    and case-folded, is one the edge serves (`/admin`, `/metrics/`,
//!    `/%61dmin/x`) is never matched to the proxy. On the few routes that take
//!    an API token from the query string (`/cdp`), it is moved into
//!    `Authorization` and the query dropped (`query_token.rs`).
//! 6. **authentication** — an address or account over its failed-authentication
//!    budget is refused before its credential is checked; then the credential is
//!    verified, and a failure is charged (unless the edge could not check it)
//!    and audited. With `only_from_trusted_proxies`, Cloudflare's token is looked
//!    for only on connections from a trusted proxy. The credential that proved
//!    the principal is watched (`watch.rs`), so that what the request opens (a
//!    WebSocket, a streamed turn) ends when it is revoked; so is the
//!    connection's device in phase 9.
//! 7. **origin** — a state-changing request authenticated by a credential the
//!    browser attaches on its own (session cookie, Cloudflare's cookie or
//!    header), and every WebSocket handshake, must come from our own origin
//!    (`origin.rs`): the edge's origin, or on the upstream's own host that
//!    host's origin. Before the rate limit, so that a refused cross-site
//!    request does not spend the owner's budget.
//! 8. **rate limit** — per client address and per principal; the edge's own
//!    constant page files (`RoutesBuilder::asset`) are not charged.
//! 9. **authorization** — the endpoint's requirement, decided by the pure policy,
//!    yields a permit or a denial (401 without identity, 503 when the edge
//!    could not check the credential it was given, 403 otherwise). A browser
//!    navigating to the upstream's own host without identity is sent to the
//!    login hand-over instead of a 401 (`routes/handoff.rs`).
//! 10. **audit** — the decision is recorded.
//! 11. **route** — the handler runs with its permit, under the request time limit
//!     (proxied streams excepted: the upstream's own timeout applies).

pub(crate) mod authn;
mod body;
pub(crate) mod limits;
mod origin;
mod query_token;
pub(crate) mod target;
pub(crate) mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use hardshell_auth::{Device, Revoked, Subject};
use http::header::{CONTENT_LENGTH, HeaderValue, SET_COOKIE, TRANSFER_ENCODING};
use http::{HeaderMap, Request};
use hyper::body::Incoming;
use tracing::Instrument;

use crate::audit::RequestFacts;
use crate::client_addr::client_address;
use crate::response::{self, HttpResponse};
use crate::routes::{Context, Match, Routes};
use crate::state::SharedState;

/// What the edge knows about a connection before any request on it.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    pub peer: SocketAddr,
    /// A verified, unrevoked device certificate presented in the TLS handshake.
    pub device: Option<Device>,
}

/// Runs one request through every phase and returns the response to send.
pub(crate) async fn handle(
    state: SharedState,
    routes: Arc<Routes>,
    conn: Arc<ConnInfo>,
    request: Request<Incoming>,
) -> HttpResponse {
    let started = Instant::now();
    // Phase 1: request id.
    let request_id = new_request_id();
    let span = tracing::info_span!("request", id = %request_id, method = %request.method());
    async move {
        let (mut response, route) = phases(&state, &routes, &conn, &request_id, request).await;
        response::add_security_headers(&mut response, &request_id, state.https);
        state
            .metrics
            .record_request(&route, response.status(), started.elapsed());
        tracing::debug!(status = response.status().as_u16(), route, "answered");
        response
    }
    .instrument(span)
    .await
}

async fn phases(
    state: &SharedState,
    routes: &Routes,
    conn: &ConnInfo,
    request_id: &str,
    mut request: Request<Incoming>,
) -> (HttpResponse, String) {
    // Phase 2: framing.
    match check_framing(request.headers(), state.limits.max_body_bytes) {
        Ok(()) => {}
        Err(FramingRefusal::TransferEncoding) => {
            return (
                response::bad_request("request bodies must be sent with Content-Length\n"),
                "framing".to_owned(),
            );
        }
        Err(FramingRefusal::TooLarge) => {
            return (response::payload_too_large(), "framing".to_owned());
        }
    }

    // Phase 3: target.
    if let Err(refusal) = target::check(request.version(), request.uri(), request.headers()) {
        return (response::bad_request(refusal.body()), "target".to_owned());
    }

    // Phase 4: client address.
    let Ok(client) = client_address(conn.peer.ip(), request.headers(), &state.trusted_proxies)
    else {
        return (
            response::bad_request("unreadable X-Forwarded-For\n"),
            "client_address".to_owned(),
        );
    };

    // Phase 5: match, in the table of the request's host.
    let site = state
        .upstream
        .as_ref()
        .and_then(|upstream| upstream.site.as_ref())
        .filter(|site| site.serves(request_host(&request)));
    let routes = match (site, routes.upstream_host()) {
        (None, _) => routes,
        (Some(_), Some(own)) => own,
        (Some(_), None) => return (response::not_found(), "unmatched".to_owned()),
    };
    let (endpoint, pattern, params) = match routes.find(request.method(), request.uri().path()) {
        Match::Found {
            endpoint,
            pattern,
            params,
        } => (endpoint.clone(), pattern, params),
        Match::NotFound => return (response::not_found(), "unmatched".to_owned()),
        Match::MethodNotAllowed => return (response::method_not_allowed(), "unmatched".to_owned()),
    };
    if endpoint.takes_query_token() {
        query_token::lift(&mut request);
    }
    let route = pattern.to_owned();
    let now = Utc::now();
    let method = request.method().clone();
    let facts = RequestFacts {
        request_id,
        client,
        method: &method,
        route: Some(&route),
    };

    // Phase 6: authentication.
    let sources = authn::CredentialSources::of(state, conn.peer.ip(), site);
    if authn::presents_credential(sources, request.headers()) {
        let locked = state.rate_limits.check_lockout(client).err().or_else(|| {
            authn::claimed_account(sources, request.headers())
                .and_then(|account| state.rate_limits.account_locked(&account, client))
        });
        if let Some(secs) = locked {
            state.audit.rate_limited(&facts, None, false, secs);
            state
                .metrics
                .record_rate_limited(limits::Limited::FailedAuth.as_str());
            return (response::too_many_requests(secs), route);
        }
    }
    let authentication = authn::authenticate(state, sources, request.headers(), now).await;
    if let Some(failure) = &authentication.failure {
        if failure.cause == authn::FailureCause::Credential {
            state
                .rate_limits
                .charge_failure(client, failure.account.as_deref());
        }
        state
            .metrics
            .record_auth_failure(authn::label(failure.kind));
        state.audit.credential_rejected(&facts, failure);
    }
    let principal = authentication.principal.as_ref();

    // Phase 7: origin.
    if let Err(refusal) = origin::check(&origin::Request {
        method: request.method(),
        headers: request.headers(),
        ambient: authentication.ambient,
        websocket: crate::proxy::is_websocket_upgrade(request.headers()),
        public_origin: site.map_or(&state.public_origin, |site| &site.origin),
    }) {
        state
            .audit
            .request_denied(&facts, principal, 403, refusal.reason());
        return (response::forbidden(), route);
    }

    // Phase 8: rate limit.
    if endpoint.is_rate_limited()
        && let Err((limit, secs)) = state
            .rate_limits
            .charge_request(client, principal.map(|p| p.subject.as_str()))
    {
        let by_principal = limit == limits::Limited::Principal;
        state
            .audit
            .rate_limited(&facts, principal, by_principal, secs);
        state.metrics.record_rate_limited(limit.as_str());
        return (response::too_many_requests(secs), route);
    }

    // Phase 9: authorization. The handshake's device counts only while it is
    // not revoked: connections outlive revocations. It is watched before it is
    // checked, so that no revocation falls between.
    let device_watch = conn.device.as_ref().map(|device| {
        state
            .revocations
            .watch(Revoked::Device(device.serial.clone()))
    });
    let device =
        crate::tls::unrevoked_device(state.revoked_devices.as_ref(), conn.device.as_ref()).await;
    let mut credentials = authentication.watch;
    if let (Some(_), Some(watch)) = (&device, device_watch) {
        credentials.add(watch);
    }
    let subject = Subject {
        principal,
        device: device.as_ref(),
        now,
    };
    let authorized = match endpoint.authorize(&state.policy, &subject) {
        Ok(authorized) => authorized,
        Err(denied) => {
            let unavailable = authentication
                .failure
                .as_ref()
                .is_some_and(|failure| failure.cause == authn::FailureCause::Unavailable);
            let response = if denied.is_unauthenticated() && unavailable {
                // Not "who are you?" but "we could not check": retry later.
                response::text(
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    "authentication temporarily unavailable\n",
                )
            } else if denied.is_unauthenticated()
                && site.is_some()
                && is_navigation(request.method(), request.headers())
            {
                let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
                crate::routes::handoff::to_start(&state.public_origin, target, state.cookies)
            } else if denied.is_unauthenticated() {
                response::unauthorized()
            } else {
                response::forbidden_because(&denied)
            };
            state.audit.request_denied(
                &facts,
                principal,
                response.status().as_u16(),
                &denied.to_string(),
            );
            return (with_cookie(response, authentication.set_cookie), route);
        }
    };

    // Phase 10: audit. A request that cannot be recorded is not served.
    if let Err(e) = state.audit.request_allowed(&facts, principal) {
        let body = match e {
            hardshell_audit::AuditError::StorageFull { .. } => {
                "storage full: the audit log cannot be written\n"
            }
            _ => "audit log unavailable\n",
        };
        return (
            response::text(http::StatusCode::SERVICE_UNAVAILABLE, body),
            route,
        );
    }

    // Phase 11: route.
    let request = request.map(|incoming| {
        body::guarded(
            incoming,
            state.limits.max_body_bytes,
            state.limits.request_timeout,
        )
    });
    let cx = Context {
        state: state.clone(),
        request_id: request_id.to_owned(),
        client,
        device,
        credentials,
        params,
        session: authentication.session,
    };
    let response = if endpoint.is_proxy() {
        authorized.run(cx, request).await
    } else {
        match tokio::time::timeout(state.limits.request_timeout, authorized.run(cx, request)).await
        {
            Ok(response) => response,
            Err(_) => response::text(http::StatusCode::REQUEST_TIMEOUT, "request timed out\n"),
        }
    };
    (with_cookie(response, authentication.set_cookie), route)
}

/// The host a request is for: `Host` on HTTP/1 (checked by the target phase),
/// the `:authority` on HTTP/2.
fn request_host<B>(request: &Request<B>) -> Option<&str> {
    match request.headers().get(http::header::HOST) {
        Some(host) => host.to_str().ok(),
        None => request.uri().authority().map(http::uri::Authority::as_str),
    }
}

/// A browser loading a page (rather than a script calling an API, or a client
/// with a token): the only request worth sending to a login page.
fn is_navigation(method: &http::Method, headers: &HeaderMap) -> bool {
    let reads = matches!(*method, http::Method::GET | http::Method::HEAD);
    let mode = headers
        .get("sec-fetch-mode")
        .map(|mode| mode.as_bytes() == b"navigate");
    let wants_html = headers
        .get(http::header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    reads
        && !headers.contains_key(http::header::AUTHORIZATION)
        && !crate::proxy::is_websocket_upgrade(headers)
        && mode.unwrap_or(wants_html)
}

/// Why the framing phase refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramingRefusal {
    /// Any `Transfer-Encoding`: only `Content-Length` framing is accepted.
    TransferEncoding,
    /// A `Content-Length` over the body limit, refused before the body is read.
    TooLarge,
}

/// Phase 2 on its own: pure over the headers, so it can be fuzzed.
pub(crate) fn check_framing(
    headers: &HeaderMap,
    max_body_bytes: u64,
) -> Result<(), FramingRefusal> {
    if headers.contains_key(TRANSFER_ENCODING) {
        return Err(FramingRefusal::TransferEncoding);
    }
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > max_body_bytes) {
        return Err(FramingRefusal::TooLarge);
    }
    Ok(())
}

fn with_cookie(mut response: HttpResponse, cookie: Option<HeaderValue>) -> HttpResponse {
    if let Some(cookie) = cookie {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

/// 96 random bits, hex. Falls back to a time-based id if the OS RNG fails, since
/// an id only has to be unique enough to correlate logs.
fn new_request_id() -> String {
    let mut bytes = [0u8; 12];
    match getrandom::fill(&mut bytes) {
        Ok(()) => hex::encode(bytes),
        Err(_) => format!(
            "t{:x}",
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ),
    }
}
