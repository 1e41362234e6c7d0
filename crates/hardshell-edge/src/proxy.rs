//! The reverse proxy to the workload (the seed's Worker): HTTP and WebSocket, to a
//! loopback port or a unix socket.
//!
//! What crosses: the method, path, query, body and ordinary headers. What does not:
//! the client's credentials (`Authorization`, the edge's cookies, Cloudflare's
//! JWT), any `X-Hardshell-Identity`, forwarding or client-address header the
//! client made up, any header whose name has an underscore (CGI-style upstreams
//! read `X_Forwarded_For` as `X-Forwarded-For`), and hop-by-hop headers. What is added: a signed `X-Hardshell-Identity` for the
//! permitted principal, `X-Request-Id`, and `X-Forwarded-For`/`-Proto`. On the way
//! back, the upstream may not set the edge's own cookies.
//!
//! With `[upstream] identity_header`, that header is set to the principal's
//! name (any copy the client sent is removed). With `[upstream] host`, the
//! upstream is served on that host only, an origin apart from the edge's
//! ([`UpstreamSite`]; the login hand-over is `routes/handoff.rs`).
//!
//! The routes that forward to it, and the WebSocket relay, are in
//! `routes/upstream.rs`.

use std::time::Duration;

use axum::body::Body;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use hardshell_config::{HOP_BY_HOP, STRIPPED_FROM_CLIENT};

use crate::connector::{self, Target};
use crate::cookies;

/// The configured upstream and a pooled client for it.
pub(crate) struct Upstream {
    pub(crate) client: Client<connector::Connector, Body>,
    pub(crate) authority: &'static str,
    pub(crate) timeout: Duration,
    /// The upstream's own host, when it has one.
    pub(crate) site: Option<UpstreamSite>,
    /// The trusted-proxy header the edge fills with the principal's name.
    pub(crate) identity_header: Option<HeaderName>,
    /// Whether a workload hardshell runs is ready, from its health probes:
    /// while it starts, a failed connection is "starting", not an error.
    pub(crate) readiness: Option<tokio::sync::watch::Receiver<hardshell_workload::Status>>,
}

/// The origin the upstream is served on when `[upstream] host` is set: the
/// host with the public URL's scheme and port, so that it is as exact as the
/// edge's own (`app.localhost:8787` beside `localhost:8787`).
#[derive(Debug, Clone)]
pub(crate) struct UpstreamSite {
    /// `host[:port]`, as a browser sends it in `Host` (or `:authority`).
    pub(crate) authority: String,
    /// `scheme://host[:port]`, as a browser sends it in `Origin`.
    pub(crate) origin: String,
}

impl UpstreamSite {
    pub(crate) fn new(host: &str, public_url: &url::Url) -> Self {
        let authority = match public_url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let origin = format!("{}://{authority}", public_url.scheme());
        Self { authority, origin }
    }

    /// Whether a request whose host is `host` (checked by the target phase)
    /// is for this origin: exactly, but for the case of the name.
    pub(crate) fn serves(&self, host: Option<&str>) -> bool {
        host.is_some_and(|host| host.eq_ignore_ascii_case(&self.authority))
    }
}

/// Headers the edge sets or strips for itself, refused as
/// `[upstream] identity_header`: the edge could not both keep its meaning and
/// fill it with a name.
pub(crate) fn is_edges_own_header(name: &HeaderName) -> bool {
    hardshell_config::is_edge_owned_header(name.as_str())
}

impl Upstream {
    pub fn new(target: Target, timeout: Duration) -> Self {
        let authority = match target {
            Target::Tcp(_) => "127.0.0.1",
            Target::Unix(_) => "hardshell-upstream",
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector::Connector::new(target));
        Self {
            client,
            authority,
            timeout,
            site: None,
            identity_header: None,
            readiness: None,
        }
    }

    /// Told whether the workload behind it is ready.
    pub fn with_readiness(
        mut self,
        readiness: tokio::sync::watch::Receiver<hardshell_workload::Status>,
    ) -> Self {
        self.readiness = Some(readiness);
        self
    }

    /// The workload's state when it is not ready (`None`: ready, or not a
    /// workload of hardshell's).
    pub(crate) fn not_ready(&self) -> Option<hardshell_workload::Status> {
        let status = *self.readiness.as_ref()?.borrow();
        (status != hardshell_workload::Status::Ready).then_some(status)
    }

    /// Served only on `site`, an origin of its own.
    pub fn on_site(mut self, site: UpstreamSite) -> Self {
        self.site = Some(site);
        self
    }

    /// With `name` set to the principal's name on every request.
    pub fn with_identity_header(mut self, name: HeaderName) -> Self {
        self.identity_header = Some(name);
        self
    }
}

/// What the client sent, less what the upstream must not see: hop-by-hop
/// headers, the client's credentials and forwarding headers it made up.
pub(crate) fn scrub_request_headers(headers: &mut HeaderMap, websocket: bool) {
    strip_hop_by_hop(headers, websocket);
    // CGI, WSGI, PHP and many frameworks read `X_Forwarded_For` as
    // `X-Forwarded-For` (both become `HTTP_X_FORWARDED_FOR`), so a name with an
    // underscore could smuggle any header on this list past it. Like nginx by
    // default, drop them all.
    let underscored: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().contains('_'))
        .cloned()
        .collect();
    for name in underscored {
        headers.remove(name);
    }
    for name in STRIPPED_FROM_CLIENT {
        headers.remove(name);
    }
    cookies::strip_edge_cookies(headers);
}

/// What the upstream answered, less hop-by-hop headers and any attempt to set
/// the edge's own cookies.
pub(crate) fn scrub_response_headers(headers: &mut HeaderMap, upgraded: bool) {
    strip_hop_by_hop(headers, upgraded);
    // The upstream may set its own cookies, not the edge's: a compromised workload
    // must not be able to plant a session (fixation) or clear the owner's.
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|value| !sets_edge_cookie(value))
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
}

fn sets_edge_cookie(value: &HeaderValue) -> bool {
    // Read from the bytes, as a browser reads them: a value with a byte that is
    // not visible ASCII (which `to_str` refuses) still sets the cookie it names.
    let name = value
        .as_bytes()
        .split(|b| matches!(b, b'=' | b';'))
        .next()
        .unwrap_or_default()
        .trim_ascii();
    cookies::is_edge_cookie(name)
}

pub(crate) fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let connection = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    upgrade && connection
}

/// Removes hop-by-hop headers and any header the `Connection` header names. For a
/// WebSocket handshake, `Connection: upgrade` and `Upgrade` are kept.
fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // From the bytes: one token that is not visible ASCII must not keep the
    // others in the list from being honoured.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .filter_map(|token| HeaderName::from_bytes(token.trim_ascii()).ok())
        .filter(|name| !(keep_upgrade && name == header::UPGRADE))
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

pub(crate) fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_identity_is_stripped_from_clients_under_the_name_it_is_sent_by() {
        assert!(STRIPPED_FROM_CLIENT.contains(&hardshell_auth::identity::IDENTITY_HEADER));
        assert!(is_edges_own_header(&HeaderName::from_static(
            "x-hardshell-identity"
        )));
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "connection",
            HeaderValue::from_static("close, x-secret-hop"),
        );
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers, false);
        assert!(headers.get("x-secret-hop").is_none());
        assert!(headers.get("keep-alive").is_none());
        assert!(headers.get("connection").is_none());
        assert_eq!(headers.get("x-kept").unwrap(), "1");
    }

    /// Found by the `http_request_head` fuzz target: a byte that is not visible
    /// ASCII anywhere in `Connection` used to make the whole list be ignored.
    #[test]
    fn connection_named_headers_are_removed_whatever_else_the_list_holds() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "connection",
            HeaderValue::from_bytes(b"\x94, x-secret-hop").unwrap(),
        );
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers, false);
        assert!(headers.get("x-secret-hop").is_none());
    }

    #[test]
    fn underscored_and_client_address_headers_are_removed() {
        let mut headers = HeaderMap::new();
        for name in [
            "x_forwarded_for",
            "x_hardshell_identity",
            "transfer_encoding",
            "x-real-ip",
            "true-client-ip",
            "cf-connecting-ip",
            "x-client-ip",
        ] {
            headers.insert(name, HeaderValue::from_static("forged"));
        }
        headers.insert("x-kept", HeaderValue::from_static("1"));
        scrub_request_headers(&mut headers, false);
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert_eq!(headers.get("x-kept").unwrap(), "1");
    }

    #[test]
    fn the_upstream_cannot_set_edge_cookies() {
        for ours in [
            "hs_session=x; Path=/",
            "__Host-hs_session=x",
            "CF_Authorization=y",
        ] {
            assert!(sets_edge_cookie(&HeaderValue::from_static(ours)), "{ours}");
        }
        assert!(!sets_edge_cookie(&HeaderValue::from_static("theme=dark")));
    }

    /// Found by the `http_request_head` fuzz target: `to_str` refuses such a
    /// value, and the name used to be read as empty, so the cookie went through.
    #[test]
    fn the_upstream_cannot_set_edge_cookies_with_non_ascii_bytes() {
        for ours in [
            b"hs_\xff".as_slice(),
            b"hs_session=x; Path=/; \xe2\x80\x8b",
            b" __Host-hs_session=\xc3\xa9",
            b"CF_Authorization=\x80",
        ] {
            let value = HeaderValue::from_bytes(ours).unwrap();
            assert!(sets_edge_cookie(&value), "{ours:?}");
        }
        let theirs = HeaderValue::from_bytes(b"theme=\xc3\xa9t\xc3\xa9").unwrap();
        assert!(!sets_edge_cookie(&theirs));
    }

    #[test]
    fn websocket_upgrades_are_recognised() {
        let mut headers = HeaderMap::new();
        headers.insert("upgrade", HeaderValue::from_static("websocket"));
        headers.insert(
            "connection",
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(is_websocket_upgrade(&headers));
        headers.insert("connection", HeaderValue::from_static("keep-alive"));
        assert!(!is_websocket_upgrade(&headers));
    }
}
