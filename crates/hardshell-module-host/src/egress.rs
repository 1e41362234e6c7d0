//! Where a module's permitted requests leave: the embedder's [`Egress`]. The
//! module host never connects anywhere itself; in a shell the egress is the
//! broker's HTTP proxy ([`ProxyEgress`]), which applies the shell's own routes
//! and secret placeholders on top of the module's grants.

use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use wasmtime_wasi_http::Error as HttpError;

use crate::outgoing::Permit;

/// The largest request and response bodies a module may send and receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    pub request_bytes: usize,
    pub response_bytes: usize,
    /// The response bytes one call may hold in the host at once (bodies not
    /// yet read to their end): each response is within `response_bytes`,
    /// but a module could keep many unread, outside its memory cap.
    pub held_response_bytes: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            request_bytes: 1 << 20,
            response_bytes: 4 << 20,
            held_response_bytes: 16 << 20,
        }
    }
}

/// What an [`Egress`] answers.
pub type EgressFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, EgressError>> + Send + 'static>>;

/// Sends a permitted request on and reads its whole response, bounded by the
/// limits. Implementations must not follow redirects: each hop would need
/// its own permit.
pub trait Egress: Send + Sync + 'static {
    fn send(&self, permit: Permit, body: Bytes, limits: BodyLimits) -> EgressFuture;
}

/// Why an egress could not deliver a request. No variant carries a body.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("connecting to the egress proxy: {0}")]
    ConnectProxy(std::io::Error),
    #[error("the egress proxy did not accept the connection within {0:?}")]
    ConnectTimeout(Duration),
    #[error("the egress proxy sent no response head within {0:?}")]
    ResponseHeadTimeout(Duration),
    #[error("the egress proxy connection failed: {0}")]
    Proxy(hyper::Error),
    #[error("{0}:// is not supported by this egress; use http:// through the broker")]
    UnsupportedScheme(String),
    #[error("the response body is larger than {0} bytes")]
    ResponseTooLarge(usize),
    #[error("this module host has no egress: no request leaves it")]
    NoEgress,
}

impl EgressError {
    /// The `wasi:http` error code the module sees.
    pub(crate) fn into_http_error(self) -> HttpError {
        match self {
            Self::ConnectProxy(_) => HttpError::ConnectionRefused,
            Self::ConnectTimeout(_) => HttpError::ConnectionTimeout,
            Self::ResponseHeadTimeout(_) => HttpError::HttpResponseTimeout,
            Self::Proxy(_) => HttpError::HttpProtocolError,
            Self::UnsupportedScheme(_) | Self::NoEgress => HttpError::HttpRequestDenied,
            Self::ResponseTooLarge(_) => HttpError::HttpResponseBodySize(None),
        }
    }
}

/// Where the broker's proxy listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyAddress {
    /// The broker's unix socket, as a shell reaches it.
    Unix(PathBuf),
    /// A TCP address (a proxy on loopback).
    Tcp(std::net::SocketAddr),
}

/// How long [`ProxyEgress`] waits for each step of a request, apart from
/// the call's own deadline: a grant may give a call minutes, and a broker
/// that accepts and never answers must not hold it for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyTimeouts {
    /// Until the proxy accepts the connection. The broker is local (a unix
    /// socket, or loopback): when it does not accept at once it is stuck.
    pub connect: Duration,
    /// From sending the request until the response's head arrives: the
    /// proxy's own connection to the destination and the destination's
    /// answer. The body is then read within the call's deadline.
    pub response_head: Duration,
}

impl Default for ProxyTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            response_head: Duration::from_secs(30),
        }
    }
}

/// Sends each permitted request to an HTTP forward proxy in absolute form
/// (`GET http://host:port/path HTTP/1.1`), one connection per request, as the
/// broker accepts plain `http://` targets.
///
/// A permitted `https://` request goes the same way, as
/// `http://host:port/path` with its port written out (443 when the URL has
/// none): the module's broker holds each `https` host as a TLS route, whose
/// requests the shell sends in plain HTTP and the broker sends on over TLS,
/// verifying the host's certificate, so it can check and swap placeholders
/// in what it reads. The module never holds a TLS session of its own, and
/// the permit was checked against the `https` grant before this.
#[derive(Debug, Clone)]
pub struct ProxyEgress {
    address: ProxyAddress,
    timeouts: ProxyTimeouts,
}

impl ProxyEgress {
    /// An egress through the proxy at `address`, with the default
    /// [`ProxyTimeouts`].
    pub fn new(address: ProxyAddress) -> Self {
        Self {
            address,
            timeouts: ProxyTimeouts::default(),
        }
    }

    /// The same egress, waiting at most `timeouts` for each step.
    pub fn with_timeouts(self, timeouts: ProxyTimeouts) -> Self {
        Self { timeouts, ..self }
    }
}

impl Egress for ProxyEgress {
    fn send(&self, permit: Permit, body: Bytes, limits: BodyLimits) -> EgressFuture {
        let address = self.address.clone();
        let timeouts = self.timeouts;
        Box::pin(async move {
            let head = to_broker(permit.into_head())?;
            let request = head.map(|()| Full::new(body));
            match &address {
                ProxyAddress::Unix(path) => {
                    let connecting = tokio::net::UnixStream::connect(path);
                    let stream = connected(connecting, timeouts.connect).await?;
                    exchange(stream, request, limits, timeouts.response_head).await
                }
                ProxyAddress::Tcp(socket) => {
                    let connecting = tokio::net::TcpStream::connect(socket);
                    let stream = connected(connecting, timeouts.connect).await?;
                    exchange(stream, request, limits, timeouts.response_head).await
                }
            }
        })
    }
}

/// `head` as the broker takes it: `http://` to the same host with its port
/// always written out, `https://` sent as `http://` too (see
/// [`ProxyEgress`]); any other scheme refused. The port is written for
/// `http://` as well: for a URL without one the broker picks 443 when any
/// route for the host speaks TLS, and a module granted the public web has
/// such a route for every host, so `http://host/` would go out as TLS to
/// port 443.
fn to_broker(mut head: http::Request<()>) -> Result<http::Request<()>, EgressError> {
    let uri = head.uri();
    let default_port = match uri.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        other => {
            return Err(EgressError::UnsupportedScheme(
                other.unwrap_or_default().to_owned(),
            ));
        }
    };
    let scheme = uri.scheme_str().unwrap_or_default().to_owned();
    let host = uri.host().unwrap_or_default();
    let port = uri.port_u16().unwrap_or(default_port);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    // An IPv6 address keeps its brackets.
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let plain: http::Uri = format!("http://{host}:{port}{path}")
        .parse()
        .map_err(|_| EgressError::UnsupportedScheme(scheme))?;
    *head.uri_mut() = plain;
    Ok(head)
}

/// The stream `connecting` gives, if it gives one within `limit`.
async fn connected<S>(
    connecting: impl Future<Output = std::io::Result<S>>,
    limit: Duration,
) -> Result<S, EgressError> {
    tokio::time::timeout(limit, connecting)
        .await
        .map_err(|_elapsed| EgressError::ConnectTimeout(limit))?
        .map_err(EgressError::ConnectProxy)
}

/// One request and its bounded response over a fresh HTTP/1.1 connection.
/// hyper's connection-level client writes the absolute URI as it is given,
/// which is the form a forward proxy expects.
async fn exchange<S>(
    stream: S,
    request: http::Request<Full<Bytes>>,
    limits: BodyLimits,
    response_head_limit: Duration,
) -> Result<http::Response<Bytes>, EgressError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(EgressError::Proxy)?;
    let driver = tokio::spawn(connection);
    let outcome = response(&mut sender, request, limits, response_head_limit).await;
    // One request a connection: whatever the outcome, this one is done.
    driver.abort();
    outcome
}

/// The response to `request`: its head within `head_limit`, then its body
/// within the limits (and the call's deadline).
async fn response(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    request: http::Request<Full<Bytes>>,
    limits: BodyLimits,
    head_limit: Duration,
) -> Result<http::Response<Bytes>, EgressError> {
    let response = tokio::time::timeout(head_limit, sender.send_request(request))
        .await
        .map_err(|_elapsed| EgressError::ResponseHeadTimeout(head_limit))?
        .map_err(EgressError::Proxy)?;
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, limits.response_bytes)
        .collect()
        .await
        .map_err(|_| EgressError::ResponseTooLarge(limits.response_bytes))?
        .to_bytes();
    Ok(http::Response::from_parts(parts, body))
}

/// An egress that refuses everything: for modules granted no hosts, so a
/// bug in the grant check could still not reach anywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEgress;

impl Egress for NoEgress {
    fn send(&self, permit: Permit, _body: Bytes, _limits: BodyLimits) -> EgressFuture {
        drop(permit);
        Box::pin(async { Err(EgressError::NoEgress) })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sent(url: &str) -> Result<String, EgressError> {
        let head = http::Request::get(url).body(()).unwrap();
        to_broker(head).map(|head| head.uri().to_string())
    }

    #[test]
    fn every_request_reaches_the_broker_as_http_with_its_port_written_out() {
        assert_eq!(
            sent("https://api.example/v1/x?q=1").unwrap(),
            "http://api.example:443/v1/x?q=1"
        );
        assert_eq!(
            sent("https://api.example:8443/").unwrap(),
            "http://api.example:8443/"
        );
        assert_eq!(sent("https://[::1]:8443/y").unwrap(), "http://[::1]:8443/y");
        // Plain http's port is written too, so the broker never reads a
        // port-less URL as TLS to 443.
        assert_eq!(
            sent("http://api.example/x").unwrap(),
            "http://api.example:80/x"
        );
        assert_eq!(
            sent("http://api.example:8080/").unwrap(),
            "http://api.example:8080/"
        );
        assert!(matches!(
            sent("ftp://api.example/x"),
            Err(EgressError::UnsupportedScheme(scheme)) if scheme == "ftp"
        ));
    }
}
