//! Inspected tunnels: on an `inspect` route, the broker answers a shell's
//! `CONNECT host:port`, terminates its TLS with a leaf certificate for that
//! host from the broker's issuer, and reads the HTTP/1.1 inside. Each request
//! then takes the plain-HTTP path of a `tls` route ([`Broker::forward`]):
//! the route's method and path rules, placeholders (path, query, headers,
//! body), the leak scan, the tap, echo redaction, counted bytes, and TLS to
//! the destination checked as on any `tls` route.
//!
//! One name throughout closes domain fronting: the TLS server name (SNI) must
//! be the `CONNECT` host, checked before any certificate is issued, and every
//! request's `Host` (and absolute-form authority) must name it too, or the
//! request is refused (403) and nothing is sent. The name the shell chose is
//! never recorded: it may carry a secret; only the `CONNECT` host, which the
//! leak scan has already checked, is. On h2, each request of a connection
//! is checked alone: a client that coalesces another host's requests onto it
//! (an `:authority` the certificate could not cover) gets 403 for those.
//!
//! ALPN offers `h2` and `http/1.1`; the destination is always spoken to in
//! HTTP/1.1, as on any `tls` route.
//!
//! A tunnel opened with plain HTTP instead of a TLS hello (undici's proxy
//! agent tunnels `http://` too; see [`super::opening`]) is read the same
//! way, each request decided and sent exactly as an absolute-form plain-HTTP
//! request to `host:port` would be (port 443 refused unless its route
//! speaks TLS on), its `Host` held to the tunnel's host.

use std::convert::Infallible;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio_rustls::LazyConfigAcceptor;

use super::idle::{InFlight, held};
use super::opening::{self, Opening, Prefixed};
use super::shell::Shell;
use super::{Body, Broker, Event, empty, refusal};
use crate::host::Host;
use crate::policy::{Request as Asked, Route};

/// Why an inspected tunnel was closed before any request was read. Its
/// message goes to the audit record: never the name the shell sent.
#[derive(Debug, thiserror::Error)]
enum InterceptError {
    #[error("the shell's TLS handshake did not arrive in time")]
    HandshakeTimedOut,
    #[error("{0}")]
    Opening(#[from] opening::OpeningError),
    #[error("reading the shell's TLS hello failed: {0}")]
    Hello(#[source] std::io::Error),
    #[error("the shell's TLS hello names no server")]
    NoServerName,
    #[error("the TLS server name is not the CONNECT host")]
    NameMismatch,
    /// The client turned the leaf down: a certificate-pinning client, or one
    /// not given the egress CA. Said in words an operator can act on, with
    /// the route to change: only the operator can, by tunnelling it raw.
    #[error(
        "the shell's client refused the broker's certificate for {host} (a certificate-pinning client, or one that does not trust the egress CA): give the route for {route} `inspect = false` to tunnel it raw ({cause})"
    )]
    LeafRefused {
        host: Host,
        route: String,
        cause: String,
    },
    #[error("the TLS handshake with the shell failed: {0}")]
    Handshake(#[source] std::io::Error),
    #[error("building the TLS server configuration failed: {0}")]
    Config(#[source] rustls::Error),
}

impl Broker {
    /// Answers an inspected `CONNECT` (already admitted: its route is
    /// `inspect`, its host resolved and guarded) and serves what the shell
    /// sends inside, counted as one of the shell's connections while open.
    pub(super) fn intercept(
        self: &Arc<Self>,
        shell: &Shell,
        request: Request<Incoming>,
        host: Host,
        port: u16,
        route: &Route,
    ) -> Response<Body> {
        let Some(issuer) = self.intercept.clone() else {
            return self.deny(
                &host,
                port,
                "its route is inspected and this broker has no certificate issuer",
            );
        };
        let Some(slot) = shell.slot(&self.limits) else {
            return refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "hardshell broker: too many connections at once\n",
            );
        };
        // Named in a refused leaf's record: the route the operator would
        // change, as its hosts read in the config.
        let route = route
            .hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let (broker, shell) = (self.clone(), shell.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let Ok(upgraded) = hyper::upgrade::on(request).await else {
                return;
            };
            let refused = |e: InterceptError| {
                (broker.events)(Event::Denied {
                    host: host.to_string(),
                    port,
                    reason: e.to_string(),
                });
            };
            let opened = opening::read(TokioIo::new(upgraded), broker.limits.header_timeout).await;
            let upgraded = match opened {
                Ok((Opening::Tls, stream)) => stream,
                Ok((Opening::Http, stream)) => {
                    broker.allowed(&host, port, true, true);
                    broker.serve_plain(stream, shell, host, port).await;
                    return;
                }
                Err(e) => return refused(e.into()),
            };
            let stream = match broker.terminate(upgraded, issuer, &host, route).await {
                Ok(stream) => stream,
                // One record per tunnel, as for any refusal: a shell that
                // opens tunnels only to fail them writes one line each,
                // no more than it could with refused requests (its
                // connections at once are bounded, its count is not).
                Err(e) => return refused(e),
            };
            broker.allowed(&host, port, true, true);
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            let limits = broker.limits.clone();
            let in_flight = InFlight::new();
            let counted = in_flight.clone();
            let service = service_fn(move |request| {
                let (broker, shell, host) = (broker.clone(), shell.clone(), host.clone());
                let busy = counted.begin();
                async move {
                    // On h2 the requests of one connection run at once, and
                    // each may dial an upstream of its own: each takes one of
                    // the shell's slots (beside the tunnel's) until its
                    // answer's head is back, so a connection cannot multiply
                    // what the shell may open. HTTP/1.1 runs one at a time,
                    // on the tunnel's slot.
                    let _stream = if h2 {
                        match shell.slot(&broker.limits) {
                            Some(slot) => Some(slot),
                            None => {
                                return Ok::<_, Infallible>(refusal(
                                    StatusCode::TOO_MANY_REQUESTS,
                                    "the shell has too many requests open\n",
                                ));
                            }
                        }
                    } else {
                        None
                    };
                    let response = broker
                        .inside(&shell, request, &host, port, Opening::Tls)
                        .await;
                    Ok::<_, Infallible>(response.map(|body| held(body, busy)))
                }
            });
            if h2 {
                // Streams past the shell's slots are refused one by one
                // (above); this caps what the connection even asks for.
                let streams = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
                let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                builder
                    .timer(TokioTimer::new())
                    .max_concurrent_streams(streams)
                    // A shell gone without a word (its requests still in
                    // flight, so never idle) is found by its missed pings.
                    .keep_alive_interval(Some(limits.idle / 2))
                    .keep_alive_timeout(limits.header_timeout);
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                tokio::pin!(connection);
                // How the connection ended decides nothing; each request's
                // refusal is already on record.
                tokio::select! {
                    _ = connection.as_mut() => return,
                    () = in_flight.idle_for(limits.idle) => {}
                }
                // GOAWAY: the client knows not to start another request
                // here, and one it began meanwhile is still answered.
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
                return;
            }
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(Some(limits.header_timeout));
            // Nothing is in flight when the idle limit strikes, so dropping
            // the connection cuts no request (the header timeout, the wait
            // for a kept-alive connection's next request, usually closes
            // it first).
            tokio::select! {
                () = hardshell_accept::serve_http1(
                    "broker (inspected)",
                    &builder,
                    stream,
                    service,
                    // A WebSocket's upgrade.
                    true,
                ) => {}
                () = in_flight.idle_for(limits.idle) => {}
            }
        });
        Response::new(empty())
    }

    /// The shell's TLS, ended here: the hello's server name checked against
    /// `host` before the issuer is asked for anything, then the handshake.
    async fn terminate(
        &self,
        upgraded: Prefixed<TokioIo<hyper::upgrade::Upgraded>>,
        issuer: Arc<dyn rustls::server::ResolvesServerCert>,
        host: &Host,
        route: String,
    ) -> Result<
        tokio_rustls::server::TlsStream<Prefixed<TokioIo<hyper::upgrade::Upgraded>>>,
        InterceptError,
    > {
        let handshake = async {
            let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), upgraded);
            let start = acceptor.await.map_err(InterceptError::Hello)?;
            let hello = start.client_hello();
            let named = hello.server_name().ok_or(InterceptError::NoServerName)?;
            if !same_host(named, host) {
                return Err(InterceptError::NameMismatch);
            }
            start
                .into_stream(self.inspect_config(issuer)?)
                .await
                .map_err(|e| match leaf_refusal(&e) {
                    Some(cause) => InterceptError::LeafRefused {
                        host: host.clone(),
                        route,
                        cause,
                    },
                    None => InterceptError::Handshake(e),
                })
        };
        tokio::time::timeout(self.limits.header_timeout, handshake)
            .await
            .unwrap_or(Err(InterceptError::HandshakeTimedOut))
    }

    /// One request read inside a tunnel to `host:port`: its names checked,
    /// then admitted and sent as a plain-HTTP request on a `tls` route would
    /// be (`opened` with TLS: the tunnel is inspected), or as an
    /// absolute-form plain-HTTP request (`opened` in the clear).
    async fn inside(
        &self,
        shell: &Shell,
        request: Request<Incoming>,
        host: &Host,
        port: u16,
        opened: Opening,
    ) -> Response<Body> {
        if !names_only(&request, host, port) {
            return self.deny(
                host,
                port,
                "a request inside the tunnel names another host than the tunnel's",
            );
        }
        if request.method() == Method::CONNECT {
            return refusal(
                StatusCode::METHOD_NOT_ALLOWED,
                "hardshell broker: CONNECT inside a tunnel\n",
            );
        }
        let method = request.method().as_str();
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let asked = match opened {
            Opening::Tls => Asked::Inspected {
                host,
                port,
                method,
                path,
            },
            Opening::Http => Asked::Http {
                host,
                port,
                method,
                path,
            },
        };
        let (route, upstream) = match self.admit(shell, host, port, &asked).await {
            Ok(admitted) => admitted,
            Err(refused) => return refused,
        };
        let inspected = opened == Opening::Tls;
        self.forward(shell, request, route, host, port, upstream, inspected)
            .await
    }
}

impl Broker {
    /// A tunnel the shell opened with plain HTTP/1.1: served one request at a
    /// time on the tunnel's slot, each decided as a plain-HTTP request.
    async fn serve_plain(
        self: &Arc<Self>,
        stream: Prefixed<TokioIo<hyper::upgrade::Upgraded>>,
        shell: Shell,
        host: Host,
        port: u16,
    ) {
        let limits = self.limits.clone();
        let in_flight = InFlight::new();
        let counted = in_flight.clone();
        let broker = self.clone();
        let service = service_fn(move |request| {
            let (broker, shell, host) = (broker.clone(), shell.clone(), host.clone());
            let busy = counted.begin();
            async move {
                let response = broker
                    .inside(&shell, request, &host, port, Opening::Http)
                    .await;
                Ok::<_, Infallible>(response.map(|body| held(body, busy)))
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(Some(limits.header_timeout));
        tokio::select! {
            () = hardshell_accept::serve_http1(
                "broker (plain tunnel)",
                &builder,
                stream,
                service,
                true,
            ) => {}
            () = in_flight.idle_for(limits.idle) => {}
        }
    }

    /// The configuration every inspected tunnel's handshake uses, built once.
    fn inspect_config(
        &self,
        issuer: Arc<dyn rustls::server::ResolvesServerCert>,
    ) -> Result<Arc<rustls::ServerConfig>, InterceptError> {
        if let Some(config) = self.inspect_config.get() {
            return Ok(config.clone());
        }
        let config = server_config(issuer)?;
        Ok(self.inspect_config.get_or_init(|| config).clone())
    }
}

/// The shell's side of an inspected tunnel: the issuer's leaf, h2 or
/// HTTP/1.1.
fn server_config(
    issuer: Arc<dyn rustls::server::ResolvesServerCert>,
) -> Result<Arc<rustls::ServerConfig>, InterceptError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(InterceptError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(issuer);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Why the client refused the leaf, if that is how the handshake failed: an
/// alert about the certificate (rustls sends `unknown_ca` for an issuer it
/// does not trust; `decrypt_error` is a signature it would not accept), or
/// the connection closed without one. The hello was read before the
/// handshake began, so a close now comes after the broker's certificate
/// went out: many pinning clients (OkHttp's, Java's) just hang up there.
fn leaf_refusal(error: &std::io::Error) -> Option<String> {
    use rustls::AlertDescription as Alert;
    if error.kind() == std::io::ErrorKind::UnexpectedEof {
        return Some("it closed the connection after the certificate".into());
    }
    let alert = match error.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(alert) => *alert,
        _ => return None,
    };
    matches!(
        alert,
        Alert::UnknownCA
            | Alert::BadCertificate
            | Alert::CertificateUnknown
            | Alert::UnsupportedCertificate
            | Alert::CertificateExpired
            | Alert::CertificateRevoked
            | Alert::DecryptError
    )
    .then(|| format!("it sent the alert {alert:?}"))
}

/// Whether `named` (a TLS server name, a `Host`) is `host`: case and one
/// trailing dot aside, as [`Host::parse`] reads names.
fn same_host(named: &str, host: &Host) -> bool {
    Host::parse(named).is_ok_and(|named| named == *host)
}

/// Whether every name the request gives (its `Host`, and its authority: in
/// absolute form, or h2's `:authority`) is `host`, with `port` if one is
/// stated; a request that names none is refused too, since HTTP/1.1
/// requires `Host` and h2 `:authority` where it would be.
fn names_only<B>(request: &Request<B>, host: &Host, port: u16) -> bool {
    let stated = request
        .headers()
        .get_all(http::header::HOST)
        .iter()
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| text.parse::<http::uri::Authority>().ok())
        })
        .chain(request.uri().authority().cloned().map(Some))
        .collect::<Vec<_>>();
    !stated.is_empty()
        && stated.iter().all(|authority| {
            authority.as_ref().is_some_and(|authority| {
                same_host(authority.host(), host)
                    && authority.port_u16().is_none_or(|stated| stated == port)
            })
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn request(uri: &str, hosts: &[&str]) -> Request<()> {
        let mut builder = Request::builder().uri(uri);
        for host in hosts {
            builder = builder.header(http::header::HOST, *host);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn a_request_must_name_the_tunnel_host_and_only_it() {
        let host = Host::parse("api.test").unwrap();
        for (uri, hosts) in [
            ("/x", &["api.test"][..]),
            ("/x", &["API.test."]),
            ("/x", &["api.test:443"]),
            ("https://api.test/x", &["api.test"]),
        ] {
            assert!(
                names_only(&request(uri, hosts), &host, 443),
                "{uri} {hosts:?}"
            );
        }
        for (uri, hosts) in [
            ("/x", &[][..]),
            ("/x", &["other.test"]),
            ("/x", &["api.test:8443"]),
            ("/x", &["api.test", "other.test"]),
            ("/x", &["api.test.other.test"]),
            ("https://other.test/x", &["api.test"]),
            ("/x", &["api.test@other.test"]),
        ] {
            assert!(
                !names_only(&request(uri, hosts), &host, 443),
                "{uri} {hosts:?}"
            );
        }
    }

    #[test]
    fn a_server_name_is_compared_as_a_host() {
        let host = Host::parse("api.test").unwrap();
        assert!(same_host("API.Test", &host));
        assert!(same_host("api.test.", &host));
        assert!(!same_host("api.test.evil", &host));
        assert!(!same_host("", &host));
    }
}
