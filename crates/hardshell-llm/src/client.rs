//! [`ProviderClient`]: one provider endpoint, over TCP, a unix socket or an HTTP
//! proxy, with or without a key. Inside a shell the agent holds only a
//! placeholder for the key and talks through its broker, which swaps it;
//! tests talk to providers directly.

mod reply;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use zeroize::Zeroizing;

pub use reply::ReplyStream;

use crate::error::LlmError;
use crate::types::ChatRequest;
use crate::wire::{ProviderKind, anthropic};

/// A provider API key. Wiped from memory when dropped; `<redacted>` in `Debug`; no
/// `Display`. Sent only in the provider's own header, marked sensitive there.
#[derive(Clone)]
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    /// Refuses an empty key, or one that cannot travel in an HTTP header (the key
    /// itself is never put in the error).
    pub fn new(key: Zeroizing<String>) -> Result<Self, LlmError> {
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(LlmError::Config(
                "the API key is empty or has characters other than visible ASCII".into(),
            ));
        }
        Ok(Self(key))
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// How to reach the provider's base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Resolve the URL's host and connect over TCP (TLS for `https`).
    Tcp,
    /// Connect to this unix socket whatever the URL's host says (the edge's socket).
    UnixSocket(PathBuf),
    /// Send every request to this HTTP proxy, absolute-form (the broker's
    /// forwarder in the agent's shell, `http://127.0.0.1:3128`).
    Proxy(String),
}

/// How long to wait, each phase on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Until a connection is established.
    pub connect: Duration,
    /// From sending the request until the response's first body bytes: covers the
    /// model reading a long prompt.
    pub first_byte: Duration,
    /// Between two pieces of the body once it flows (providers send keep-alive pings).
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(120),
            idle: Duration::from_secs(60),
        }
    }
}

/// Largest reply accepted by default: far more than any reply of a few ten thousand
/// tokens takes as SSE.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

/// Everything a [`ProviderClient`] is built from.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    /// Where the API lives, e.g. `https://api.anthropic.com` or
    /// `https://api.openai.com/v1`. The agent is given its provider's own URL
    /// and reaches it through its shell's broker (see [`Transport`]).
    pub base_url: String,
    pub api_key: Option<ApiKey>,
    pub transport: Transport,
    pub timeouts: Timeouts,
    pub max_response_bytes: u64,
}

impl ProviderConfig {
    /// A keyless TCP client with the default limits.
    pub fn new(kind: ProviderKind, base_url: impl Into<String>) -> Self {
        Self {
            kind,
            base_url: base_url.into(),
            api_key: None,
            transport: Transport::Tcp,
            timeouts: Timeouts::default(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// A client for one provider endpoint. Cheap to clone; clones share connections.
#[derive(Debug, Clone)]
pub struct ProviderClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    kind: ProviderKind,
    url: Url,
    /// The URL (and socket) for messages: no user info, query or key.
    endpoint: String,
    api_key: Option<ApiKey>,
    http: reqwest::Client,
    timeouts: Timeouts,
    max_response_bytes: u64,
}

impl ProviderClient {
    pub fn new(config: ProviderConfig) -> Result<Self, LlmError> {
        let url = request_url(&config.base_url, config.kind)?;
        let mut endpoint = format!("{}://{}{}", url.scheme(), authority(&url), url.path());
        let mut http = reqwest::Client::builder()
            .connect_timeout(config.timeouts.connect)
            // A redirect could carry the key to another host; providers do not redirect.
            .redirect(reqwest::redirect::Policy::none())
            // Model traffic goes where configured, not wherever a proxy variable points.
            .no_proxy()
            .user_agent(concat!("hardshell/", env!("CARGO_PKG_VERSION")));
        match &config.transport {
            Transport::Tcp => {}
            Transport::UnixSocket(path) => {
                endpoint = format!("{endpoint} (socket {})", path.display());
                http = http.unix_socket(path.clone());
            }
            Transport::Proxy(proxy) => {
                let proxy = reqwest::Proxy::http(proxy.as_str())
                    .map_err(|e| LlmError::Config(format!("the proxy {proxy}: {e}")))?;
                endpoint = format!("{endpoint} (through the broker)");
                http = http.proxy(proxy);
            }
        }
        let http = http
            .build()
            .map_err(|e| LlmError::Config(format!("http client for {endpoint}: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                kind: config.kind,
                url,
                endpoint,
                api_key: config.api_key,
                http,
                timeouts: config.timeouts,
                max_response_bytes: config.max_response_bytes,
            }),
        })
    }

    pub fn kind(&self) -> ProviderKind {
        self.inner.kind
    }

    /// Where requests go, for logs and errors.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// Sends `request` for `model` and returns the reply as it streams. The stream
    /// ends with [`crate::ChatEvent::Finished`] or an error, never silently; failures
    /// before the reply starts (refused connection, HTTP errors) are returned here.
    pub async fn stream(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<ReplyStream, LlmError> {
        let inner = &self.inner;
        let body = serde_json::to_vec(&crate::wire::request_body(inner.kind, model, request))
            .map_err(|e| LlmError::Config(format!("encoding the request for {model}: {e}")))?;
        let mut builder = inner
            .http
            .post(inner.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "text/event-stream")
            .body(body);
        match inner.kind {
            ProviderKind::Anthropic => {
                builder = builder.header("anthropic-version", anthropic::API_VERSION);
                if let Some(key) = &inner.api_key {
                    builder = builder.header("x-api-key", sensitive(key.expose())?);
                }
            }
            ProviderKind::OpenAi => {
                if let Some(key) = &inner.api_key {
                    let value = sensitive(&format!("Bearer {}", key.expose()))?;
                    builder = builder.header(reqwest::header::AUTHORIZATION, value);
                }
            }
        }
        reply::send(Arc::clone(&self.inner), builder).await
    }
}

fn sensitive(text: &str) -> Result<HeaderValue, LlmError> {
    let mut value = HeaderValue::from_str(text)
        .map_err(|_| LlmError::Config("the API key cannot travel in an HTTP header".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

/// The base URL with the wire format's path appended. Refuses what would leak or
/// surprise: credentials in the URL, a query or fragment, schemes other than HTTP.
fn request_url(base: &str, kind: ProviderKind) -> Result<Url, LlmError> {
    // Errors name the URL without its user info, query and fragment, where a key
    // pasted into the URL would be.
    let url = Url::parse(base)
        .map_err(|e| LlmError::Config(format!("the base URL does not parse: {e}")))?;
    let shown = format!("{}://{}{}", url.scheme(), authority(&url), url.path());
    let refuse = |why: &str| LlmError::Config(format!("base URL {shown}: {why}"));
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse("the scheme must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(
            "credentials in the URL are refused; give the API key on its own",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("a query or fragment is refused"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("a host is required (any name, for a unix socket)"));
    }
    let path = format!(
        "{}{}",
        url.path().trim_end_matches('/'),
        crate::wire::chat_path(kind)
    );
    let mut url = url;
    url.set_path(&path);
    Ok(url)
}

fn authority(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => String::new(),
    }
}

impl Inner {
    fn secret(&self) -> Option<&str> {
        self.api_key.as_ref().map(ApiKey::expose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_formats_path_is_appended_to_the_base_url() {
        let url = |base: &str, kind| request_url(base, kind).unwrap().to_string();
        assert_eq!(
            url("https://api.anthropic.com", ProviderKind::Anthropic),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            url("http://edge/llm/anthropic/", ProviderKind::Anthropic),
            "http://edge/llm/anthropic/v1/messages"
        );
        assert_eq!(
            url("https://api.openai.com/v1", ProviderKind::OpenAi),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            url("http://127.0.0.1:8080/v1/", ProviderKind::OpenAi),
            "http://127.0.0.1:8080/v1/chat/completions"
        );
    }

    #[test]
    fn base_urls_that_could_leak_or_mislead_are_refused() {
        for base in [
            "https://user:sk-secret@api.example",
            "https://api.example/v1?key=sk-secret",
            "https://api.example/v1#x",
            "ftp://api.example",
            "file:///etc/passwd",
            "not a url",
        ] {
            let error = request_url(base, ProviderKind::OpenAi).unwrap_err();
            assert!(!error.to_string().contains("sk-secret"), "{error}");
        }
    }

    #[test]
    fn api_keys_redact_in_debug_and_refuse_header_breaking_text() {
        let key = ApiKey::new(Zeroizing::new("sk-canary-123".into())).unwrap();
        let shown = format!("{key:?} {:?}", Some(&key));
        assert!(!shown.contains("canary"), "{shown}");
        for bad in ["", "sk-1\r\nX-Injected: 1", "sk 1", "sk-ünicode"] {
            assert!(ApiKey::new(Zeroizing::new(bad.into())).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_client_in_debug_shows_no_key() {
        let mut config = ProviderConfig::new(ProviderKind::Anthropic, "https://api.anthropic.com");
        config.api_key = Some(ApiKey::new(Zeroizing::new("sk-canary-456".into())).unwrap());
        let client = ProviderClient::new(config.clone()).unwrap();
        let shown = format!("{client:?} {config:?}");
        assert!(!shown.contains("canary"), "{shown}");
    }
}
