//! The broker, its address guard at its defaults (no exception), against
//! "external" servers on public addresses. Each test unshares a network
//! namespace of its own on a dedicated thread, puts public IPv4 and IPv6
//! addresses (and the cloud metadata address) on that namespace's loopback
//! device, and runs the servers and the broker there: public destinations are
//! reached, internal ones are refused before anything is sent, and nothing
//! leaves the namespace. Needs root; fails (never skips) without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use hardshell_broker::address::AddressGuard;
use hardshell_broker::host::{Host, HostPattern};
use hardshell_broker::policy::{EgressPolicy, Route};
use hardshell_broker::proxy::{Broker, Event, EventSink, Limits, Resolve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixStream};

/// Public-space addresses; they exist only on the test namespace's `lo`.
const PUBLIC: Ipv4Addr = Ipv4Addr::new(45, 33, 32, 156);
const PUBLIC6: Ipv6Addr = Ipv6Addr::new(0x2600, 0x3c01, 0, 0, 0, 0, 0, 1);
const METADATA: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// A port no route allows; a server listens there to show nothing arrives.
const WRONG_PORT: u16 = 8080;

/// Maps names to fixed addresses (port taken from the request).
struct Table(BTreeMap<&'static str, Vec<IpAddr>>);

impl Resolve for Table {
    fn resolve(
        &self,
        host: &Host,
        port: u16,
    ) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> {
        let found = self.0.get(host.as_str()).map(|addresses| {
            addresses
                .iter()
                .map(|ip| SocketAddr::new(*ip, port))
                .collect()
        });
        Box::pin(async move { found.ok_or_else(|| std::io::Error::other("no such name")) })
    }
}

fn resolver() -> Table {
    let mapped: Ipv6Addr = "::ffff:127.0.0.1".parse().unwrap();
    Table(BTreeMap::from([
        ("public.test", vec![PUBLIC.into()]),
        ("public6.test", vec![PUBLIC6.into()]),
        ("loopback.test", vec![LOOPBACK.into()]),
        ("metadata.test", vec![METADATA.into()]),
        ("mapped.test", vec![mapped.into()]),
        ("mixed.test", vec![PUBLIC.into(), LOOPBACK.into()]),
        // Resolves to the public server, but no route names it.
        ("unlisted.test", vec![PUBLIC.into()]),
        // Resolves to the public server; its route limits methods.
        ("limited.test", vec![PUBLIC.into()]),
    ]))
}

fn policy() -> EgressPolicy {
    let route = |host: &str| Route {
        hosts: vec![HostPattern::parse(host).unwrap()],
        ports: vec![80],
        ..Route::default()
    };
    let mut routes: Vec<Route> = [
        "public.test",
        "public6.test",
        "loopback.test",
        "metadata.test",
        "mapped.test",
        "mixed.test",
    ]
    .into_iter()
    .map(route)
    .collect();
    routes.push(Route {
        methods: Some(vec!["GET".into()]),
        ..route("limited.test")
    });
    EgressPolicy { routes }
}

/// The one place a broker is built: the guard at its defaults, no secrets.
fn broker(policy: EgressPolicy, resolver: Table, events: EventSink) -> Broker {
    let tls = hardshell_broker::proxy::platform_tls().unwrap();
    let mut broker = Broker::new(policy, AddressGuard::default(), tls);
    broker.resolver = Arc::new(resolver);
    broker.events = events;
    broker.limits = Limits {
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(5),
        ..Limits::default()
    };
    broker
}

/// An "external" server: counts the connections it accepts, records each
/// request head, and answers with its own name.
#[derive(Clone)]
struct Server {
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start(address: SocketAddr, name: &'static str) -> Server {
        let listener = TcpListener::bind(address)
            .await
            .unwrap_or_else(|e| panic!("binding {address}: {e}"));
        let server = Server {
            accepted: Arc::default(),
            requests: Arc::default(),
        };
        let this = server.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                this.accepted.fetch_add(1, Ordering::SeqCst);
                let requests = this.requests.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buffer = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buffer[..n]),
                        }
                    }
                    requests
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).into_owned());
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
                        name.len()
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                });
            }
        });
        server
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Everything one test's namespace holds.
struct Net {
    socket: PathBuf,
    events: Arc<Mutex<Vec<Event>>>,
    public: Server,
    public6: Server,
    public_wrong_port: Server,
    loopback: Server,
    metadata: Server,
    _dir: tempfile::TempDir,
}

impl Net {
    async fn start() -> Net {
        let public = Server::start((PUBLIC, 80).into(), "public v4").await;
        let public6 = Server::start((PUBLIC6, 80).into(), "public v6").await;
        let public_wrong_port = Server::start((PUBLIC, WRONG_PORT).into(), "wrong port").await;
        let loopback = Server::start((LOOPBACK, 80).into(), "loopback").await;
        let metadata = Server::start((METADATA, 80).into(), "metadata").await;
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let broker = broker(
            policy(),
            resolver(),
            Arc::new(move |event| sink.lock().unwrap().push(event)),
        );
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("broker.sock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        tokio::spawn(Arc::new(broker).serve(listener));
        Net {
            socket,
            events,
            public,
            public6,
            public_wrong_port,
            loopback,
            metadata,
            _dir: dir,
        }
    }

    /// Sends raw request bytes to the broker; the whole response as text.
    async fn send(&self, request: &str) -> String {
        let mut stream = UnixStream::connect(&self.socket).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await;
        String::from_utf8_lossy(&response).into_owned()
    }

    async fn get(&self, authority: &str) -> String {
        self.send(&format!(
            "GET http://{authority}/hello HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
        ))
        .await
    }

    /// Opens a tunnel; the broker's answer head and the stream.
    async fn connect(&self, authority: &str) -> (String, UnixStream) {
        let mut stream = UnixStream::connect(&self.socket).await.unwrap();
        stream
            .write_all(
                format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes(),
            )
            .await
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await;
            match read {
                Ok(Ok(1)) => head.push(byte[0]),
                _ => break,
            }
        }
        (String::from_utf8_lossy(&head).into_owned(), stream)
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

/// Runs `ip` (from the calling thread, so in its namespace); panics on failure.
fn ip(args: &[&str]) -> String {
    let output = std::process::Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running ip {args:?}: {e}"));
    assert!(
        output.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `(device, address/prefix)` of every address `ip` shows.
fn addresses() -> BTreeSet<(String, String)> {
    ip(&["-o", "addr", "show"])
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields[1].to_owned(), fields[3].to_owned())
        })
        .collect()
}

fn net_namespace() -> PathBuf {
    std::fs::read_link("/proc/thread-self/ns/net").unwrap()
}

/// Runs `scenario` on a thread of its own in a new network namespace, with
/// the servers and the broker started there, and stops all of it after.
fn in_own_namespace<F, Fut>(scenario: F)
where
    F: FnOnce(Net) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    // A server on the host's loopback: the namespace must not reach it.
    let host_server = std::net::TcpListener::bind((LOOPBACK, 0)).unwrap();
    let host_port = host_server.local_addr().unwrap().port();
    let host_namespace = net_namespace();
    let outcome = std::thread::spawn(move || {
        // Namespaces are per thread: this thread (and what it spawns, `ip`
        // and the runtime's threads) moves; the test's other threads do not.
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .expect("unshare(CLONE_NEWNET): the test needs root");
        assert_ne!(net_namespace(), host_namespace, "unshare did not move");
        ip(&["link", "set", "lo", "up"]);
        ip(&["addr", "add", &format!("{PUBLIC}/32"), "dev", "lo"]);
        ip(&["addr", "add", &format!("{METADATA}/32"), "dev", "lo"]);
        ip(&[
            "-6",
            "addr",
            "add",
            &format!("{PUBLIC6}/128"),
            "dev",
            "lo",
            "nodad",
        ]);
        let links = ip(&["-o", "link", "show"]);
        assert_eq!(links.lines().count(), 1, "only lo: {links}");
        assert!(links.contains(": lo:"), "{links}");
        let probe = std::net::TcpStream::connect_timeout(
            &(LOOPBACK, host_port).into(),
            Duration::from_secs(1),
        );
        assert_eq!(
            probe.map(|_| ()).map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionRefused),
            "the host's loopback is reachable: not a namespace of its own"
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move { scenario(Net::start().await).await });
        // Dropping the runtime stops every server and the broker.
    })
    .join();
    drop(host_server);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn the_test_runs_in_a_namespace_holding_only_its_own_addresses() {
    in_own_namespace(|net| async move {
        let lo = |address: &str| ("lo".to_owned(), address.to_owned());
        assert_eq!(
            addresses(),
            BTreeSet::from([
                lo("127.0.0.1/8"),
                lo("::1/128"),
                lo("45.33.32.156/32"),
                lo("169.254.169.254/32"),
                lo("2600:3c01::1/128"),
            ])
        );
        // The servers are up: what the other tests see refused is the
        // broker's doing, not a dead server's.
        for (address, server) in [
            (SocketAddr::from((PUBLIC, 80)), &net.public),
            ((PUBLIC6, 80).into(), &net.public6),
            ((PUBLIC, WRONG_PORT).into(), &net.public_wrong_port),
            ((LOOPBACK, 80).into(), &net.loopback),
            ((METADATA, 80).into(), &net.metadata),
        ] {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            stream
                .write_all(b"GET /direct HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut reply = String::new();
            stream.read_to_string(&mut reply).await.unwrap();
            assert!(reply.starts_with("HTTP/1.1 200"), "{address}: {reply}");
            assert_eq!(server.accepted(), 1, "{address}");
        }
    });
}

#[test]
fn public_names_reach_their_servers_over_ipv4_and_ipv6() {
    in_own_namespace(|net| async move {
        for (host, server, name) in [
            ("public.test", &net.public, "public v4"),
            ("public6.test", &net.public6, "public v6"),
        ] {
            let response = net.get(host).await;
            assert!(response.starts_with("HTTP/1.1 200"), "{host}: {response}");
            assert!(response.ends_with(name), "{host}: {response}");
            let requests = server.requests();
            assert_eq!(requests.len(), 1, "{host}: {requests:?}");
            assert!(
                requests[0].starts_with("GET /hello HTTP/1.1\r\n"),
                "{host}: {requests:?}"
            );
            assert!(
                requests[0].contains(&format!("host: {host}\r\n")),
                "{host}: {requests:?}"
            );
        }
        assert_eq!(
            net.events(),
            [
                Event::Allowed {
                    host: "public.test".into(),
                    port: 80,
                    tunnel: false,
                    inspected: false
                },
                Event::Allowed {
                    host: "public6.test".into(),
                    port: 80,
                    tunnel: false,
                    inspected: false
                },
            ]
        );
    });
}

#[test]
fn names_resolving_to_internal_addresses_are_refused_before_anything_is_sent() {
    in_own_namespace(|net| async move {
        for (host, reason) in [
            ("loopback.test", "127.0.0.1 is a loopback address"),
            (
                "metadata.test",
                "169.254.169.254 is a cloud metadata address",
            ),
            ("mapped.test", "::ffff:127.0.0.1 is a loopback address"),
            // A public first address does not carry an internal second one.
            ("mixed.test", "127.0.0.1 is a loopback address"),
        ] {
            let response = net.get(host).await;
            assert!(response.starts_with("HTTP/1.1 403"), "{host}: {response}");
            assert!(
                response.contains(&format!("refused: {host} resolves to {reason}")),
                "{host}: {response}"
            );
        }
        for (name, server) in [
            ("loopback", &net.loopback),
            ("metadata", &net.metadata),
            ("public", &net.public),
        ] {
            assert_eq!(server.accepted(), 0, "{name} server was reached");
        }
        assert!(
            net.events()
                .iter()
                .all(|e| matches!(e, Event::Denied { port: 80, .. })),
            "{:?}",
            net.events()
        );
        assert_eq!(net.events().len(), 4);
    });
}

#[test]
fn unlisted_hosts_and_wrong_ports_are_refused() {
    in_own_namespace(|net| async move {
        for (authority, reason) in [
            ("unlisted.test", "unlisted.test is not an allowed host"),
            (
                "public.test:8080",
                "port 8080 is not allowed for public.test",
            ),
            (
                "public6.test:8080",
                "port 8080 is not allowed for public6.test",
            ),
            // Not in the resolver either: refused by the policy first.
            ("nowhere.test", "nowhere.test is not an allowed host"),
        ] {
            let response = net.get(authority).await;
            assert!(
                response.starts_with("HTTP/1.1 403"),
                "{authority}: {response}"
            );
            assert!(response.contains(reason), "{authority}: {response}");
        }
        assert_eq!(net.public.accepted(), 0);
        assert_eq!(net.public6.accepted(), 0);
        assert_eq!(net.public_wrong_port.accepted(), 0);
    });
}

#[test]
fn a_tunnel_reaches_a_public_host_end_to_end_and_no_internal_one() {
    in_own_namespace(|net| async move {
        for (authority, server, name) in [
            ("public.test:80", &net.public, "public v4"),
            ("public6.test:80", &net.public6, "public v6"),
        ] {
            let (head, mut stream) = net.connect(authority).await;
            assert!(head.starts_with("HTTP/1.1 200"), "{authority}: {head}");
            stream
                .write_all(b"GET /inside HTTP/1.1\r\nHost: inside.example\r\n\r\n")
                .await
                .unwrap();
            let mut rest = Vec::new();
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
                .await
                .expect("the tunnel closes when the server does")
                .unwrap();
            let rest = String::from_utf8_lossy(&rest);
            assert!(rest.starts_with("HTTP/1.1 200"), "{authority}: {rest}");
            assert!(rest.ends_with(name), "{authority}: {rest}");
            // The broker cannot read a tunnel: the bytes arrive as sent.
            assert_eq!(
                server.requests(),
                ["GET /inside HTTP/1.1\r\nHost: inside.example\r\n\r\n"]
            );
        }
        for (authority, reason) in [
            ("loopback.test:80", "127.0.0.1 is a loopback address"),
            ("metadata.test:80", "cloud metadata address"),
            ("mapped.test:80", "::ffff:127.0.0.1 is a loopback address"),
            ("mixed.test:80", "127.0.0.1 is a loopback address"),
            ("unlisted.test:80", "not an allowed host"),
            ("public.test:8080", "port 8080 is not allowed"),
            ("limited.test:80", "a tunnel to limited.test is not allowed"),
        ] {
            let (head, mut stream) = net.connect(authority).await;
            assert!(head.starts_with("HTTP/1.1 403"), "{authority}: {head}");
            // The connection stays open after a refusal: read what the head
            // announces, not to the end.
            let length: usize = head
                .to_ascii_lowercase()
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse()))
                .expect("a refusal has a length")
                .unwrap();
            let mut body = vec![0u8; length];
            tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut body))
                .await
                .expect("the refusal's body arrives")
                .unwrap();
            let body = String::from_utf8_lossy(&body);
            assert!(body.contains(reason), "{authority}: {body}");
        }
        assert_eq!(net.public.accepted(), 1, "only the allowed tunnel");
        assert_eq!(net.public6.accepted(), 1, "only the allowed tunnel");
        assert_eq!(net.public_wrong_port.accepted(), 0);
        assert_eq!(net.loopback.accepted(), 0);
        assert_eq!(net.metadata.accepted(), 0);
    });
}
