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

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures::future::BoxFuture;
use hardshell_accept::{Listener, serve_http1};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;

use crate::address::AddressGuard;
use crate::host::Host;
use crate::policy::{EgressPolicy, Request as Asked, Route};
use crate::secrets::{
    Binding, LeakScanner, LiveScanner, NamedSecret, Place, Redactor, StreamScan,
    ends_in_placeholder, swap_for_route,
};

mod idle;
mod inspect;
mod shell;
mod stream;
mod tap;
mod upstream;
mod websocket;

pub use shell::Limits;
pub use tap::{Admitted, Meter, Refused, Tap};
pub use upstream::platform_tls;

use shell::{BUDGET_SPENT, Shell, counted, pump};
use stream::{Cut, Rest, Streaming, Watch, streamed};
use tap::relay;
use upstream::{IdlePool, Upstream};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// Why the broker will not dial an allowed host: the refusal's reason, on
/// record and in the 403 body.
#[derive(Debug, thiserror::Error)]
enum AddressRefused {
    #[error("{host} does not resolve: {source}")]
    Unresolved {
        host: Host,
        #[source]
        source: std::io::Error,
    },
    #[error("{host} has no address")]
    NoAddress { host: Host },
    #[error("{host} resolves to {refused}")]
    Guarded {
        host: Host,
        #[source]
        refused: crate::address::Refused,
    },
}

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

    /// The checks every request and tunnel passes, in this order, before
    /// anything is dialled: the host name scanned for secret values, the
    /// route decided, the name resolved and its addresses guarded, the
    /// shell's budget. The route, and where to send: in TLS on a `tls`
    /// route and for a request read inside an inspected tunnel.
    async fn admit(
        &self,
        shell: &Shell,
        host: &Host,
        port: u16,
        asked: &Asked<'_>,
    ) -> Result<(&Route, Upstream), Response<Body>> {
        // First, before the name is recorded anywhere (a refusal's audit
        // record and log line name the host) or looked up (under a wildcard
        // route, its labels would reach that domain's name servers).
        // With its dots taken out too: a value split across labels is one.
        let scanner = self.scanner.current().await;
        let name = host.as_str();
        let dotless: String = name.chars().filter(|c| *c != '.').collect();
        let found = match scanner.find(name.as_bytes()) {
            Some(found) => Some((found, scanner.redact(name).0)),
            // Split across labels: no label alone shows what to cut.
            None => scanner
                .find(dotless.as_bytes())
                .map(|found| (found.clone(), format!("[redacted:{}]", found.name))),
        };
        if let Some((found, shown)) = found {
            (self.events)(Event::LeakBlocked {
                name: found.name.clone(),
                host: shown,
            });
            return Err(refusal(
                StatusCode::FORBIDDEN,
                &format!(
                    "hardshell broker: refused: the host name carries the value of secret {}\n",
                    found.name
                ),
            ));
        }
        let route = match self.policy.decide(asked) {
            Ok(route) => route,
            Err(denied) => return Err(self.deny(host, port, &denied.to_string())),
        };
        let address = match self.address(host, port, route.internal).await {
            Ok(address) => address,
            Err(refused) => return Err(self.deny(host, port, &refused.to_string())),
        };
        if shell.spent.load(Ordering::SeqCst) >= self.limits.max_bytes {
            return Err(self.spent(host, port));
        }
        let inspected = matches!(asked, Asked::Inspected { .. });
        let upstream = Upstream {
            address,
            tls_name: (route.tls || inspected).then(|| host.to_string()),
        };
        Ok((route, upstream))
    }

    /// Recorded once every check has passed, right before the request or
    /// tunnel leaves: a request refused later (a leak, a misdirected secret,
    /// the tap) is recorded as that, not as allowed.
    fn allowed(&self, host: &Host, port: u16, tunnel: bool, inspected: bool) {
        (self.events)(Event::Allowed {
            host: host.to_string(),
            port,
            tunnel,
            inspected,
        });
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

    fn leak(&self, secret: &str, host: &Host) -> Response<Body> {
        (self.events)(Event::LeakBlocked {
            name: secret.to_owned(),
            host: host.to_string(),
        });
        refusal(
            StatusCode::FORBIDDEN,
            &format!(
                "hardshell broker: refused: the request carries the value of secret {secret}\n"
            ),
        )
    }

    fn spent(&self, host: &Host, port: u16) -> Response<Body> {
        (self.events)(Event::Denied {
            host: host.to_string(),
            port,
            reason: BUDGET_SPENT.to_owned(),
        });
        refusal(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("hardshell broker: refused: {BUDGET_SPENT}\n"),
        )
    }

    /// The address to dial: every address the name resolves to must pass the
    /// guard (a name that points at both a public and an internal address is
    /// refused whole), unless the route is one the operator named; the first
    /// is dialled.
    async fn address(
        &self,
        host: &Host,
        port: u16,
        internal: bool,
    ) -> Result<SocketAddr, AddressRefused> {
        let addresses = self.resolver.resolve(host, port).await.map_err(|source| {
            AddressRefused::Unresolved {
                host: host.clone(),
                source,
            }
        })?;
        let first = *addresses
            .first()
            .ok_or_else(|| AddressRefused::NoAddress { host: host.clone() })?;
        if !internal {
            for address in &addresses {
                self.guard
                    .check(address.ip())
                    .map_err(|refused| AddressRefused::Guarded {
                        host: host.clone(),
                        refused,
                    })?;
            }
        }
        Ok(first)
    }

    async fn tunnel(
        &self,
        shell: &Shell,
        request: Request<Incoming>,
        host: &Host,
        port: u16,
        address: SocketAddr,
    ) -> Response<Body> {
        // Counted before anything is dialled: a shell at its limit does not
        // get the broker to open connections for it.
        let Some(slot) = shell.slot(&self.limits) else {
            return refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "hardshell broker: too many connections at once\n",
            );
        };
        self.allowed(host, port, true, false);
        let upstream = match self.dial(address).await {
            Ok(stream) => stream,
            Err(e) => return refusal(StatusCode::BAD_GATEWAY, &format!("{e}\n")),
        };
        let (shell, limits) = (shell.clone(), self.limits.clone());
        tokio::spawn(async move {
            // Counted for as long as the tunnel is open.
            let _slot = slot;
            if let Ok(upgraded) = hyper::upgrade::on(request).await {
                let (from_shell, to_shell) = tokio::io::split(TokioIo::new(upgraded));
                let (from_upstream, to_upstream) = upstream.into_split();
                // Either direction spending the budget, or ending, ends both.
                tokio::select! {
                    () = pump(from_shell, to_upstream, &shell, &limits) => {}
                    () = pump(from_upstream, to_shell, &shell, &limits) => {}
                }
            }
        });
        Response::new(empty())
    }

    /// One plain-HTTP request, read, scanned, metered, swapped and sent;
    /// `inspected` when it was read inside an inspected tunnel. A body is
    /// read whole up to `limits.max_body_bytes` (the scan window); a longer
    /// one, on a route without a tap, has that window scanned and swapped as
    /// a whole body is, and the rest sent on as it arrives, scanned in
    /// passing ([`stream`]).
    #[allow(clippy::too_many_arguments)]
    async fn forward(
        &self,
        shell: &Shell,
        request: Request<Incoming>,
        route: &Route,
        host: &Host,
        port: u16,
        upstream: Upstream,
        inspected: bool,
    ) -> Response<Body> {
        let (mut parts, body) = request.into_parts();
        // A WebSocket: the shell's side of the upgrade, and a connection
        // slot for as long as it is open.
        let websocket = match websocket::asks_websocket(&parts) {
            false => None,
            true => {
                let Some(upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
                    return refusal(
                        StatusCode::BAD_REQUEST,
                        "hardshell broker: this connection cannot become a WebSocket\n",
                    );
                };
                let Some(slot) = shell.slot(&self.limits) else {
                    return refusal(
                        StatusCode::TOO_MANY_REQUESTS,
                        "hardshell broker: too many connections at once\n",
                    );
                };
                Some((upgrade, slot))
            }
        };
        // As the shell stated it, if it did: a streamed body keeps it.
        let stated = hyper::body::Body::size_hint(&body).exact();
        // A tap reads the whole request: a tagged route's body is never
        // streamed.
        let streams = route.tag.is_none();
        // Held until the answer's head is back (a whole body is sent by
        // then).
        let (body, _held, rest) = match self.read_body(shell, body, streams).await {
            Ok(read) => read,
            Err(refused) => return refused,
        };
        if !shell.spend(body.len(), &self.limits) {
            return self.spent(host, port);
        }
        // What the shell sent, before any swap: it holds no secret value, so
        // any it sends was obtained to be smuggled out. Each part alone (no
        // copy of the body): a value split across two parts is not one.
        let scanner = self.scanner.current().await;
        let found = scanner
            .find(parts.uri.to_string().as_bytes())
            .or_else(|| {
                // Names too: a shell chooses them as freely as the values.
                parts.headers.iter().find_map(|(name, value)| {
                    scanner
                        .find(name.as_str().as_bytes())
                        .or_else(|| scanner.find(value.as_bytes()))
                })
            })
            .or_else(|| scanner.find(parts.method.as_str().as_bytes()))
            .or_else(|| scanner.find(&body));
        if let Some(found) = found {
            return self.leak(&found.name, host);
        }
        let (body, meter) = match (&route.tag, &self.tap) {
            (None, _) => (body, None),
            (Some(_), None) => {
                return refusal(
                    StatusCode::BAD_GATEWAY,
                    "hardshell broker: this route is metered and its meter is missing\n",
                );
            }
            (Some(tag), Some(tap)) => match tap.admit(tag, &parts, body).await {
                Ok(admitted) => (admitted.body, Some(admitted.meter)),
                Err(refused) => {
                    (self.events)(Event::Denied {
                        host: host.to_string(),
                        port,
                        reason: refused.reason,
                    });
                    return refused.response.map(full);
                }
            },
        };
        let bound = matches!(route.placeholders, crate::policy::Placeholders::Bound);
        // A window that ends in a placeholder's name cannot be swapped: the
        // name may go on past it.
        if rest.is_some()
            && bound
            && text_head(&body).is_some_and(|(text, _)| ends_in_placeholder(text))
        {
            return self.deny(
                host,
                port,
                &format!(
                    "a secret placeholder in the request body is cut by the end of its first {} bytes (the part read whole, where placeholders are swapped)",
                    self.limits.max_body_bytes
                ),
            );
        }
        let tls = upstream.tls_name.is_some();
        let swapped = match self.swap(&parts, &body, host, port, route, tls, rest.is_some()) {
            Ok(swapped) => swapped,
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
        self.allowed(host, port, false, inspected);
        let mut sender = match self.idle_connection(&upstream) {
            Some(sender) => sender,
            None => match self.connect(&upstream).await {
                Ok(sender) => sender,
                Err(e) => return refusal(StatusCode::BAD_GATEWAY, &format!("{e}\n")),
            },
        };
        let (request, mut watch) = match rest {
            None => (swapped.request.map(full), None),
            Some(rest) => {
                let (mut head, window) = swapped.request.into_parts();
                // The stated length, less the window as the shell sent it,
                // plus the window as it leaves.
                head.headers.remove(http::header::CONTENT_LENGTH);
                if let Some(length) = stated
                    .and_then(|stated| stated.checked_sub(u64::try_from(body.len()).ok()?))
                    .and_then(|after| after.checked_add(u64::try_from(window.len()).ok()?))
                {
                    head.headers.insert(
                        http::header::CONTENT_LENGTH,
                        http::HeaderValue::from(length),
                    );
                }
                // Placeholders past the window stop the body only where
                // they would have been swapped: a text body on a route
                // that swaps them.
                let text = text_head(&body).is_some();
                let scan = StreamScan::new(self.scanner.current().await, bound && text, &body);
                let run = Streaming {
                    shell: shell.clone(),
                    limits: self.limits.clone(),
                    events: self.events.clone(),
                    host: host.clone(),
                    port,
                    window: self.limits.max_body_bytes,
                };
                let (body, watch) = streamed(window, rest, scan, run);
                (Request::from_parts(head, body), Some(watch))
            }
        };
        let sent = sender.send_request(request);
        // A streamed body may take long to send, a piece at most
        // `body_idle` apart from the shell: the wait for the answer starts
        // once it has all been sent (or the destination answers before),
        // and a destination that takes no piece for as long is given up on.
        let timeout = self.limits.response_timeout;
        let sent = match &mut watch {
            None => tokio::time::timeout(timeout, sent).await,
            Some(watch) => {
                tokio::pin!(sent);
                loop {
                    tokio::select! {
                        answer = &mut sent => break Ok(answer),
                        moved = tokio::time::timeout(timeout, watch.progress.changed()) => {
                            match moved {
                                Ok(Ok(())) => {}
                                Ok(Err(_ended)) => {
                                    break tokio::time::timeout(timeout, &mut sent).await;
                                }
                                Err(elapsed) => break Err(elapsed),
                            }
                        }
                    }
                }
            }
        };
        let Ok(sent) = sent else {
            return refusal(
                StatusCode::GATEWAY_TIMEOUT,
                "hardshell broker: the destination did not answer in time\n",
            );
        };
        let mut response = match sent {
            Ok(response) => response,
            Err(e) => {
                if let Some(cut) = watch.as_ref().and_then(Watch::cut) {
                    return cut_refusal(&cut);
                }
                return refusal(
                    StatusCode::BAD_GATEWAY,
                    &format!("the destination failed: {e}\n"),
                );
            }
        };
        let values = swapped.values;
        let redactor = Redactor::new(&values);
        // A WebSocket's connection is the WebSocket's now; any other goes
        // back to the pool.
        let splice = match websocket {
            Some((shell_side, slot)) if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
                let destination = hyper::upgrade::on(&mut response);
                let splice = websocket::Splice {
                    shell: shell.clone(),
                    slot,
                    limits: self.limits.clone(),
                    events: self.events.clone(),
                    host: host.clone(),
                    port,
                    scanner: self.scanner.current().await,
                    echoes: Arc::new(LeakScanner::new(&values)),
                };
                Some((splice, shell_side, destination))
            }
            _ => {
                self.keep_connection(upstream, sender);
                None
            }
        };
        // Wiped now: the redactor and the echo scan hold what they need.
        drop(values);
        if redactor.is_some()
            && response
                .headers()
                .get(http::header::CONTENT_ENCODING)
                .is_some_and(|encoding| encoding != "identity")
        {
            return refusal(
                StatusCode::BAD_GATEWAY,
                "hardshell broker: the destination compressed its answer to a request that carried a secret, so it cannot be checked for the secret\n",
            );
        }
        let status = response.status();
        let (mut head, body) = response.into_parts();
        if let Some(redactor) = &redactor {
            // The length changes when a value becomes its placeholder.
            head.headers.remove(http::header::CONTENT_LENGTH);
            // An echo may come back in a header too.
            for value in head.headers.values_mut() {
                if let Some(replaced) = redactor.whole(value.as_bytes()) {
                    match http::HeaderValue::from_bytes(&replaced) {
                        Ok(replaced) => *value = replaced,
                        Err(_) => *value = http::HeaderValue::from_static(""),
                    }
                }
            }
        }
        if let Some((splice, shell_side, destination)) = splice {
            tokio::spawn(async move {
                if let Ok(destination) = destination.await {
                    splice.start(shell_side, destination);
                }
            });
            return Response::from_parts(head, empty());
        }
        let body = counted(body, shell.clone(), self.limits.clone());
        let body = match (redactor, meter) {
            (None, None) => body,
            (redactor, meter) => relay(body, redactor, meter, status),
        };
        Response::from_parts(head, body)
    }

    /// A request's body, whole, counted against the shell's buffer
    /// allowance as it arrives; past `max_body_bytes`, refused, or when it
    /// `streams`, those first bytes and the [`Rest`].
    #[allow(clippy::type_complexity)]
    async fn read_body(
        &self,
        shell: &Shell,
        mut body: Incoming,
        streams: bool,
    ) -> Result<
        (
            Bytes,
            Option<tokio::sync::OwnedSemaphorePermit>,
            Option<Rest>,
        ),
        Response<Body>,
    > {
        let mut read = Vec::new();
        let mut held: Option<tokio::sync::OwnedSemaphorePermit> = None;
        loop {
            let Ok(frame) = tokio::time::timeout(self.limits.body_idle, body.frame()).await else {
                return Err(refusal(
                    StatusCode::REQUEST_TIMEOUT,
                    "hardshell broker: the request body stalled\n",
                ));
            };
            let Some(frame) = frame else { break };
            let Ok(frame) = frame else {
                return Err(refusal(
                    StatusCode::BAD_REQUEST,
                    "hardshell broker: the request body is broken\n",
                ));
            };
            let Ok(mut data) = frame.into_data() else {
                continue;
            };
            let mut past = None;
            if read.len() + data.len() > self.limits.max_body_bytes && streams {
                past = Some(data.split_off(self.limits.max_body_bytes - read.len()));
            } else if read.len() + data.len() > self.limits.max_body_bytes {
                return Err(refusal(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "hardshell broker: the request body is too large\n",
                ));
            }
            let want = u32::try_from((read.len() + data.len()).div_ceil(1024)).unwrap_or(u32::MAX);
            let have = held
                .as_ref()
                .map_or(0, |p| u32::try_from(p.num_permits()).unwrap_or(u32::MAX));
            if want > have {
                let Ok(more) = shell.buffered.clone().try_acquire_many_owned(want - have) else {
                    return Err(refusal(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "hardshell broker: this shell has too many request bytes in flight\n",
                    ));
                };
                match &mut held {
                    Some(permit) => permit.merge(more),
                    None => held = Some(more),
                }
            }
            read.extend_from_slice(&data);
            if let Some(first) = past {
                return Ok((Bytes::from(read), held, Some(Rest { first, body })));
            }
        }
        Ok((Bytes::from(read), held, None))
    }

    /// The request to send: origin-form, placeholders swapped as the route's
    /// rule has it, and the values swapped in; `Err` where a placeholder may
    /// not be swapped. `tls`: it leaves in TLS (443 is the default port).
    /// `window`: the body is the first part of a longer one, which may end
    /// inside a character.
    #[allow(clippy::too_many_arguments)]
    fn swap(
        &self,
        parts: &http::request::Parts,
        body: &Bytes,
        host: &Host,
        port: u16,
        route: &Route,
        tls: bool,
        window: bool,
    ) -> Result<Swapped, Unsendable> {
        // Every value swapped in, as it is looked up: the answer is read
        // for these.
        let swapped_in = std::cell::RefCell::new(Vec::<NamedSecret>::new());
        let value = |name: &str| {
            let value = (self.secret)(name)?;
            let mut swapped_in = swapped_in.borrow_mut();
            if !swapped_in.iter().any(|known| known.name() == name) {
                swapped_in.push(NamedSecret::new(name, value.clone().into_bytes()));
            }
            Some(value)
        };
        // A destination a secret is bound to can hand its value back in
        // any answer, not only to a request that carried it: a shell may
        // store a placeholder there (a note, swapped on the way in) and
        // read it back later with a request that swaps nothing. Every
        // answer from it is read for the values bound to it.
        if matches!(route.placeholders, crate::policy::Placeholders::Bound) {
            for (name, binding) in &self.bindings {
                if binding.hosts.iter().any(|pattern| pattern.matches(host)) {
                    value(name);
                }
            }
        }
        // A model route leaves placeholders as text but for its key header.
        let swap = |text: &str, place| {
            swap_for_route(
                text,
                host,
                place,
                &route.placeholders,
                &self.bindings,
                value,
            )
        };
        let misdirected = |e: crate::secrets::Misdirected| Unsendable::Misdirected(e.name);
        // The path too: Telegram's bot token is a path segment.
        let path = swap(parts.uri.path(), Place::Path).map_err(misdirected)?;
        let query = match parts.uri.query() {
            Some(query) => Some(swap(query, Place::Query).map_err(misdirected)?),
            None => None,
        };
        let target = match query {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        // The Host the destination sees is the host the policy checked: a
        // shell's own Host header could name another site behind the same
        // address (a CDN's), which the route never allowed.
        let default_port = if tls { 443 } else { 80 };
        let authority = if port == default_port {
            host.to_string()
        } else {
            format!("{host}:{port}")
        };
        let mut builder = Request::builder()
            .method(parts.method.clone())
            .uri(target)
            .header(http::header::HOST, authority);
        // A WebSocket keeps its upgrade (and only that: its other hop-by-hop
        // headers stop here as any request's).
        if websocket::asks_websocket(parts) {
            builder = builder
                .header(http::header::CONNECTION, "upgrade")
                .header(http::header::UPGRADE, "websocket");
        }
        let mut headers = Vec::new();
        for (name, header) in &parts.headers {
            // Hop-by-hop and proxy headers stop here, and the shell's Host;
            // so does the body's framing, which the swap and a tap change.
            if matches!(
                name.as_str(),
                "host"
                    | "content-length"
                    | "transfer-encoding"
                    | "proxy-authorization"
                    | "proxy-connection"
                    | "connection"
                    | "keep-alive"
                    | "te"
                    | "upgrade"
                    // No compression agreed: the scan reads frames as sent.
                    | "sec-websocket-extensions"
            ) {
                continue;
            }
            let text = header
                .to_str()
                .map_err(|_| Unsendable::Invalid("a header that is not text".into()))?;
            let swapped = swap(text, Place::Header(name.as_str())).map_err(misdirected)?;
            headers.push((name, swapped));
        }
        let text = if window {
            text_head(body)
        } else {
            std::str::from_utf8(body).ok().map(|text| (text, &[][..]))
        };
        let body = match text {
            Some((text, tail)) => {
                let mut swapped = swap(text, Place::Body).map_err(misdirected)?.into_bytes();
                swapped.extend_from_slice(tail);
                Bytes::from(swapped)
            }
            // A binary body carries no placeholder the broker would swap.
            None => body.clone(),
        };
        let values = swapped_in.into_inner();
        for (name, header) in headers {
            // An answer to a request carrying a secret is read for the
            // secret, which a compressed one would hide.
            if !values.is_empty() && name == http::header::ACCEPT_ENCODING {
                continue;
            }
            builder = builder.header(name, header);
        }
        let request = builder
            .body(body)
            .map_err(|e| Unsendable::Invalid(format!("rebuilding the request: {e}")))?;
        Ok(Swapped { request, values })
    }
}

/// A request ready to leave (its body, or the window of a longer one), and
/// the secret values swapped into it.
struct Swapped {
    request: Request<Bytes>,
    values: Vec<NamedSecret>,
}

/// `bytes` as text, if they are: all of them, or all but an unfinished
/// character at the end (a window's edge may cut one), which is given
/// apart.
fn text_head(bytes: &[u8]) -> Option<(&str, &[u8])> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Some((text, &[])),
        Err(e) if e.error_len().is_none() => {
            let (text, tail) = bytes.split_at(e.valid_up_to());
            Some((std::str::from_utf8(text).ok()?, tail))
        }
        Err(_) => None,
    }
}

/// The shell's answer to a streamed body the broker cut (already recorded).
fn cut_refusal(cut: &Cut) -> Response<Body> {
    match cut {
        Cut::Leak(secret) => refusal(
            StatusCode::FORBIDDEN,
            &format!(
                "hardshell broker: refused: the request carries the value of secret {secret}\n"
            ),
        ),
        Cut::Placeholder => refusal(
            StatusCode::FORBIDDEN,
            "hardshell broker: refused: the request body has a secret placeholder past the part the broker reads whole, where placeholders are swapped\n",
        ),
        Cut::Spent => refusal(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("hardshell broker: refused: {BUDGET_SPENT}\n"),
        ),
        Cut::Stalled => refusal(
            StatusCode::REQUEST_TIMEOUT,
            "hardshell broker: the request body stalled\n",
        ),
        Cut::Broken => refusal(
            StatusCode::BAD_REQUEST,
            "hardshell broker: the request body is broken\n",
        ),
    }
}

/// Why a plain-HTTP request was not sent.
enum Unsendable {
    /// A placeholder for a secret not bound here (its name).
    Misdirected(String),
    /// The request cannot be forwarded as it is.
    Invalid(String),
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
