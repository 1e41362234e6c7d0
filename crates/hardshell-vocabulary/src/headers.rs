//! The request headers the edge owns: what it never forwards, what it strips
//! from a client and sets itself. The edge's proxy scrubs with these lists;
//! the config refuses one of them as a workload's or an upstream's
//! `identity_header` (it would be dropped, or carry a second meaning the
//! upstream could not tell apart). One list, so the two cannot drift.

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1).
pub const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

/// Request headers a client may not pass to the upstream: its credentials, a
/// made-up identity (`x-hardshell-identity`, the edge's signed one), and every
/// header some proxy or CDN uses to name the client or the original request
/// (an upstream that reads any of them would believe the client's claim). The
/// edge sets `X-Forwarded-For` and `-Proto` itself.
pub const STRIPPED_FROM_CLIENT: [&str; 19] = [
    "authorization",
    "cf-access-jwt-assertion",
    "cf-access-authenticated-user-email",
    "x-hardshell-identity",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-server",
    "x-forwarded-prefix",
    "forwarded",
    "x-real-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "x-original-forwarded-for",
    "true-client-ip",
    "cf-connecting-ip",
    "cf-connecting-ipv6",
    "fastly-client-ip",
];

/// Headers the edge sets or reads for itself on every proxied request.
const EDGE_SET: [&str; 8] = [
    "x-request-id",
    "host",
    "cookie",
    "set-cookie",
    "content-length",
    "content-type",
    "upgrade",
    "origin",
];

/// Whether `name` (any case) is a header the edge owns, or a WebSocket
/// handshake's: never an upstream's identity header.
pub fn is_edge_owned(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    HOP_BY_HOP.contains(&name.as_str())
        || STRIPPED_FROM_CLIENT.contains(&name.as_str())
        || EDGE_SET.contains(&name.as_str())
        || name.starts_with("sec-websocket-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_edges_headers_are_its_own_in_any_case_and_others_are_not() {
        for name in [
            "X-Forwarded-For",
            "authorization",
            "Cookie",
            "TE",
            "Sec-WebSocket-Key",
        ] {
            assert!(is_edge_owned(name), "{name}");
        }
        for name in [
            "X-Forwarded-User",
            "x-auth-request-email",
            "x-pomerium-claim-email",
        ] {
            assert!(!is_edge_owned(name), "{name}");
        }
    }
}
