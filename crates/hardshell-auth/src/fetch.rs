//! The one HTTP client hardshell uses to reach identity providers: key sets,
//! OIDC discovery and token exchange.
//!
//! Every response is bounded in time and size, redirects are not followed (a
//! provider endpoint that redirects is misconfigured, and following it would let
//! one host send us to another), and only `https` is spoken — except `http` to
//! a loopback address, which is what tests and a provider on the same machine
//! need and nothing on the network can reach.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};
use url::Url;

/// Bounds on one request to an identity provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchLimits {
    /// The whole request, connect to last byte.
    pub timeout: Duration,
    /// The largest response body accepted. Key sets and discovery documents
    /// are a few kilobytes; anything near this is not one.
    pub max_body_bytes: usize,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_body_bytes: 256 * 1024,
        }
    }
}

/// Why a request to an identity provider failed. Carries the URL, never a
/// request body (which may hold a client secret or an authorization code).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot build the http client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("request to {url} failed: {source}")]
    Send {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url} sent more than {max} bytes")]
    TooLarge { url: String, max: usize },
    #[error("refusing to fetch {0}")]
    Insecure(#[source] InsecureEndpoint),
}

/// Why hardshell will not talk to a URL: it would carry tokens and secrets in
/// clear.
#[derive(Debug, thiserror::Error)]
pub enum InsecureEndpoint {
    #[error("{url} uses http, which is only allowed to a loopback address")]
    PlainHttp { url: Url },
    #[error("{url} is not an https url")]
    NotHttps { url: Url },
    #[error("{url}: {source}")]
    Unparsable {
        url: String,
        #[source]
        source: url::ParseError,
    },
}

/// A bounded HTTP client for identity-provider endpoints.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    client: reqwest::Client,
    limits: FetchLimits,
}

impl Fetcher {
    pub(crate) fn new(limits: FetchLimits) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(limits.timeout)
            .connect_timeout(limits.timeout)
            .user_agent(concat!("hardshell/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(FetchError::Client)?;
        Ok(Self { client, limits })
    }

    /// GETs `url` and returns its body if the answer is 200.
    pub(crate) async fn get(&self, url: &Url) -> Result<Vec<u8>, FetchError> {
        check_endpoint(url).map_err(FetchError::Insecure)?;
        let response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|source| send_error(url.as_str(), source))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: response.status().as_u16(),
            });
        }
        self.read_body(url.as_str(), response).await
    }

    /// Runs a request built by `openidconnect` and hands back its response
    /// whatever the status: the library reads OAuth error bodies itself. The
    /// URL rule applies here too, so endpoints a provider's discovery document
    /// names (token, keys) cannot downgrade to plain http.
    pub(crate) async fn execute(&self, request: HttpRequest) -> Result<HttpResponse, FetchError> {
        let url = request.uri().to_string();
        let parsed = Url::parse(&url).map_err(|source| {
            FetchError::Insecure(InsecureEndpoint::Unparsable {
                url: url.clone(),
                source,
            })
        })?;
        check_endpoint(&parsed).map_err(FetchError::Insecure)?;
        let request =
            reqwest::Request::try_from(request).map_err(|source| send_error(&url, source))?;
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|source| send_error(&url, source))?;
        let status = response.status();
        let version = response.version();
        let headers = response.headers().clone();
        let body = self.read_body(&url, response).await?;
        let mut answer = HttpResponse::new(body);
        *answer.status_mut() = status;
        *answer.version_mut() = version;
        *answer.headers_mut() = headers;
        Ok(answer)
    }

    /// Reads the body chunk by chunk, stopping as soon as it passes the limit,
    /// so a hostile or broken endpoint cannot make us buffer without bound.
    async fn read_body(
        &self,
        url: &str,
        mut response: reqwest::Response,
    ) -> Result<Vec<u8>, FetchError> {
        let max = self.limits.max_body_bytes;
        let too_large = || FetchError::TooLarge {
            url: url.to_owned(),
            max,
        };
        if response
            .content_length()
            .is_some_and(|len| len > max as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|source| send_error(url, source))?
        {
            if body.len() + chunk.len() > max {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// `openidconnect` sends its requests through this. A named type rather than a
/// closure, so the futures that use it are `Send` for every lifetime (a closure
/// borrowing the fetcher makes them `Send` for only one, which tokio rejects).
impl<'c> AsyncHttpClient<'c> for Fetcher {
    type Error = FetchError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, FetchError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.execute(request))
    }
}

fn send_error(url: &str, source: reqwest::Error) -> FetchError {
    FetchError::Send {
        url: url.to_owned(),
        // reqwest puts the URL in its own message; ours already says it.
        source: source.without_url(),
    }
}

/// Whether hardshell may talk to `url` at all: `https`, or `http` to a
/// loopback address. Any other `http` would send tokens and secrets in clear.
pub(crate) fn check_endpoint(url: &Url) -> Result<(), InsecureEndpoint> {
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(InsecureEndpoint::PlainHttp { url: url.clone() }),
        _ => Err(InsecureEndpoint::NotHttps { url: url.clone() }),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str) -> Result<(), InsecureEndpoint> {
        check_endpoint(&Url::parse(url).unwrap())
    }

    #[test]
    fn https_endpoints_are_allowed() {
        assert!(check("https://team.cloudflareaccess.com/cdn-cgi/access/certs").is_ok());
    }

    #[test]
    fn http_is_allowed_only_to_loopback() {
        assert!(check("http://127.0.0.1:8080/certs").is_ok());
        assert!(check("http://[::1]:8080/certs").is_ok());
        assert!(check("http://localhost:8080/certs").is_ok());
        assert!(check("http://team.cloudflareaccess.com/certs").is_err());
        assert!(check("http://10.0.0.1/certs").is_err());
        // A name that merely starts with a loopback address is not one.
        assert!(check("http://127.0.0.1.example.com/certs").is_err());
    }

    #[test]
    fn other_schemes_are_refused() {
        assert!(check("file:///etc/passwd").is_err());
        assert!(check("ftp://127.0.0.1/certs").is_err());
    }
}
