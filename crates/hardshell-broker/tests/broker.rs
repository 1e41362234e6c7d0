//! The broker over a real unix socket, against "external" servers that live on
//! this machine's loopback (reached by names a test resolver maps there, and
//! allowed by an explicit exception — without it, loopback is refused, which
//! is tested too).
#![allow(clippy::unwrap_used, clippy::expect_used)]

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

const TOKEN: &str = "ghp_0123456789abcdefABCDEF0123456789ab";
/// A secret that could be a name's label as it is.
const LABEL_SAFE: &str = "k3ylabel0123456789";

/// Maps names to fixed addresses.
struct Table(BTreeMap<String, Vec<SocketAddr>>);

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
struct Loopback;

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
fn loopback_broker(routes: Vec<Route>, tls: Arc<rustls::ClientConfig>) -> Broker {
    let guard = AddressGuard::new(vec!["127.0.0.0/8".parse().unwrap()]);
    let mut broker = Broker::new(EgressPolicy { routes }, guard, tls);
    broker.resolver = Arc::new(Loopback);
    broker
}

/// Binds [`TOKEN`] as secret `name` to `host` (and `header`, if given).
fn bind_token(broker: &mut Broker, name: &'static str, host: &str, header: Option<&str>) {
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
fn route(host: &str, ports: Vec<u16>) -> Route {
    Route {
        hosts: vec![HostPattern::parse(host).unwrap()],
        ports,
        ..Route::default()
    }
}

/// An "external" server: answers every request with what it received.
async fn echo_server() -> (u16, Arc<Mutex<Vec<String>>>) {
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
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(
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
fn tls_trusting(roots: &[rustls::pki_types::CertificateDer<'static>]) -> Arc<rustls::ClientConfig> {
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

fn test_tls() -> Arc<rustls::ClientConfig> {
    tls_trusting(&[])
}

struct Harness {
    socket: std::path::PathBuf,
    events: Arc<Mutex<Vec<Event>>>,
    seen: Arc<Mutex<Vec<String>>>,
    port: u16,
    silent: u16,
    _dir: tempfile::TempDir,
}

async fn harness(loopback_allowed: bool) -> Harness {
    harness_with(loopback_allowed, Limits::default()).await
}

/// A server that accepts and never answers.
async fn silent_server() -> u16 {
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

async fn harness_with(loopback_allowed: bool, limits: Limits) -> Harness {
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
    async fn send(&self, request: &str) -> String {
        let mut stream = UnixStream::connect(&self.socket).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await;
        String::from_utf8_lossy(&response).into_owned()
    }

    async fn get(&self, host: &str, port: u16, extra: &str) -> String {
        self.send(&format!(
            "GET http://{host}:{port}/repos HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}Connection: close\r\n\r\n"
        ))
        .await
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn an_allowed_request_goes_through_and_is_recorded() {
    let h = harness(true).await;
    let response = h.get("api.github.test", h.port, "").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("GET /repos HTTP/1.1"),
        "origin-form upstream: {response}"
    );
    assert_eq!(
        h.events(),
        [Event::Allowed {
            host: "api.github.test".into(),
            port: h.port,
            tunnel: false
        }]
    );
    // The destination sees the host the policy checked, whatever the shell
    // put in Host: no reaching another site behind the same address.
    let fronted = h
        .send(&format!(
            "GET http://api.github.test:{0}/x HTTP/1.1\r\nHost: evil.internal\r\nConnection: close\r\n\r\n",
            h.port
        ))
        .await;
    assert!(fronted.starts_with("HTTP/1.1 200"), "{fronted}");
    assert!(
        !fronted.to_ascii_lowercase().contains("evil.internal"),
        "{fronted}"
    );
    assert!(
        fronted.contains(&format!("host: api.github.test:{}", h.port)),
        "{fronted}"
    );
}

#[tokio::test]
async fn unlisted_hosts_wrong_ports_methods_and_paths_are_refused() {
    let h = harness(true).await;
    // Every way a request falls outside the routes (policy.rs tests each rule alone).
    let close = "Connection: close\r\n\r\n";
    for (request, reason) in [
        (
            format!(
                "GET http://evil.test:{}/ HTTP/1.1\r\nHost: evil.test\r\n{close}",
                h.port
            ),
            "evil.test is not an allowed host",
        ),
        (
            format!(
                "GET http://api.github.test.evil.net:{}/ HTTP/1.1\r\nHost: x\r\n{close}",
                h.port
            ),
            "not an allowed host",
        ),
        (
            format!("GET http://api.github.test:22/ HTTP/1.1\r\nHost: x\r\n{close}"),
            "port 22 is not allowed",
        ),
        // other.test is also a GET-only route under /public/ (the first
        // route for it allows anything, so a name only it matches is used).
        (
            format!(
                "DELETE http://only-public.test:{}/public/x HTTP/1.1\r\nHost: x\r\n{close}",
                h.port
            ),
            "DELETE is not allowed for only-public.test",
        ),
        (
            format!(
                "GET http://only-public.test:{}/private/x HTTP/1.1\r\nHost: x\r\n{close}",
                h.port
            ),
            "the path is not allowed for only-public.test",
        ),
        (
            format!(
                "GET https://api.github.test:{}/ HTTP/1.1\r\nHost: x\r\n{close}",
                h.port
            ),
            "absolute http:// URL",
        ),
        (
            format!("GET /relative HTTP/1.1\r\nHost: api.github.test\r\n{close}"),
            "absolute http:// URL",
        ),
    ] {
        let response = h.send(&request).await;
        assert!(
            response.starts_with("HTTP/1.1 403") || response.starts_with("HTTP/1.1 400"),
            "{request}: {response}"
        );
        assert!(response.contains(reason), "{request}: {response}");
    }
    assert!(
        h.seen.lock().unwrap().is_empty(),
        "a refused request reached the server"
    );
    assert!(
        h.events()
            .iter()
            .all(|e| matches!(e, Event::Denied { .. } | Event::Allowed { .. }))
    );
}

#[tokio::test]
async fn names_resolving_to_internal_addresses_are_refused_even_when_allowed() {
    let h = harness(true).await;
    let response = h.get("rebind.github.test", h.port, "").await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(response.contains("cloud metadata"), "{response}");
    let response = h.get("mixed.github.test", h.port, "").await;
    assert!(
        response.contains("10.0.0.1 is a private address"),
        "{response}"
    );
    // Without the test's exception, loopback itself is refused.
    let strict = harness(false).await;
    let response = strict.get("api.github.test", strict.port, "").await;
    assert!(
        response.contains("127.0.0.1 is a loopback address"),
        "{response}"
    );
    assert!(strict.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_placeholder_becomes_the_secret_only_at_its_bound_host_and_header() {
    let h = harness(true).await;
    let response = h
        .get(
            "api.github.test",
            h.port,
            "Authorization: Bearer hs-secret:GITHUB_TOKEN\r\n",
        )
        .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let seen = h.seen.lock().unwrap().last().unwrap().clone();
    assert!(
        seen.contains(&format!("authorization: Bearer {TOKEN}")),
        "{seen}"
    );
    assert!(!seen.contains("hs-secret:"), "{seen}");
    // The destination echoed the value back, in its body and a header: the
    // shell gets the placeholder.
    assert!(!response.contains(TOKEN), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("x-echo: bearer hs-secret:github_token"),
        "{response}"
    );
    assert!(
        response.contains("authorization: Bearer hs-secret:GITHUB_TOKEN"),
        "{response}"
    );

    // Aimed elsewhere: refused, audited by name, the value nowhere.
    let before = h.seen.lock().unwrap().len();
    let response = h
        .get(
            "other.test",
            h.port,
            "Authorization: Bearer hs-secret:GITHUB_TOKEN\r\n",
        )
        .await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(
        response.contains("secret GITHUB_TOKEN is not bound to other.test"),
        "{response}"
    );
    assert!(!response.contains(TOKEN));
    assert_eq!(h.seen.lock().unwrap().len(), before, "the request left");
    assert!(h.events().contains(&Event::SecretMisdirected {
        name: "GITHUB_TOKEN".into(),
        host: "other.test".into()
    }));
}

#[tokio::test]
async fn a_secret_value_leaving_in_any_form_is_blocked() {
    use base64::Engine as _;
    let h = harness(true).await;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("stolen={TOKEN}"));
    for body in [TOKEN.to_owned(), encoded, hex::encode(TOKEN)] {
        let request = format!(
            "POST http://other.test:{}/upload HTTP/1.1\r\nHost: other.test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            h.port,
            body.len()
        );
        let response = h.send(&request).await;
        assert!(response.starts_with("HTTP/1.1 403"), "{response}");
        assert!(
            response.contains("carries the value of secret GITHUB_TOKEN"),
            "{response}"
        );
    }
    // In a header's name (which arrives lower-cased) or as the method.
    let in_name = format!("x-{}: 1", TOKEN.to_ascii_uppercase());
    for (method, header) in [("POST", in_name.as_str()), (TOKEN, "x-ok: 1")] {
        let request = format!(
            "{method} http://other.test:{}/upload HTTP/1.1\r\nHost: other.test\r\n{header}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            h.port
        );
        let response = h.send(&request).await;
        assert!(
            response.starts_with("HTTP/1.1 403"),
            "{method} {header}: {response}"
        );
    }
    assert!(h.seen.lock().unwrap().is_empty());
    assert!(h.events().contains(&Event::LeakBlocked {
        name: "GITHUB_TOKEN".into(),
        host: "other.test".into()
    }));
    // A blocked request is recorded as blocked, never as allowed.
    assert!(
        !h.events()
            .iter()
            .any(|e| matches!(e, Event::Allowed { host, .. } if host == "other.test")),
        "{:?}",
        h.events()
    );
    // In a name under a wildcard route, it is refused before the name is
    // looked up (the lookup itself would carry it out), tunnel or not: the
    // refusal names the secret, not a name that does not resolve.
    for label in [LABEL_SAFE.to_owned(), hex::encode(LABEL_SAFE)] {
        let name = format!("{label}.github.test");
        for request in [
            format!(
                "GET http://{name}:{0}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                h.port
            ),
            format!("CONNECT {name}:{0} HTTP/1.1\r\nHost: x\r\n\r\n", h.port),
        ] {
            let response = h.send(&request).await;
            assert!(response.starts_with("HTTP/1.1 403"), "{response}");
            assert!(
                response.contains("carries the value of secret LABEL_SAFE"),
                "{response}"
            );
        }
    }
    // Under no route at all, too: a refusal names the host in its record,
    // which must not carry the value there.
    let response = h
        .send(&format!(
            "GET http://{LABEL_SAFE}.evil.test:{0}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            h.port
        ))
        .await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(response.contains("secret LABEL_SAFE"), "{response}");
    let recorded = format!("{:?}", h.events());
    assert!(
        recorded.contains("[redacted:LABEL_SAFE].evil.test"),
        "{recorded}"
    );
    for form in [LABEL_SAFE.to_owned(), hex::encode(LABEL_SAFE)] {
        assert!(!recorded.contains(&form), "{recorded}");
    }
}

#[tokio::test]
async fn connect_tunnels_to_an_allowed_host_and_only_there() {
    let h = harness(true).await;
    let mut stream = UnixStream::connect(&h.socket).await.unwrap();
    let authority = format!("api.github.test:{}", h.port);
    stream
        .write_all(format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = vec![0u8; 1024];
    let n = stream.read(&mut head).await.unwrap();
    let head = String::from_utf8_lossy(&head[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Inside the tunnel: a request the echo server answers.
    stream
        .write_all(b"GET /inside HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(String::from_utf8_lossy(&rest).contains("GET /inside"));

    let response = h
        .send(&format!(
            "CONNECT evil.test:{0} HTTP/1.1\r\nHost: evil.test:{0}\r\nConnection: close\r\n\r\n",
            h.port
        ))
        .await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
}

#[tokio::test]
async fn ipv6_and_ipv4_mapped_loopback_stay_refused_even_with_an_ipv4_exception() {
    let h = harness(true).await;
    for host in ["v6.github.test", "mapped.github.test"] {
        let response = h.get(host, h.port, "").await;
        assert!(response.starts_with("HTTP/1.1 403"), "{host}: {response}");
        assert!(response.contains("loopback address"), "{host}: {response}");
    }
    assert!(h.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn connections_are_capped_and_a_silent_destination_times_out() {
    let limits = Limits {
        max_connections: 2,
        response_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let h = harness_with(true, limits).await;
    let _first = UnixStream::connect(&h.socket).await.unwrap();
    let _second = UnixStream::connect(&h.socket).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = h.get("api.github.test", h.port, "").await;
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    drop(_second);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A tunnel is a connection of its own: with the one taking the last
    // place, it is refused, and nothing was recorded as allowed (or dialled).
    let tunnel = h
        .send(&format!(
            "CONNECT api.github.test:{0} HTTP/1.1\r\nHost: x\r\n\r\n",
            h.port
        ))
        .await;
    assert!(tunnel.starts_with("HTTP/1.1 429"), "{tunnel}");
    assert!(
        !h.events()
            .iter()
            .any(|e| matches!(e, Event::Allowed { tunnel: true, .. })),
        "{:?}",
        h.events()
    );
    drop(_first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let response = h.get("slow.github.test", h.silent, "").await;
    assert!(response.starts_with("HTTP/1.1 504"), "{response}");
}

/// Serves `broker` on a fresh socket (one shell).
fn serve(broker: Broker) -> (std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("broker.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    tokio::spawn(Arc::new(broker).serve(listener));
    (socket, dir)
}

async fn send_to(socket: &std::path::Path, request: &str) -> String {
    let mut stream = UnixStream::connect(socket).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

/// An HTTPS echo server for `name`, and its certificate.
async fn tls_echo_server(
    name: &str,
) -> (
    u16,
    Arc<Mutex<Vec<String>>>,
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
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
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

#[tokio::test]
async fn a_tls_route_reads_plain_http_and_speaks_checked_tls_to_the_destination() {
    let (port, seen, cert) = tls_echo_server("api.tls.test").await;
    let tls_route = |host: &str| Route {
        tls: true,
        ..route(host, vec![port])
    };
    let mut broker = loopback_broker(
        vec![tls_route("api.tls.test"), tls_route("wrong-name.test")],
        tls_trusting(&[cert]),
    );
    bind_token(&mut broker, "API_KEY", "api.tls.test", Some("x-api-key"));
    let (socket, _dir) = serve(broker);

    // The shell speaks plain HTTP; the destination got TLS, the Host the
    // route checked, and the value in place of the placeholder.
    let response = send_to(
        &socket,
        &format!(
            "GET http://api.tls.test:{port}/v1/x HTTP/1.1\r\nHost: api.tls.test\r\nx-api-key: hs-secret:API_KEY\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let received = seen.lock().unwrap().last().cloned().unwrap();
    assert!(received.starts_with("GET /v1/x HTTP/1.1"), "{received}");
    assert!(
        received.contains(&format!("x-api-key: {TOKEN}")),
        "{received}"
    );
    assert!(
        received.contains(&format!("host: api.tls.test:{port}")),
        "{received}"
    );
    // A request carrying a secret asks for no compression, and what comes
    // back has the value as its placeholder again.
    assert!(
        !received.to_ascii_lowercase().contains("accept-encoding"),
        "{received}"
    );
    assert!(!response.contains(TOKEN), "{response}");
    assert!(
        response.contains("x-api-key: hs-secret:API_KEY"),
        "{response}"
    );

    // A certificate for another name is refused, and nothing was sent.
    let before = seen.lock().unwrap().len();
    let response = send_to(
        &socket,
        &format!(
            "GET http://wrong-name.test:{port}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 502"), "{response}");
    assert!(
        response.contains("TLS with the destination failed"),
        "{response}"
    );
    assert_eq!(seen.lock().unwrap().len(), before);

    // A tunnel would hide what the route is there to read.
    let response = send_to(
        &socket,
        &format!("CONNECT api.tls.test:{port} HTTP/1.1\r\nHost: api.tls.test:{port}\r\n\r\n"),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(
        response.contains("a tunnel to api.tls.test is not allowed"),
        "{response}"
    );
}

#[tokio::test]
async fn a_compressed_answer_to_a_request_carrying_a_secret_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            // Compressed whatever was asked (the body is not really gzip;
            // the broker must not pass it on either way).
            tokio::spawn(echo(stream, log.clone(), "Content-Encoding: gzip\r\n"));
        }
    });
    let mut broker = loopback_broker(
        vec![
            route("api.github.test", vec![port]),
            route("other.test", vec![port]),
        ],
        test_tls(),
    );
    bind_token(&mut broker, "GITHUB_TOKEN", "api.github.test", None);
    let (socket, _dir) = serve(broker);
    let request = |host: &str, auth: &str| {
        format!("GET http://{host}:{port}/ HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n")
    };
    let response = send_to(
        &socket,
        &request(
            "api.github.test",
            "Authorization: token hs-secret:GITHUB_TOKEN\r\n",
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 502"), "{response}");
    assert!(response.contains("compressed"), "{response}");
    assert!(!response.contains(TOKEN), "{response}");
    // From a host a secret is bound to, every answer is read, swap or not.
    let response = send_to(&socket, &request("api.github.test", "")).await;
    assert!(response.starts_with("HTTP/1.1 502"), "{response}");
    // From a host no secret is bound to, a compressed answer is the
    // shell's business.
    let response = send_to(&socket, &request("other.test", "")).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_shell_that_spends_its_byte_budget_is_stopped_alone() {
    let limits = Limits {
        max_bytes: 5000,
        ..Limits::default()
    };
    let h = harness_with(true, limits).await;
    let body = "x".repeat(1500);
    let post = format!(
        "POST http://other.test:{}/up HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        h.port,
        body.len()
    );
    // A host no secret is bound to: the answer passes unread, its length
    // as sent. 1500 out and the echo (~1600) back: the first fits, the second
    // crosses the budget mid-answer, the third is refused before it leaves.
    let first = h.send(&post).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(first.ends_with(&body), "the first answer was cut");
    let second = h.send(&post).await;
    assert!(
        !second.ends_with(&body),
        "the answer that crossed the budget was not cut: {} bytes",
        second.len()
    );
    let third = h.send(&post).await;
    assert!(third.starts_with("HTTP/1.1 429"), "{third}");
    assert!(third.contains("moved all the bytes it may"), "{third}");
    assert_eq!(h.seen.lock().unwrap().len(), 2, "the refused request left");
    // Tunnels count too.
    let response = h
        .send(&format!(
            "CONNECT api.github.test:{0} HTTP/1.1\r\nHost: x\r\n\r\n",
            h.port
        ))
        .await;
    assert!(response.starts_with("HTTP/1.1 429"), "{response}");
}

/// A tap that tags what it admits and counts what it metered.
struct TestTap {
    metered: Arc<Mutex<Vec<(String, usize, u16)>>>,
}

struct TestMeter {
    tag: String,
    bytes: usize,
    metered: Arc<Mutex<Vec<(String, usize, u16)>>>,
}

impl hardshell_broker::proxy::Meter for TestMeter {
    fn feed(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len();
    }

    fn finish(self: Box<Self>, status: http::StatusCode) {
        self.metered
            .lock()
            .unwrap()
            .push((self.tag, self.bytes, status.as_u16()));
    }
}

impl hardshell_broker::proxy::Tap for TestTap {
    fn admit(
        &self,
        tag: &str,
        request: &http::request::Parts,
        body: bytes::Bytes,
    ) -> BoxFuture<
        'static,
        Result<hardshell_broker::proxy::Admitted, hardshell_broker::proxy::Refused>,
    > {
        let refuse = request.uri.path().ends_with("/refused");
        let (tag, metered) = (tag.to_owned(), self.metered.clone());
        Box::pin(async move {
            if refuse {
                let mut response = http::Response::new(bytes::Bytes::from_static(b"over budget"));
                *response.status_mut() = http::StatusCode::PAYMENT_REQUIRED;
                return Err(hardshell_broker::proxy::Refused {
                    response,
                    reason: "over budget".into(),
                });
            }
            let mut rewritten = body.to_vec();
            rewritten.extend_from_slice(b"+tapped");
            Ok(hardshell_broker::proxy::Admitted {
                body: bytes::Bytes::from(rewritten),
                meter: Box::new(TestMeter {
                    tag,
                    bytes: 0,
                    metered,
                }),
            })
        })
    }
}

#[tokio::test]
async fn a_tagged_route_goes_through_its_tap_and_without_one_is_refused() {
    let (port, seen) = echo_server().await;
    let routes = || {
        vec![Route {
            methods: Some(vec!["POST".into()]),
            path_prefixes: Some(vec!["/v1/".into()]),
            tag: Some("local".into()),
            ..route("model.test", vec![port])
        }]
    };
    let metered = Arc::new(Mutex::new(Vec::new()));
    let mut broker = loopback_broker(routes(), test_tls());
    broker.tap = Some(Arc::new(TestTap {
        metered: metered.clone(),
    }));
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    broker.events = Arc::new(move |event| sink.lock().unwrap().push(event));
    let (socket, _dir) = serve(broker);
    let post = |path: &str| {
        format!(
            "POST http://model.test:{port}{path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
        )
    };
    let response = send_to(&socket, &post("/v1/chat")).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(seen.lock().unwrap()[0].ends_with("hello+tapped"));
    // The meter saw the whole answer once it ended.
    let answer_bytes = response.split_once("\r\n\r\n").unwrap().1.len();
    let mut waited = 0;
    while metered.lock().unwrap().is_empty() && waited < 50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    assert_eq!(
        metered.lock().unwrap().as_slice(),
        [("local".to_owned(), answer_bytes, 200)]
    );
    let refused = send_to(&socket, &post("/v1/refused")).await;
    assert!(refused.starts_with("HTTP/1.1 402"), "{refused}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    // The tap's refusal is on record, in the tap's words.
    assert!(events.lock().unwrap().contains(&Event::Denied {
        host: "model.test".into(),
        port,
        reason: "over budget".into(),
    }));

    // A metered route with no meter does not go out unmetered.
    let (socket, _dir2) = serve(loopback_broker(routes(), test_tls()));
    let response = send_to(&socket, &post("/v1/chat")).await;
    assert!(response.starts_with("HTTP/1.1 502"), "{response}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_shell_cannot_hold_more_request_bytes_in_the_edge_than_its_allowance() {
    let limits = Limits {
        max_buffered_bytes: 8 * 1024,
        response_timeout: Duration::from_millis(1500),
        ..Limits::default()
    };
    let h = harness_with(true, limits).await;
    let body = "x".repeat(6 * 1024);
    let post = |host: &str, port: u16| {
        format!(
            "POST http://{host}:{port}/up HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    // The first waits on a destination that never answers, holding 6 KiB.
    let socket = h.socket.clone();
    let slow = post("slow.github.test", h.silent);
    let waiting = tokio::spawn(async move { send_to(&socket, &slow).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = h.send(&post("api.github.test", h.port)).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.contains("too many request bytes in flight"),
        "{refused}"
    );
    assert!(h.seen.lock().unwrap().is_empty());
    // Once it is answered (here: timed out), the allowance is back.
    let first = waiting.await.unwrap();
    assert!(first.starts_with("HTTP/1.1 504"), "{first}");
    let after = h.send(&post("api.github.test", h.port)).await;
    assert!(after.starts_with("HTTP/1.1 200"), "{after}");
}

/// Everything the broker sends until it closes the connection; bounded only
/// so that a broken build fails instead of hanging.
async fn until_closed(stream: &mut UnixStream) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(120), stream.read_to_end(&mut answer))
        .await
        .expect("the broker never closed the connection");
    if let Err(e) = read {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_request_head_that_never_ends_is_cut_and_its_slot_comes_back() {
    let limits = Limits {
        max_connections: 1,
        header_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let h = harness_with(true, limits).await;
    let mut loris = UnixStream::connect(&h.socket).await.unwrap();
    loris
        .write_all(
            format!(
                "GET http://api.github.test:{}/ HTTP/1.1\r\nHost: x\r\n",
                h.port
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = until_closed(&mut loris).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    drop(loris);
    // The one slot is free again: a real request is served.
    let mut served = String::new();
    for _ in 0..200 {
        served = h.get("api.github.test", h.port, "").await;
        if !served.starts_with("HTTP/1.1 429") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
}

#[tokio::test]
async fn a_request_body_that_stalls_is_refused_and_nothing_is_sent() {
    let limits = Limits {
        body_idle: Duration::from_millis(200),
        ..Limits::default()
    };
    let h = harness_with(true, limits).await;
    let mut stream = UnixStream::connect(&h.socket).await.unwrap();
    stream
        .write_all(
            format!(
                "POST http://api.github.test:{}/up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npart of it",
                h.port
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        h.seen.lock().unwrap().is_empty(),
        "the stalled request was sent"
    );
}

/// A secret store in memory, written while the broker runs.
#[derive(Default)]
struct Stored(Mutex<(u64, hardshell_broker::secrets::NamedValues)>);

impl hardshell_broker::secrets::SecretSource for Stored {
    fn fingerprint(&self) -> BoxFuture<'_, Result<String, String>> {
        let writes = self.0.lock().unwrap().0;
        Box::pin(async move { Ok(writes.to_string()) })
    }
    fn values(&self) -> BoxFuture<'_, Result<hardshell_broker::secrets::NamedValues, String>> {
        let values = self.0.lock().unwrap().1.clone();
        Box::pin(async move { Ok(values) })
    }
}

#[tokio::test]
async fn a_secret_stored_after_the_start_is_refused_from_then_on() {
    let (port, seen) = echo_server().await;
    let store = Arc::new(Stored::default());
    let mut broker = loopback_broker(vec![route("*.api.test", vec![port])], test_tls());
    broker.scanner = LiveScanner::watching(store.clone(), Vec::new(), Duration::ZERO);
    let (socket, _dir) = serve(broker);
    let later = "later-stored-0123456789";
    let post = |host: &str| {
        format!(
            "POST http://{host}:{port}/notes HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{later}",
            later.len()
        )
    };
    let response = send_to(&socket, &post("www.api.test")).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    {
        let mut held = store.0.lock().unwrap();
        held.0 += 1;
        held.1
            .push(NamedSecret::new("LATER", later.as_bytes().to_vec()));
    }
    let response = send_to(&socket, &post("www.api.test")).await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(
        response.contains("carries the value of secret LATER"),
        "{response}"
    );
    // In a host name too.
    let response = send_to(&socket, &post(&format!("{later}.api.test"))).await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

/// An "external" notes API: `POST` stores the body, `GET` returns every note
/// stored, raw and in the forms an API may re-encode it in.
async fn notes_server() -> u16 {
    use base64::Engine as _;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let notes = Arc::new(Mutex::new(Vec::<String>::new()));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let notes = notes.clone();
            tokio::spawn(async move {
                let log = Arc::new(Mutex::new(Vec::new()));
                let (mut ours, theirs) = tokio::io::duplex(1 << 16);
                // Read the request with the echo helper's parser.
                let read = tokio::spawn(echo(theirs, log.clone(), ""));
                let mut stream = stream;
                let mut buffer = vec![0u8; 65536];
                let n = stream.read(&mut buffer).await.unwrap_or(0);
                ours.write_all(&buffer[..n]).await.unwrap();
                let _ = read.await;
                let request = log.lock().unwrap().pop().unwrap_or_default();
                let body = request.split_once("\r\n\r\n").map_or("", |(_, b)| b);
                let answer = if request.starts_with("POST") {
                    notes.lock().unwrap().push(body.to_owned());
                    "stored".to_owned()
                } else {
                    let mut answer = String::new();
                    for note in notes.lock().unwrap().iter() {
                        let every_char: String = note
                            .chars()
                            .map(|c| format!("\\u{:04X}", u32::from(c)))
                            .collect();
                        let percent: String = note.bytes().map(|b| format!("%{b:02x}")).collect();
                        answer.push_str(&format!(
                            "raw={note}\nb64={}\nhex={}\npct={percent}\njson=\"{}\"\nu={every_char}\n",
                            base64::engine::general_purpose::STANDARD.encode(note),
                            hex::encode_upper(note),
                            note.replace('/', "\\/"),
                        ));
                    }
                    answer
                };
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn a_value_stored_through_a_placeholder_comes_back_as_the_placeholder_in_every_form() {
    let port = notes_server().await;
    let mut broker = loopback_broker(vec![route("notes.test", vec![port])], test_tls());
    // No header named: the placeholder may be swapped in a body.
    bind_token(&mut broker, "NOTES_TOKEN", "notes.test", None);
    let (socket, _dir) = serve(broker);
    let note = "key hs-secret:NOTES_TOKEN/x";
    let response = send_to(
        &socket,
        &format!(
            "POST http://notes.test:{port}/notes HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{note}",
            note.len()
        ),
    )
    .await;
    assert!(response.contains("stored"), "{response}");
    // Read back with a request that swaps nothing.
    let response = send_to(
        &socket,
        &format!(
            "GET http://notes.test:{port}/notes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body = response.split_once("\r\n\r\n").unwrap().1;
    // Six forms of the note, each with the value turned back.
    assert_eq!(body.matches("hs-secret:NOTES_TOKEN").count(), 6, "{body}");
    let scanner = LeakScanner::new(&[NamedSecret::new("NOTES_TOKEN", TOKEN.as_bytes().to_vec())]);
    assert_eq!(scanner.find(body.as_bytes()), None, "{body}");
    assert!(
        !body.to_ascii_lowercase().contains(&hex::encode(TOKEN)),
        "{body}"
    );
}

#[tokio::test]
async fn a_value_split_across_labels_or_in_base32_is_refused_before_any_lookup() {
    let h = harness(true).await;
    let hex = hex::encode(TOKEN);
    let base32 = data_encoding::BASE32_NOPAD.encode(TOKEN.as_bytes());
    // 63 bytes at most per label: split, as a shell would.
    let split = |text: &str, at: usize| format!("{}.{}", &text[..at], &text[at..]);
    for labels in [
        split(&hex, 40),
        split(&hex.to_ascii_uppercase(), 30),
        split(&base32, 33),
        split(&base32.to_ascii_lowercase(), 20),
        // At an offset inside a longer run.
        data_encoding::BASE32_NOPAD
            .encode(format!("xyz{TOKEN}").as_bytes())
            .to_ascii_lowercase()
            .chars()
            .collect::<Vec<_>>()
            .chunks(40)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join("."),
    ] {
        let name = format!("{labels}.github.test");
        for request in [
            format!(
                "GET http://{name}:{0}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                h.port
            ),
            format!("CONNECT {name}:{0} HTTP/1.1\r\nHost: x\r\n\r\n", h.port),
        ] {
            let response = h.send(&request).await;
            assert!(response.starts_with("HTTP/1.1 403"), "{name}: {response}");
            assert!(
                response.contains("carries the value of secret GITHUB_TOKEN"),
                "{name}: {response}"
            );
        }
    }
    assert!(h.seen.lock().unwrap().is_empty());
    let recorded = format!("{:?}", h.events());
    assert!(!recorded.contains("Allowed"), "{recorded}");
    for form in [
        &hex[..16],
        &base32[..16],
        &base32.to_ascii_lowercase()[..16],
    ] {
        assert!(!recorded.contains(form), "{recorded}");
    }
}
