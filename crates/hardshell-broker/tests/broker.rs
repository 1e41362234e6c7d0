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
use hardshell_broker::secrets::{Binding, LeakScanner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixStream};

const TOKEN: &str = "ghp_0123456789abcdefABCDEF0123456789ab";

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

/// An "external" server: answers every request with what it received.
async fn echo_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
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
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    (port, seen)
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
    let route = |host: &str, ports: Vec<u16>| Route {
        hosts: vec![HostPattern::parse(host).unwrap()],
        ports,
        methods: None,
        path_prefixes: None,
    };
    let policy = EgressPolicy {
        routes: vec![
            route("api.github.test", vec![port]),
            route("*.github.test", vec![port, silent]),
            route("other.test", vec![port]),
            Route {
                hosts: vec![HostPattern::parse("other.test").unwrap()],
                ports: vec![port],
                methods: Some(vec!["GET".into()]),
                path_prefixes: Some(vec!["/public/".into()]),
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
    let broker = Broker {
        policy,
        guard,
        resolver: Arc::new(resolver),
        bindings: BTreeMap::from([(
            "GITHUB_TOKEN".to_owned(),
            Binding {
                hosts: vec![HostPattern::parse("api.github.test").unwrap()],
                header: Some("authorization".into()),
            },
        )]),
        secret: Arc::new(|name| (name == "GITHUB_TOKEN").then(|| TOKEN.to_owned())),
        scanner: LeakScanner::new(&[("GITHUB_TOKEN".into(), TOKEN.as_bytes().to_vec())]),
        events: Arc::new(move |event| sink.lock().unwrap().push(event)),
        limits,
        idle: Default::default(),
        active: Default::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("broker.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    tokio::spawn(Arc::new(broker).serve(listener));
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
    // Methods and paths are refused by route in policy's unit tests.
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
    assert!(h.seen.lock().unwrap().is_empty());
    assert!(h.events().contains(&Event::LeakBlocked {
        name: "GITHUB_TOKEN".into(),
        host: "other.test".into()
    }));
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
    drop((_first, _second));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let response = h.get("slow.github.test", h.silent, "").await;
    assert!(response.starts_with("HTTP/1.1 504"), "{response}");
}
