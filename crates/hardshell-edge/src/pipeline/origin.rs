//! The origin phase: a request that a browser may have sent on another page's
//! behalf must come from our own origin.
//!
//! Two kinds of request are checked:
//! - one that changes state (any method but GET, HEAD, OPTIONS) and is
//!   authenticated by an *ambient* credential, one the browser attaches on its
//!   own: the edge's session cookie, Cloudflare's `CF_Authorization` cookie, or
//!   the `Cf-Access-Jwt-Assertion` header Cloudflare adds to every browser
//!   request it lets through. Whatever page made the request, it carries them.
//! - every WebSocket handshake, whatever its credential: it is a GET, a page on
//!   any site may open one, and it carries the ambient credentials too.
//!
//! `Authorization: Bearer` is not ambient: a page cannot make a browser add it.

use http::HeaderMap;
use http::Method;
use http::header::ORIGIN;

/// The header browsers add to say how the request's initiator relates to its
/// target (Fetch Metadata); used when `Origin` is absent.
const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// Why the origin phase refused a request, as recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CrossOrigin {
    /// A state-changing request with an ambient credential, from elsewhere.
    AmbientCredential,
    /// A WebSocket handshake from elsewhere.
    WebSocket,
}

impl CrossOrigin {
    pub fn reason(self) -> &'static str {
        match self {
            CrossOrigin::AmbientCredential => "cross-origin request with an ambient credential",
            CrossOrigin::WebSocket => "cross-origin websocket handshake",
        }
    }
}

/// What the phase needs to know about the request.
pub(crate) struct Request<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    /// The credential that authenticated it was attached by the browser itself.
    pub ambient: bool,
    pub websocket: bool,
    /// `scheme://host[:port]` of the public URL.
    pub public_origin: &'a str,
}

/// Refuses a request that a page from another origin may have made.
pub(crate) fn check(request: &Request<'_>) -> Result<(), CrossOrigin> {
    let refusal = if request.websocket {
        CrossOrigin::WebSocket
    } else if request.ambient && !is_safe(request.method) {
        CrossOrigin::AmbientCredential
    } else {
        return Ok(());
    };
    if from_our_origin(request.headers, request.public_origin) {
        Ok(())
    } else {
        Err(refusal)
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn from_our_origin(headers: &HeaderMap, public_origin: &str) -> bool {
    // Two `Origin` lines are not something a browser sends: refuse.
    let mut origins = headers.get_all(ORIGIN).iter();
    match (origins.next(), origins.next()) {
        (Some(origin), None) => return origin.as_bytes() == public_origin.as_bytes(),
        (Some(_), Some(_)) => return false,
        (None, _) => {}
    }
    // Browsers send `Origin` on every state-changing request and every WebSocket
    // handshake; one that did not (older engines) still says where the request
    // came from in `Sec-Fetch-Site`. With neither, the client is not a browser,
    // and the credential it holds was given to it, not attached on its own.
    match headers.get(SEC_FETCH_SITE) {
        None => true,
        Some(site) => site.as_bytes() == b"same-origin",
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    const OURS: &str = "https://hs.example";

    fn headers(lines: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in lines {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn checked(
        method: Method,
        ambient: bool,
        websocket: bool,
        map: &HeaderMap,
    ) -> Result<(), CrossOrigin> {
        check(&Request {
            method: &method,
            headers: map,
            ambient,
            websocket,
            public_origin: OURS,
        })
    }

    #[test]
    fn ambient_writes_from_another_origin_are_refused() {
        for foreign in [
            headers(&[("origin", "https://evil.example")]),
            headers(&[("origin", "null")]),
            headers(&[("origin", OURS), ("origin", "https://evil.example")]),
            headers(&[("sec-fetch-site", "cross-site")]),
            headers(&[("sec-fetch-site", "same-site")]),
        ] {
            assert_eq!(
                checked(Method::POST, true, false, &foreign),
                Err(CrossOrigin::AmbientCredential),
                "{foreign:?}"
            );
        }
    }

    #[test]
    fn ambient_writes_from_our_origin_or_no_browser_pass() {
        for ours in [
            headers(&[("origin", OURS)]),
            headers(&[("sec-fetch-site", "same-origin")]),
            HeaderMap::new(),
        ] {
            assert_eq!(
                checked(Method::POST, true, false, &ours),
                Ok(()),
                "{ours:?}"
            );
        }
    }

    #[test]
    fn bearer_writes_and_ambient_reads_are_not_checked() {
        let foreign = headers(&[("origin", "https://evil.example")]);
        assert_eq!(checked(Method::POST, false, false, &foreign), Ok(()));
        assert_eq!(checked(Method::GET, true, false, &foreign), Ok(()));
    }

    #[test]
    fn every_websocket_handshake_is_checked_whatever_its_credential() {
        let foreign = headers(&[("origin", "https://evil.example")]);
        for ambient in [true, false] {
            assert_eq!(
                checked(Method::GET, ambient, true, &foreign),
                Err(CrossOrigin::WebSocket)
            );
        }
        let ours = headers(&[("origin", OURS)]);
        assert_eq!(checked(Method::GET, true, true, &ours), Ok(()));
    }
}
