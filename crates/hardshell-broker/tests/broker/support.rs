//! The broker on a fresh unix socket, the names a test resolver maps to
//! loopback, and the "external" servers there: echoing, silent, over TLS.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use hardshell_broker::address::AddressGuard;
use hardshell_broker::host::{Host, HostPattern};
use hardshell_broker::policy::{EgressPolicy, Route};
use hardshell_broker::proxy::{Broker, Event, Limits, Resolve};
use hardshell_broker::secrets::{Binding, LeakScanner, LiveScanner, NamedSecret};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixStream};

mod issuer;
pub mod upstream;
pub use issuer::TestIssuer;

pub const TOKEN: &str = "ghp_0123456789abcdefABCDEF0123456789ab";

/// A secret that could be a name's label as it is.
pub const LABEL_SAFE: &str = "k3ylabel0123456789";

/// Maps names to fixed addresses.
pub struct Table(BTreeMap<String, Vec<SocketAddr>>);

impl Resolve for Table {
    fn resolve(
        &self,
        host: &Host,
        port: u16,
    ) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> {
        let found = self.0.get(host.as_str()).cloned().map(|addresses| {
            addresses
                .into_iter()
                .map(|mut a| {
                    if a.port() == 0 {
                        a.set_port(port);
                    }
                    a
                })
                .collect()
        });
        Box::pin(async move { found.ok_or_else(|| std::io::Error::other("no such name")) })
    }
}

/// Every name to 127.0.0.1, at the port asked for.
pub struct Loopback;

impl Resolve for Loopback {
    fn resolve(
        &self,
        _host: &Host,
        port: u16,
    ) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> {
        Box::pin(async move { Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]) })
    }
}

/// A broker for `routes` on this machine's loopback: every name resolves
/// there, and the guard lets loopback through.
pub fn loopback_broker(routes: Vec<Route>, tls: Arc<rustls::ClientConfig>) -> Broker {
    let guard = AddressGuard::new(vec!["127.0.0.0/8".parse().unwrap()]);
    let mut broker = Broker::new(EgressPolicy { routes }, guard, tls);
    broker.resolver = Arc::new(Loopback);
    broker
}

/// Binds [`TOKEN`] as secret `name` to `host` (and `header`, if given).
pub fn bind_token(broker: &mut Broker, name: &'static str, host: &str, header: Option<&str>) {
    broker.bindings = BTreeMap::from([(
        name.to_owned(),
        Binding {
            hosts: vec![HostPattern::parse(host).unwrap()],
            header: header.map(str::to_owned),
        },
    )]);
    broker.secret = Arc::new(move |asked| (asked == name).then(|| TOKEN.to_owned()));
}

/// A route to `host` on `ports`, nothing else limited.
pub fn route(host: &str, ports: Vec<u16>) -> Route {
    Route {
        hosts: vec![HostPattern::parse(host).unwrap()],
        ports,
        ..Route::default()
    }
}

/// An "external" server: answers every request with what it received.
pub async fn echo_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(echo(stream, log.clone(), ""));
        }
    });
    (port, seen)
}

/// Reads one request from `stream` and answers 200 with the request as the
/// body, with `extra` head lines.
pub async fn echo<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    log: Arc<Mutex<Vec<String>>>,
    extra: &'static str,
) {
    let mut buffer = vec![0u8; 65536];
    let mut request = Vec::new();
    loop {
        let n = stream.read(&mut buffer).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&request);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if request.len() >= head_end + 4 + length {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&request).into_owned();
    log.lock().unwrap().push(text.clone());
    // Echoed in a header too, as some APIs do.
    let echo = text
        .lines()
        .find_map(|l| l.strip_prefix("authorization: "))
        .map(|auth| format!("X-Echo: {auth}\r\n"))
        .unwrap_or_default();
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{extra}{echo}Connection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A TLS client configuration that trusts `roots` only.
pub fn tls_trusting(
    roots: &[rustls::pki_types::CertificateDer<'static>],
) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(store)
            .with_no_client_auth(),
    )
}

pub fn test_tls() -> Arc<rustls::ClientConfig> {
    tls_trusting(&[])
}

pub struct Harness {
    pub socket: std::path::PathBuf,
    pub events: Arc<Mutex<Vec<Event>>>,
    pub seen: Arc<Mutex<Vec<String>>>,
    pub port: u16,
    pub silent: u16,
    _dir: tempfile::TempDir,
}

pub async fn harness(loopback_allowed: bool) -> Harness {
    harness_with(loopback_allowed, Limits::default()).await
}

/// A server that accepts and never answers.
pub async fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    port
}

pub async fn harness_with(loopback_allowed: bool, limits: Limits) -> Harness {
    let (port, seen) = echo_server().await;
    let silent = silent_server().await;
    let local = |port: u16| vec![SocketAddr::from(([127, 0, 0, 1], port))];
    let resolver = Table(BTreeMap::from([
        ("api.github.test".to_owned(), local(port)),
        ("other.test".to_owned(), local(port)),
        (
            "rebind.github.test".to_owned(),
            vec![SocketAddr::from(([169, 254, 169, 254], 0))],
        ),
        (
            "v6.github.test".to_owned(),
            vec!["[::1]:0".parse().unwrap()],
        ),
        (
            "mapped.github.test".to_owned(),
            vec!["[::ffff:127.0.0.1]:0".parse().unwrap()],
        ),
        ("slow.github.test".to_owned(), local(silent)),
        (
            "mixed.github.test".to_owned(),
            vec![
                SocketAddr::from(([93, 184, 216, 34], 0)),
                SocketAddr::from(([10, 0, 0, 1], 0)),
            ],
        ),
    ]));
    let policy = EgressPolicy {
        routes: vec![
            route("api.github.test", vec![port]),
            route("*.github.test", vec![port, silent]),
            route("other.test", vec![port]),
            Route {
                hosts: vec![
                    HostPattern::parse("other.test").unwrap(),
                    HostPattern::parse("only-public.test").unwrap(),
                ],
                ports: vec![port],
                methods: Some(vec!["GET".into()]),
                path_prefixes: Some(vec!["/public/".into()]),
                ..Route::default()
            },
        ],
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let guard = if loopback_allowed {
        AddressGuard::new(vec!["127.0.0.0/8".parse().unwrap()])
    } else {
        AddressGuard::default()
    };
    let mut broker = Broker::new(policy, guard, test_tls());
    broker.resolver = Arc::new(resolver);
    bind_token(
        &mut broker,
        "GITHUB_TOKEN",
        "api.github.test",
        Some("authorization"),
    );
    broker.scanner = LiveScanner::fixed(LeakScanner::new(&[
        NamedSecret::new("GITHUB_TOKEN", TOKEN.as_bytes().to_vec()),
        NamedSecret::new("LABEL_SAFE", LABEL_SAFE.as_bytes().to_vec()),
    ]));
    broker.events = Arc::new(move |event| sink.lock().unwrap().push(event));
    broker.limits = limits;
    let (socket, dir) = serve(broker);
    Harness {
        socket,
        events,
        seen,
        port,
        silent,
        _dir: dir,
    }
}

impl Harness {
    /// Sends raw request bytes to the broker; the whole response as text.
    pub async fn send(&self, request: &str) -> String {
        let mut stream = UnixStream::connect(&self.socket).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await;
        String::from_utf8_lossy(&response).into_owned()
    }

    pub async fn get(&self, host: &str, port: u16, extra: &str) -> String {
        self.send(&format!(
            "GET http://{host}:{port}/repos HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}Connection: close\r\n\r\n"
        ))
        .await
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

/// Serves `broker` on a fresh socket (one shell).
pub fn serve(broker: Broker) -> (std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("broker.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    tokio::spawn(Arc::new(broker).serve(listener));
    (socket, dir)
}

pub async fn send_to(socket: &std::path::Path, request: &str) -> String {
    let mut stream = UnixStream::connect(socket).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

/// What an inspecting test broker records and issues with.
pub type Recorded = Arc<Mutex<Vec<Event>>>;

/// Makes `broker` scan for [`TOKEN`] (as `API_KEY`), record its events and
/// answer inspected tunnels with a test issuer's leaves: the set-up every
/// inspected-tunnel test shares. Returns the events and the issuer.
pub fn inspecting(broker: &mut Broker) -> (Recorded, Arc<TestIssuer>) {
    broker.scanner = LiveScanner::fixed(LeakScanner::new(&[NamedSecret::new(
        "API_KEY",
        TOKEN.as_bytes().to_vec(),
    )]));
    let events: Recorded = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    broker.events = Arc::new(move |event| sink.lock().unwrap().push(event));
    let issuer = TestIssuer::new();
    broker.intercept = Some(issuer.clone());
    (events, issuer)
}

/// `CONNECT host:port` on a new connection to `socket`; the broker's
/// answer's head, read byte by byte (what follows it is the tunnel's).
pub async fn connect(socket: &std::path::Path, host: &str, port: u16) -> (UnixStream, String) {
    let mut stream = UnixStream::connect(socket).await.unwrap();
    let ask = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n");
    stream.write_all(ask.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if stream.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    (stream, String::from_utf8_lossy(&head).into_owned())
}

/// Whether an event `matching` is in `events` within two seconds: a refused
/// tunnel or stream is recorded as the broker drops it, which the client
/// may see first.
pub async fn recorded(events: &Mutex<Vec<Event>>, matching: impl Fn(&Event) -> bool) -> bool {
    for _ in 0..100 {
        if events.lock().unwrap().iter().any(&matching) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// A TLS acceptor with a self-signed certificate for `name`, and the
/// certificate (which a client then trusts alone).
pub fn tls_acceptor(
    name: &str,
) -> (
    tokio_rustls::TlsAcceptor,
    rustls::pki_types::CertificateDer<'static>,
) {
    let identity = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    let cert = identity.cert.der().clone();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(identity.signing_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), cert)
}

/// An HTTPS echo server for `name`, and its certificate.
pub async fn tls_echo_server(
    name: &str,
) -> (
    u16,
    Arc<Mutex<Vec<String>>>,
    rustls::pki_types::CertificateDer<'static>,
) {
    let (acceptor, cert) = tls_acceptor(name);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, log) = (acceptor.clone(), log.clone());
            tokio::spawn(async move {
                if let Ok(stream) = acceptor.accept(stream).await {
                    echo(stream, log, "").await;
                }
            });
        }
    });
    (port, seen, cert)
}

/// Everything the broker sends until it closes the connection; bounded only
/// so that a broken build fails instead of hanging.
pub async fn until_closed(stream: &mut UnixStream) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(120), stream.read_to_end(&mut answer))
        .await
        .expect("the broker never closed the connection");
    if let Err(e) = read {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// The body of a whole HTTP/1.1 `response`, its chunked framing taken off
/// (where the broker streams an answer, its pieces are any size).
pub fn body_of(response: &str) -> String {
    let (head, mut rest) = response.split_once("\r\n\r\n").unwrap();
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return rest.to_owned();
    }
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return body;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}
