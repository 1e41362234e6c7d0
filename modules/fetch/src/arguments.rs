//! The tool's arguments, and every address it is sent to (the model's, and
//! each redirect's), checked before anything leaves.

use http::Uri;

/// Longest address accepted, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Text answered when the model asks for no particular length.
pub const DEFAULT_CHARS: usize = 20_000;
/// Bounds of `max_chars`.
pub const MIN_CHARS: usize = 100;
pub const MAX_CHARS: usize = 100_000;

/// What the model asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub target: Target,
    pub max_chars: usize,
}

/// An address the module may send a `GET` to: http or https, a host, the
/// scheme's default port, no user name or password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    /// The host, lower case.
    pub host: String,
    /// The path and query (`/` when empty); the fragment dropped.
    pub path_and_query: String,
}

impl Fetch {
    /// `{"url": string, "max_chars"?: int}`; `Err` says what is wrong.
    pub fn parse(arguments: &str) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(arguments).map_err(|_| "the arguments are not JSON")?;
        let url = value
            .get("url")
            .and_then(serde_json::Value::as_str)
            .ok_or("give `url`, the page's address")?;
        let max_chars = match value.get("max_chars") {
            None | Some(serde_json::Value::Null) => DEFAULT_CHARS,
            Some(n) => {
                let n = n.as_u64().ok_or("`max_chars` must be a whole number")?;
                usize::try_from(n)
                    .unwrap_or(MAX_CHARS)
                    .clamp(MIN_CHARS, MAX_CHARS)
            }
        };
        Ok(Self {
            target: Target::parse(url)?,
            max_chars,
        })
    }
}

impl Target {
    /// `url` as an address this module may fetch.
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.len() > MAX_URL_BYTES {
            return Err(format!("the address is longer than {MAX_URL_BYTES} bytes"));
        }
        if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("the address holds spaces or control characters".to_owned());
        }
        // The fragment is the browser's, never sent.
        let url = url.split('#').next().unwrap_or_default();
        let uri: Uri = url.parse().map_err(|_| "that is not a web address")?;
        let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("only http:// and https:// addresses can be fetched".to_owned()),
        };
        let authority = uri.authority().ok_or("the address names no host")?;
        if authority.as_str().contains('@') {
            return Err("addresses with a user name or password are not fetched".to_owned());
        }
        let default_port = if https { 443 } else { 80 };
        if authority
            .port_u16()
            .is_some_and(|port| port != default_port)
        {
            return Err(format!(
                "only the default port ({default_port}) can be fetched: this module is granted the public web on ports 443 and 80"
            ));
        }
        let host = authority.host().to_ascii_lowercase();
        if host.is_empty() || host.starts_with('[') {
            return Err("the address names no host name".to_owned());
        }
        let path_and_query = uri
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or("/")
            .to_owned();
        Ok(Self {
            https,
            host,
            path_and_query,
        })
    }

    /// Where a redirect's `Location` leads from here: absolute, or a path on
    /// this host; checked like the model's address.
    pub fn redirected(&self, location: &str) -> Result<Self, String> {
        if location.starts_with('/') && !location.starts_with("//") {
            let scheme = if self.https { "https" } else { "http" };
            return Self::parse(&format!("{scheme}://{}{location}", self.host));
        }
        Self::parse(location)
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.host, self.path_and_query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_address_is_taken_with_its_query_and_without_its_fragment() {
        let fetch = Fetch::parse(r#"{"url": "https://News.Example.org/a/b?c=d#top"}"#).unwrap();
        assert_eq!(fetch.max_chars, DEFAULT_CHARS);
        assert!(fetch.target.https);
        assert_eq!(fetch.target.host, "news.example.org");
        assert_eq!(fetch.target.path_and_query, "/a/b?c=d");
        let bare = Target::parse("http://example.org").unwrap();
        assert_eq!(bare.to_string(), "http://example.org/");
        let port = Target::parse("https://example.org:443/x").unwrap();
        assert_eq!(port.path_and_query, "/x");
    }

    #[test]
    fn what_the_grant_does_not_cover_is_refused_before_it_is_sent() {
        for url in [
            "ftp://example.org/",
            "file:///etc/passwd",
            "https://user:pw@example.org/",
            "https://example.org:8443/",
            "http://example.org:443/",
            "https://[::1]/",
            "https:///path",
            "example.org/page",
            "https://exa mple.org/",
            "https://example.org/\u{7}",
        ] {
            assert!(Target::parse(url).is_err(), "{url}");
        }
        assert!(Target::parse(&format!("https://e.org/{}", "a".repeat(MAX_URL_BYTES))).is_err());
        assert!(Fetch::parse(r#"{"address": "https://e.org/"}"#).is_err());
        assert!(Fetch::parse(r#"{"url": "https://e.org/", "max_chars": "many"}"#).is_err());
    }

    #[test]
    fn the_length_asked_for_is_kept_within_bounds() {
        let long = Fetch::parse(r#"{"url": "https://e.org/", "max_chars": 99999999999}"#).unwrap();
        assert_eq!(long.max_chars, MAX_CHARS);
        let short = Fetch::parse(r#"{"url": "https://e.org/", "max_chars": 3}"#).unwrap();
        assert_eq!(short.max_chars, MIN_CHARS);
    }

    #[test]
    fn a_redirect_is_checked_like_the_first_address() {
        let from = Target::parse("https://example.org/old").unwrap();
        assert_eq!(
            from.redirected("/new?x=1").unwrap().to_string(),
            "https://example.org/new?x=1"
        );
        assert_eq!(
            from.redirected("http://other.example/")
                .unwrap()
                .to_string(),
            "http://other.example/"
        );
        for location in [
            "//evil.example/",
            "https://example.org:22/",
            "gopher://x/",
            "relative",
        ] {
            assert!(from.redirected(location).is_err(), "{location}");
        }
    }
}
