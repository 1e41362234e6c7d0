//! The broker: an HTTP forward proxy (absolute-form requests and `CONNECT`)
//! on a unix socket, which a shell reaches and nothing else. Each request is
//! decided by the shell's [`EgressPolicy`]; the broker resolves the name
//! itself, checks every address with the [`AddressGuard`] and dials the
//! address it checked. Plain-HTTP requests are read whole (up to a window;
//! a longer body is sent on as it arrives, scanned in passing), scanned for
//! secret values, and have their placeholders swapped where bound;
//! a response from a host a secret is bound to (or to a request that carried
//! one) has the value, in any form the leak scan knows, put back into
//! placeholder form. On a TLS route the shell speaks plain HTTP and the
//! broker speaks TLS to the destination, so even HTTPS APIs are read. On an
//! `inspect` route the broker terminates a `CONNECT`'s TLS itself and reads
//! the requests inside the same way ([`inspect`]). A raw tunnel is only
//! allowed on routes that the broker need not read.
//! Every decision is reported as an [`Event`] for the audit log.
//!
//! Each listener is one shell: connections at once and bytes both ways are
//! counted per listener, so a shell that spends its budget stops alone.
//!
//! Where each part lives: [`admit`] (the checks before anything is dialled,
//! and how decisions are recorded), [`tunnel`] (raw tunnels), [`inspect`]
//! (inspected tunnels, [`idle`] their idle close), [`forward`] (a request
//! the broker reads, phase by phase), [`stream`] (bodies: the window read
//! whole, the rest streamed), [`swap`] (the request as it leaves),
//! [`websocket`], [`tap`], [`upstream`] (connections to destinations),
//! [`shell`] (one shell's limits and counters).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use hardshell_accept::{Listener, serve_http1};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioTimer;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;

use crate::address::AddressGuard;
use crate::host::Host;
use crate::policy::{EgressPolicy, Request as Asked};
use crate::secrets::{Binding, LeakScanner, LiveScanner, Redactors};

mod admit;
mod forward;
mod idle;
mod inspect;
mod opening;
mod shell;
mod stream;
mod swap;
mod tap;
mod tunnel;
mod upstream;
mod websocket;

pub use shell::Limits;
pub use tap::{Admitted, Meter, Refused, Tap};
pub use upstream::platform_tls;

use shell::Shell;
use upstream::IdlePool;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

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
        /// The broker terminated the shell's TLS and read the request (on
        /// a tunnel: will read each one inside).
        inspected: bool,
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

/// Looks a bound secret's value up by name.
pub type SecretLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;
/// Where the broker's decisions go (the audit log).
pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

/// The broker for one kind of shell; each listener it serves is one shell.
pub struct Broker {
    pub policy: EgressPolicy,
    pub guard: AddressGuard,
    pub resolver: Arc<dyn Resolve>,
    pub bindings: BTreeMap<String, Binding>,
    /// A bound secret's value, by name.
    pub secret: SecretLookup,
    /// The leak scan, current as of each request.
    pub scanner: Arc<LiveScanner>,
    pub events: EventSink,
    pub limits: Limits,
    /// How destinations' certificates are checked on TLS routes.
    pub tls: Arc<rustls::ClientConfig>,
    /// Sees the requests of tagged routes; a tagged route without one is
    /// refused.
    pub tap: Option<Arc<dyn Tap>>,
    /// Issues the leaf certificate for an inspected `CONNECT`'s host; an
    /// `inspect` route's tunnels are refused without one.
    pub intercept: Option<Arc<dyn rustls::server::ResolvesServerCert>>,
    /// Upstream connections kept for reuse, by checked address.
    idle: IdlePool,
    /// Echo redactors built for recent sets of swapped values.
    redactors: Redactors,
    /// The shell's side of inspected tunnels, built at the first one: one
    /// configuration, so a client can resume its TLS session (a resumed
    /// session is still for the `CONNECT` host: its SNI is checked first,
    /// and rustls resumes only for the same name).
    inspect_config: std::sync::OnceLock<Arc<rustls::ServerConfig>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("policy", &self.policy)
            .field("guard", &self.guard)
            .field("scanner", &self.scanner)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// A broker for `policy` with the system resolver, no bound secrets, no
    /// leak scan, no tap, decisions dropped and the default limits; set the
    /// public fields for more.
    pub fn new(policy: EgressPolicy, guard: AddressGuard, tls: Arc<rustls::ClientConfig>) -> Self {
        Self {
            policy,
            guard,
            resolver: Arc::new(SystemResolver),
            bindings: BTreeMap::new(),
            secret: Arc::new(|_| None),
            scanner: LiveScanner::fixed(LeakScanner::new(&[])),
            events: Arc::new(|_| {}),
            limits: Limits::default(),
            tls,
            tap: None,
            intercept: None,
            idle: IdlePool::default(),
            redactors: Redactors::default(),
            inspect_config: std::sync::OnceLock::new(),
        }
    }

    /// Serves one shell's connections on `listener` until the task is
    /// dropped; its counts start at zero.
    pub async fn serve(self: Arc<Self>, listener: UnixListener) {
        let shell = Shell::new(&self.limits);
        loop {
            let mut stream = listener.next("broker").await;
            let Some(slot) = shell.slot(&self.limits) else {
                tokio::spawn(async move {
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
            let shell = shell.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let header_timeout = broker.limits.header_timeout;
                let service = service_fn(move |request| {
                    let broker = broker.clone();
                    let shell = shell.clone();
                    async move { Ok::<_, Infallible>(broker.handle(&shell, request).await) }
                });
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(Some(header_timeout));
                serve_http1("broker", &builder, stream, service, true).await;
            });
        }
    }

    async fn handle(self: &Arc<Self>, shell: &Shell, request: Request<Incoming>) -> Response<Body> {
        let Some((host, port)) = destination(&request, &self.policy) else {
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
        let (route, upstream) = match self.admit(shell, &host, port, &asked).await {
            Ok(admitted) => admitted,
            Err(refused) => return refused,
        };
        match (tunnel, route.inspect) {
            (true, true) => self.intercept(shell, request, host, port, route),
            (true, false) => {
                self.tunnel(shell, request, &host, port, upstream.address)
                    .await
            }
            (false, _) => {
                self.forward(shell, request, route, &host, port, upstream, false)
                    .await
            }
        }
    }
}

/// `(host, port)` of a CONNECT authority or an absolute `http://` URL; a URL
/// without a port means the route's (443 on a TLS route, else 80).
fn destination<B>(request: &Request<B>, policy: &EgressPolicy) -> Option<(Host, u16)> {
    let uri = request.uri();
    if request.method() == Method::CONNECT {
        let authority = uri.authority()?;
        return Some((Host::parse(authority.host()).ok()?, authority.port_u16()?));
    }
    if uri.scheme_str() != Some("http") {
        return None;
    }
    let host = Host::parse(uri.host()?).ok()?;
    let port = uri.port_u16().unwrap_or_else(|| policy.default_port(&host));
    Some((host, port))
}

fn full(bytes: Bytes) -> Body {
    BodyExt::boxed_unsync(Full::new(bytes).map_err(|never| match never {}))
}

fn empty() -> Body {
    full(Bytes::new())
}

fn refusal(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from(text.to_owned())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
