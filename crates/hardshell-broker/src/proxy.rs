//! The broker: an HTTP forward proxy (absolute-form requests and `CONNECT`)
//! on a unix socket, which a shell reaches and nothing else. Each request is
//! decided by the shell's [`EgressPolicy`]; the broker resolves the name
//! itself, checks every address with the [`AddressGuard`] and dials the
//! address it checked. Plain-HTTP requests are read whole (up to a limit),
//! scanned for secret values, and have their placeholders swapped where bound;
//! a tunnel is only allowed on routes that limit neither methods nor paths.
//! Every decision is reported as an [`Event`] for the audit log.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpStream, UnixListener};

use crate::address::AddressGuard;
use crate::host::Host;
use crate::policy::{EgressPolicy, Request as Asked};
use crate::secrets::{Binding, LeakScanner, Place, substitute};

type Body = http_body_util::combinators::BoxBody<Bytes, hyper::Error>;

/// Resolves names; the system's resolver in production, a table in tests.
pub trait Resolve: Send + Sync + 'static {
    fn resolve(
        &self,
        host: &Host,
        port: u16,
    ) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>>;
}

/// The system resolver (getaddrinfo, on a blocking thread).
#[derive(Debug, Clone, Copy)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(
        &self,
        host: &Host,
        port: u16,
    ) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> {
        let name = format!("{host}:{port}");
        Box::pin(async move { Ok(tokio::net::lookup_host(name).await?.collect()) })
    }
}

/// What the broker decided, for the audit log. Never a secret value, never a
/// placeholder's text, never a path or query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Allowed {
        host: String,
        port: u16,
        tunnel: bool,
    },
    Denied {
        host: String,
        port: u16,
        reason: String,
    },
    SecretMisdirected {
        name: String,
        host: String,
    },
    LeakBlocked {
        name: String,
        host: String,
    },
}

/// Limits on what one request may take.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub connect_timeout: Duration,
    /// From sending a request to the response's head.
    pub response_timeout: Duration,
    /// Connections (and tunnels) open at once; more get 429.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 << 20,
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(120),
            max_connections: 64,
        }
    }
}

/// Connections open through one broker; see [`Broker::active`].
pub type Active = Arc<std::sync::atomic::AtomicUsize>;

/// One counted connection; uncounted when dropped.
struct Slot(Active);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// One shell's broker.
pub struct Broker {
    pub policy: EgressPolicy,
    pub guard: AddressGuard,
    pub resolver: Arc<dyn Resolve>,
    pub bindings: BTreeMap<String, Binding>,
    /// A bound secret's value, by name.
    pub secret: SecretLookup,
    pub scanner: LeakScanner,
    pub events: EventSink,
    pub limits: Limits,
    /// Upstream connections kept for reuse, by checked address.
    pub idle: IdlePool,
    /// Connections and tunnels open now, against `limits.max_connections`.
    pub active: Active,
}

/// Kept upstream connections; see [`Broker::idle`].
pub type IdlePool =
    std::sync::Mutex<std::collections::HashMap<SocketAddr, Vec<SendRequest<Full<Bytes>>>>>;

/// Connections kept per upstream address.
const MAX_IDLE_PER_ADDRESS: usize = 8;

/// Looks a bound secret's value up by name.
pub type SecretLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;
/// Where the broker's decisions go (the audit log).
pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("policy", &self.policy)
            .field("guard", &self.guard)
            .field("scanner", &self.scanner)
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// Serves connections on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: UnixListener) {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let Some(slot) = self.slot() else {
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    let text = "hardshell broker: too many connections at once\n";
                    let reply = format!(
                        "HTTP/1.1 429 Too Many Requests\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                });
                continue;
            };
            let broker = self.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let service = service_fn(move |request| {
                    let broker = broker.clone();
                    async move { Ok::<_, Infallible>(broker.handle(request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    }

    fn slot(&self) -> Option<Slot> {
        use std::sync::atomic::Ordering;
        if self.active.fetch_add(1, Ordering::SeqCst) >= self.limits.max_connections {
            self.active.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Slot(self.active.clone()))
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let Some((host, port)) = destination(&request) else {
            return refusal(
                StatusCode::BAD_REQUEST,
                "the broker takes CONNECT host:port or an absolute http:// URL\n",
            );
        };
        let tunnel = request.method() == Method::CONNECT;
        let asked = if tunnel {
            Asked::Tunnel { host: &host, port }
        } else {
            Asked::Http {
                host: &host,
                port,
                method: request.method().as_str(),
                path: request.uri().path_and_query().map_or("/", |p| p.as_str()),
            }
        };
        if let Err(denied) = self.policy.decide(&asked) {
            return self.deny(&host, port, &denied.to_string());
        }
        let address = match self.address(&host, port).await {
            Ok(address) => address,
            Err(reason) => return self.deny(&host, port, &reason),
        };
        (self.events)(Event::Allowed {
            host: host.to_string(),
            port,
            tunnel,
        });
        if tunnel {
            self.tunnel(request, address).await
        } else {
            self.forward(request, &host, port, address).await
        }
    }

    fn deny(&self, host: &Host, port: u16, reason: &str) -> Response<Body> {
        (self.events)(Event::Denied {
            host: host.to_string(),
            port,
            reason: reason.to_owned(),
        });
        refusal(
            StatusCode::FORBIDDEN,
            &format!("hardshell broker: refused: {reason}\n"),
        )
    }

    /// The address to dial: every address the name resolves to must pass the
    /// guard (a name that points at both a public and an internal address is
    /// refused whole); the first is dialled.
    async fn address(&self, host: &Host, port: u16) -> Result<SocketAddr, String> {
        let addresses = self
            .resolver
            .resolve(host, port)
            .await
            .map_err(|e| format!("{host} does not resolve: {e}"))?;
        let first = *addresses
            .first()
            .ok_or_else(|| format!("{host} has no address"))?;
        for address in &addresses {
            self.guard
                .check(address.ip())
                .map_err(|refused| format!("{host} resolves to {refused}"))?;
        }
        Ok(first)
    }

    async fn dial(&self, address: SocketAddr) -> Result<TcpStream, String> {
        match tokio::time::timeout(self.limits.connect_timeout, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(format!("connecting: {e}")),
            Err(_) => Err("connecting timed out".to_owned()),
        }
    }

    /// A kept connection to `address` that is ready for a request. Keyed by
    /// the address the guard checked, so reuse never skips the check.
    fn idle_connection(&self, address: SocketAddr) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept = idle.get_mut(&address)?;
        while let Some(sender) = kept.pop() {
            // A connection still streaming an earlier reply is not ready; a
            // closed one never will be.
            if sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    fn keep_connection(&self, address: SocketAddr, sender: SendRequest<Full<Bytes>>) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept = idle.entry(address).or_default();
        if kept.len() < MAX_IDLE_PER_ADDRESS {
            kept.push(sender);
        }
    }

    async fn tunnel(&self, request: Request<Incoming>, address: SocketAddr) -> Response<Body> {
        let mut upstream = match self.dial(address).await {
            Ok(stream) => stream,
            Err(e) => return refusal(StatusCode::BAD_GATEWAY, &format!("{e}\n")),
        };
        let Some(slot) = self.slot() else {
            return refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "hardshell broker: too many connections at once\n",
            );
        };
        tokio::spawn(async move {
            // Counted for as long as the tunnel is open.
            let _slot = slot;
            if let Ok(upgraded) = hyper::upgrade::on(request).await {
                let mut upgraded = TokioIo::new(upgraded);
                let _ = tokio::io::copy_bidirectional(&mut upgraded, &mut upstream).await;
            }
        });
        Response::new(empty())
    }

    async fn forward(
        &self,
        request: Request<Incoming>,
        host: &Host,
        port: u16,
        address: SocketAddr,
    ) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let Ok(body) = Limited::new(body, self.limits.max_body_bytes)
            .collect()
            .await
        else {
            return refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is too large or broken\n",
            );
        };
        let body = body.to_bytes();
        // What the shell sent, before any swap: it holds no secret value, so
        // any it sends was obtained to be smuggled out.
        let mut sent = Vec::new();
        sent.extend_from_slice(parts.uri.to_string().as_bytes());
        for value in parts.headers.values() {
            sent.push(b'\n');
            sent.extend_from_slice(value.as_bytes());
        }
        sent.push(b'\n');
        sent.extend_from_slice(&body);
        if let Some(found) = self.scanner.find(&sent) {
            (self.events)(Event::LeakBlocked {
                name: found.name.clone(),
                host: host.to_string(),
            });
            return refusal(
                StatusCode::FORBIDDEN,
                &format!(
                    "hardshell broker: refused: the request carries the value of secret {}\n",
                    found.name
                ),
            );
        }
        let outgoing = match self.swap(&parts, &body, host, port) {
            Ok(outgoing) => outgoing,
            Err(Unsendable::Invalid(why)) => {
                return refusal(
                    StatusCode::BAD_REQUEST,
                    &format!("hardshell broker: {why}\n"),
                );
            }
            Err(Unsendable::Misdirected(name)) => {
                (self.events)(Event::SecretMisdirected {
                    name: name.clone(),
                    host: host.to_string(),
                });
                return refusal(
                    StatusCode::FORBIDDEN,
                    &format!("hardshell broker: refused: secret {name} is not bound to {host}\n"),
                );
            }
        };
        let mut sender = match self.idle_connection(address) {
            Some(sender) => sender,
            None => {
                let stream = match self.dial(address).await {
                    Ok(stream) => stream,
                    Err(e) => return refusal(StatusCode::BAD_GATEWAY, &format!("{e}\n")),
                };
                let Ok((sender, connection)) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
                else {
                    return refusal(
                        StatusCode::BAD_GATEWAY,
                        "the destination did not speak HTTP\n",
                    );
                };
                tokio::spawn(connection);
                sender
            }
        };
        let sent =
            tokio::time::timeout(self.limits.response_timeout, sender.send_request(outgoing));
        let Ok(sent) = sent.await else {
            return refusal(
                StatusCode::GATEWAY_TIMEOUT,
                "hardshell broker: the destination did not answer in time\n",
            );
        };
        match sent {
            Ok(response) => {
                self.keep_connection(address, sender);
                response.map(|body| body.boxed())
            }
            Err(e) => refusal(
                StatusCode::BAD_GATEWAY,
                &format!("the destination failed: {e}\n"),
            ),
        }
    }

    /// The request to send: origin-form, placeholders swapped where bound;
    /// `Err(secret name)` where one is not.
    fn swap(
        &self,
        parts: &http::request::Parts,
        body: &Bytes,
        host: &Host,
        port: u16,
    ) -> Result<Request<Full<Bytes>>, Unsendable> {
        let value = |name: &str| (self.secret)(name);
        let misdirected = |e: crate::secrets::Misdirected| Unsendable::Misdirected(e.name);
        let path = parts.uri.path();
        let query = match parts.uri.query() {
            Some(query) => Some(
                substitute(query, host, Place::Query, &self.bindings, value)
                    .map_err(misdirected)?,
            ),
            None => None,
        };
        let target = match query {
            Some(query) => format!("{path}?{query}"),
            None => path.to_owned(),
        };
        // The Host the destination sees is the host the policy checked: a
        // shell's own Host header could name another site behind the same
        // address (a CDN's), which the route never allowed.
        let authority = if port == 80 {
            host.to_string()
        } else {
            format!("{host}:{port}")
        };
        let mut builder = Request::builder()
            .method(parts.method.clone())
            .uri(target)
            .header(http::header::HOST, authority);
        for (name, header) in &parts.headers {
            // Hop-by-hop and proxy headers stop here, and the shell's Host.
            if matches!(
                name.as_str(),
                "host"
                    | "proxy-authorization"
                    | "proxy-connection"
                    | "connection"
                    | "keep-alive"
                    | "te"
                    | "upgrade"
            ) {
                continue;
            }
            let text = header
                .to_str()
                .map_err(|_| Unsendable::Invalid("a header that is not text".into()))?;
            let swapped = substitute(
                text,
                host,
                Place::Header(name.as_str()),
                &self.bindings,
                value,
            )
            .map_err(misdirected)?;
            builder = builder.header(name, swapped);
        }
        let body = match std::str::from_utf8(body) {
            Ok(text) => Bytes::from(
                substitute(text, host, Place::Body, &self.bindings, value).map_err(misdirected)?,
            ),
            // A binary body carries no placeholder the broker would swap.
            Err(_) => body.clone(),
        };
        builder
            .body(Full::new(body))
            .map_err(|e| Unsendable::Invalid(format!("rebuilding the request: {e}")))
    }
}

/// Why a plain-HTTP request was not sent.
enum Unsendable {
    /// A placeholder for a secret not bound here (its name).
    Misdirected(String),
    /// The request cannot be forwarded as it is.
    Invalid(String),
}

/// `(host, port)` of a CONNECT authority or an absolute `http://` URL.
fn destination<B>(request: &Request<B>) -> Option<(Host, u16)> {
    let uri = request.uri();
    if request.method() == Method::CONNECT {
        let authority = uri.authority()?;
        return Some((Host::parse(authority.host()).ok()?, authority.port_u16()?));
    }
    if uri.scheme_str() != Some("http") {
        return None;
    }
    Some((Host::parse(uri.host()?).ok()?, uri.port_u16().unwrap_or(80)))
}

fn empty() -> Body {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}

fn refusal(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from(text.to_owned()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
