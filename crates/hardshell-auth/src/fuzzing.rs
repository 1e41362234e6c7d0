//! Entry points for the fuzz targets in `fuzz/`: the credential-shape checks
//! that run before any storage read. Each calls the code the stores run; none is
//! a copy of it. Not part of this crate's API.

/// [`TokenStore::verify`](crate::TokenStore::verify)'s first step: `hs_tok_<id>_<secret>`
/// split into id and secret, or `None` if it is not of that shape.
pub fn parse_api_token(presented: &str) -> Option<(&str, &str)> {
    crate::tokens::parse(presented)
}

/// [`SessionStore::resolve`](crate::SessionStore::resolve)'s first step: whether
/// a cookie value has the shape of a session id at all.
pub fn is_session_cookie_shaped(cookie: &str) -> bool {
    crate::sessions::is_cookie_shaped(cookie)
}

/// The parser for a Cloudflare Access key set (`/cdn-cgi/access/certs`), as
/// fetched: how many usable RS256 keys it holds, or why it is refused.
pub fn parse_cf_access_key_set(body: &[u8]) -> Result<usize, crate::KeySetParseError> {
    crate::cf_access::keys::AccessKeys::parse(body).map(|keys| keys.len())
}
