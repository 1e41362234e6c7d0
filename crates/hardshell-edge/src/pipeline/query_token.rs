//! An API token in the query string, on the routes registered to take one
//! (`RoutesBuilder::route_with_query_token`: the CDP proxy's, whose clients
//! are often given a bare URL, e.g. OpenClaw's `browser.cdpUrl`).
//!
//! A query string is logged by every proxy and kept in browser histories,
//! so this is for clients that have no other way; a header always wins.
//! The whole query is dropped here, whatever it held, so no later phase,
//! handler, log line or audit record can see the token.

use http::Request;
use http::header::{AUTHORIZATION, HeaderValue};
use http::uri::{PathAndQuery, Uri};

/// Moves `?token=` into `Authorization: Bearer` (unless the request has an
/// `Authorization` header already) and removes the query.
pub(crate) fn lift<B>(request: &mut Request<B>) {
    let Some(query) = request.uri().query() else {
        return;
    };
    let token = url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned());
    let mut parts = request.uri().clone().into_parts();
    parts.path_and_query = PathAndQuery::try_from(request.uri().path()).ok();
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    if let Some(token) = token
        && !request.headers().contains_key(AUTHORIZATION)
        && let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {token}"))
    {
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifted(uri: &str, authorization: Option<&str>) -> Request<()> {
        let mut request = Request::get(uri);
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        let mut request = request.body(()).unwrap_or_default();
        lift(&mut request);
        request
    }

    #[test]
    fn a_query_token_becomes_the_authorization_and_the_query_is_gone() {
        let request = lifted("/cdp?token=hs_tok_0011223344556677_secret&x=1", None);
        assert_eq!(request.uri(), "/cdp");
        assert_eq!(
            request.headers()[AUTHORIZATION],
            "Bearer hs_tok_0011223344556677_secret"
        );
        assert!(request.headers()[AUTHORIZATION].is_sensitive());
    }

    #[test]
    fn a_header_wins_and_a_query_without_a_token_is_dropped_all_the_same() {
        let request = lifted("/cdp?token=from-the-query", Some("Bearer from-the-header"));
        assert_eq!(request.uri(), "/cdp");
        assert_eq!(request.headers()[AUTHORIZATION], "Bearer from-the-header");
        let request = lifted("/cdp?other=1", None);
        assert_eq!(request.uri(), "/cdp");
        assert!(!request.headers().contains_key(AUTHORIZATION));
        // A token that cannot be a header value is not taken.
        let request = lifted("/cdp?token=a%0Ab", None);
        assert!(!request.headers().contains_key(AUTHORIZATION));
    }
}
