//! Entry points for the fuzz targets in `fuzz/`: the edge's pure header logic,
//! reached without a listener or an `EdgeState`. Each function here calls the
//! code the pipeline runs; none is a copy of it. Not part of the edge's API.

use std::net::IpAddr;

use hardshell_config::Cidr;
use http::HeaderMap;

use crate::cookies::CookiePolicy;
pub use crate::pipeline::FramingRefusal;
pub use crate::pipeline::target::TargetRefusal;

/// Phase 2 (framing): `Transfer-Encoding` refused, `Content-Length` bounded.
pub fn check_framing(headers: &HeaderMap, max_body_bytes: u64) -> Result<(), FramingRefusal> {
    crate::pipeline::check_framing(headers, max_body_bytes)
}

pub use crate::client_addr::UnreadableForwardedFor;

/// Phase 3 (target): one valid `Host`, a path with one meaning.
pub fn check_target(
    version: http::Version,
    uri: &http::Uri,
    headers: &HeaderMap,
) -> Result<(), TargetRefusal> {
    crate::pipeline::target::check(version, uri, headers)
}

/// Phase 4 (client address).
pub fn client_address(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[Cidr],
) -> Result<IpAddr, UnreadableForwardedFor> {
    crate::client_addr::client_address(peer, headers, trusted)
}

/// The value of cookie `name` when the request carries exactly one.
pub fn find_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    crate::cookies::find(headers, name)
}

/// The session cookie's name: `__Host-hs_session` with https, else `hs_session`.
pub fn session_cookie_name(https: bool) -> &'static str {
    CookiePolicy { secure: https }.session_name()
}

/// Phase 6's per-account failure key (`token:<id>`) for the credential presented.
pub fn claimed_account(headers: &HeaderMap, https: bool) -> Option<String> {
    crate::pipeline::authn::claimed_account(
        crate::pipeline::authn::CredentialSources {
            cookies: CookiePolicy { secure: https },
            cloudflare: true,
            site: None,
        },
        headers,
    )
}

/// Whether the request asks for a WebSocket upgrade the proxy will relay.
pub fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    crate::proxy::is_websocket_upgrade(headers)
}

/// The request headers the proxy forwards, before it adds its own.
pub fn scrub_request_headers(headers: &mut HeaderMap, websocket: bool) {
    crate::proxy::scrub_request_headers(headers, websocket);
}

/// The response headers the proxy passes back to the client.
pub fn scrub_response_headers(headers: &mut HeaderMap, upgraded: bool) {
    crate::proxy::scrub_response_headers(headers, upgraded);
}
