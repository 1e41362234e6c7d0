//! Where a module's permitted requests leave: the embedder's [`Egress`]. The
//! module host never connects anywhere itself; in a shell the egress is the
//! broker's HTTP proxy ([`ProxyEgress`]), which applies the shell's own routes
//! and secret placeholders on top of the module's grants.

use std::path::PathBuf;
use std::pin::Pin;

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

/// Sends each permitted request to an HTTP forward proxy in absolute form
/// (`GET http://host:port/path HTTP/1.1`), one connection per request, as the
/// broker accepts plain `http://` targets.
///
/// `https://` is refused for now: through the broker it needs `CONNECT` and
/// TLS trusting the egress CA, which this egress does not speak yet.
#[derive(Debug, Clone)]
pub struct ProxyEgress {
    address: ProxyAddress,
}

impl ProxyEgress {
    pub fn new(address: ProxyAddress) -> Self {
        Self { address }
    }
}

impl Egress for ProxyEgress {
    fn send(&self, permit: Permit, body: Bytes, limits: BodyLimits) -> EgressFuture {
        let address = self.address.clone();
        Box::pin(async move {
            let head = permit.into_head();
            if head.uri().scheme_str() != Some("http") {
                let scheme = head.uri().scheme_str().unwrap_or_default().to_string();
                return Err(EgressError::UnsupportedScheme(scheme));
            }
            let request = head.map(|()| Full::new(body));
            match &address {
                ProxyAddress::Unix(path) => {
                    let stream = tokio::net::UnixStream::connect(path)
                        .await
                        .map_err(EgressError::ConnectProxy)?;
                    exchange(stream, request, limits).await
                }
                ProxyAddress::Tcp(socket) => {
                    let stream = tokio::net::TcpStream::connect(socket)
                        .await
                        .map_err(EgressError::ConnectProxy)?;
                    exchange(stream, request, limits).await
                }
            }
        })
    }
}

/// One request and its bounded response over a fresh HTTP/1.1 connection.
/// hyper's connection-level client writes the absolute URI as it is given,
/// which is the form a forward proxy expects.
async fn exchange<S>(
    stream: S,
    request: http::Request<Full<Bytes>>,
    limits: BodyLimits,
) -> Result<http::Response<Bytes>, EgressError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(EgressError::Proxy)?;
    let driver = tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(EgressError::Proxy)?;
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, limits.response_bytes)
        .collect()
        .await
        .map_err(|_| EgressError::ResponseTooLarge(limits.response_bytes))?
        .to_bytes();
    driver.abort();
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
