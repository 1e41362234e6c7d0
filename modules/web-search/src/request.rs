//! The request to Brave's web search, as its API reference publishes it:
//! `GET https://api.search.brave.com/res/v1/web/search?q=…&count=…` with
//! `Accept: application/json` and the key in `X-Subscription-Token`.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::arguments::Search;

/// Brave's API host: the one host this module is granted.
pub const HOST: &str = "api.search.brave.com";
/// The web search endpoint.
pub const PATH: &str = "/res/v1/web/search";
/// The header Brave reads the key from.
pub const KEY_HEADER: &str = "x-subscription-token";
/// What the module sends in place of the key: the broker swaps the owner's
/// key in for it on the way to [`HOST`], and nowhere else. The name is the
/// one `manifest.toml` declares under `[capabilities] secrets`.
pub const KEY_PLACEHOLDER: &str = "hs-secret:BRAVE_SEARCH_API_KEY";

/// Everything but RFC 3986's unreserved characters is encoded in the
/// query's value, so nothing the model wrote can add a parameter.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The path and query of `search`'s request.
pub fn path_and_query(search: &Search) -> String {
    format!(
        "{PATH}?q={}&count={}",
        utf8_percent_encode(&search.query, QUERY_VALUE),
        search.count
    )
}

/// The request's headers, in order.
pub fn headers() -> [(&'static str, &'static str); 2] {
    [
        ("accept", "application/json"),
        (KEY_HEADER, KEY_PLACEHOLDER),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_query_is_one_encoded_parameter() {
        let search = Search {
            query: "rust & wasm?count=99#x é".into(),
            count: 3,
        };
        assert_eq!(
            path_and_query(&search),
            "/res/v1/web/search?q=rust%20%26%20wasm%3Fcount%3D99%23x%20%C3%A9&count=3"
        );
    }

    #[test]
    fn the_key_is_only_ever_a_placeholder() {
        assert_eq!(
            headers()
                .iter()
                .find(|(name, _)| *name == KEY_HEADER)
                .map(|(_, value)| *value),
            Some(KEY_PLACEHOLDER)
        );
    }
}
