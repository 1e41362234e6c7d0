//! Added latency of a request through the broker, against the same request
//! sent straight to the server, interleaved in one run on loopback:
//!
//! - plain HTTP: the client and the broker both speak HTTP to the server;
//! - a TLS route: the client speaks TLS to the server itself, against the
//!   shell's way (plain HTTP to the broker, which speaks TLS on);
//! - inspected HTTPS: the client's TLS to the server, against the same TLS
//!   through a `CONNECT` tunnel the broker terminates (a leaf from the
//!   install's egress CA, as in production) before it reads each request and
//!   speaks TLS on. On one kept connection each side, with a secret bound to
//!   the host (its placeholder in `authorization`, swapped on the way out, the
//!   answer then searched for the value) and with none; then with a new
//!   connection and a full handshake for every request, each side.
//!
//! The broker does all its work: policy, resolution, the address guard, the
//! leak scan over the request, and kept upstream connections (keyed by the
//! checked address and, on TLS, the certificate's name; a new tunnel reuses
//! them too, as a shell's would).
//!
//!   broker_overhead [requests]      (bench/broker.sh builds and runs it)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use hardshell_broker::address::AddressGuard;
use hardshell_broker::host::{Host, HostPattern};
use hardshell_broker::policy::{EgressPolicy, Route};
use hardshell_broker::proxy::{Broker, Resolve};
use hardshell_broker::secrets::{Binding, LeakScanner, LiveScanner, NamedSecret, Redactor};
use hardshell_intercept::{EgressCa, InstallId, LeafIssuer};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio_rustls::TlsConnector;

/// The secret bound to [`BOUND`]: what the broker swaps in for
/// `hs-secret:API_KEY`, and what its leak scan looks for.
const KEY: &str = "sk-live-0123456789abcdef0123456789";
/// An inspected host with [`KEY`] bound to it, in `authorization`.
const BOUND: &str = "api.inspect.test";
/// An inspected host with nothing bound.
const UNBOUND: &str = "free.inspect.test";

/// Every name to 127.0.0.1, at the port asked for (both servers are there).
struct Loopback;

impl Resolve for Loopback {
    fn resolve(&self, _: &Host, port: u16) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> {
        Box::pin(async move { Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]) })
    }
}

/// A fixed reply to every request on `stream`, keep-alive.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut buffer = vec![0u8; 8192];
    let mut pending = Vec::new();
    loop {
        let Ok(n) = stream.read(&mut buffer).await else {
            return;
        };
        if n == 0 {
            return;
        }
        pending.extend_from_slice(&buffer[..n]);
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            if stream.write_all(reply).await.is_err() || stream.flush().await.is_err() {
                return;
            }
        }
    }
}

/// A minimal HTTP/1.1 server, in TLS when `tls` is given.
async fn server(tls: Option<tokio_rustls::TlsAcceptor>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            // As servers do: else a handshake's last flight and the answer
            // behind it wait out the client's delayed ACK (40 ms).
            stream.set_nodelay(true).unwrap();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            answer(stream).await;
                        }
                    }
                    None => answer(stream).await,
                }
            });
        }
    });
    address
}

/// The body of a chunked message once it is all in `data`.
fn dechunked(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = data.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&data[..line]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        data = &data[line + 2..];
        if size == 0 {
            return data.starts_with(b"\r\n").then_some(body);
        }
        body.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// Sends one request on `stream` and reads its whole answer: 200 with the
/// body `ok`, sized, or chunked when the broker redacts it (a value turned
/// back into its placeholder changes the length).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, request: &[u8]) {
    stream.write_all(request).await.unwrap();
    stream.flush().await.unwrap();
    let mut reply = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        if let Some(end) = reply.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&reply[..end]).to_ascii_lowercase();
            let body = &reply[end + 4..];
            let whole = if head.contains("transfer-encoding: chunked") {
                dechunked(body)
            } else {
                (body.len() >= 2).then(|| body.to_vec())
            };
            if let Some(whole) = whole {
                assert!(head.starts_with("http/1.1 200"), "{head}");
                assert_eq!(whole, b"ok", "{head}");
                return;
            }
        }
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "connection closed");
        reply.extend_from_slice(&buffer[..n]);
    }
}

/// One side of a comparison: how it sends one request and reads the answer.
trait Side {
    async fn once(&mut self);
}

/// One request after another on one kept connection.
struct Kept<'a, S> {
    stream: S,
    request: &'a [u8],
}

impl<S: AsyncRead + AsyncWrite + Unpin> Side for Kept<'_, S> {
    async fn once(&mut self) {
        exchange(&mut self.stream, self.request).await;
    }
}

/// A new TCP connection and a full TLS handshake with the server for each
/// request.
struct FreshDirect<'a> {
    server: SocketAddr,
    tls: TlsConnector,
    name: ServerName<'static>,
    request: &'a [u8],
}

impl Side for FreshDirect<'_> {
    async fn once(&mut self) {
        let tcp = TcpStream::connect(self.server).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let mut tls = self.tls.connect(self.name.clone(), tcp).await.unwrap();
        exchange(&mut tls, self.request).await;
    }
}

/// A new `CONNECT` through the broker and a full TLS handshake with it for
/// each request.
struct FreshInspected<'a> {
    socket: &'a Path,
    authority: String,
    tls: TlsConnector,
    name: ServerName<'static>,
    request: &'a [u8],
}

impl Side for FreshInspected<'_> {
    async fn once(&mut self) {
        let stream = tunnel(self.socket, &self.authority).await;
        let mut tls = self.tls.connect(self.name.clone(), stream).await.unwrap();
        exchange(&mut tls, self.request).await;
    }
}

/// `CONNECT authority` on a new connection to the broker, answered 200.
async fn tunnel(socket: &Path, authority: &str) -> UnixStream {
    let mut stream = UnixStream::connect(socket).await.unwrap();
    let ask = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    stream.write_all(ask.as_bytes()).await.unwrap();
    // Byte by byte: what follows the head is the tunnel's.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert!(stream.read(&mut byte).await.unwrap() == 1, "tunnel closed");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"), "{head:?}");
    stream
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `requests` exchanges on each side, interleaved after 200 unmeasured ones;
/// prints both and the difference.
async fn compare(
    what: &str,
    requests: usize,
    (direct_name, direct): (&str, &mut impl Side),
    (broker_name, broker): (&str, &mut impl Side),
) {
    let (mut direct_times, mut broker_times) = (Vec::new(), Vec::new());
    for i in 0..requests + 200 {
        let started = Instant::now();
        direct.once().await;
        let d = started.elapsed();
        let started = Instant::now();
        broker.once().await;
        let b = started.elapsed();
        if i >= 200 {
            direct_times.push(d);
            broker_times.push(b);
        }
    }
    direct_times.sort_unstable();
    broker_times.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("{what}");
    println!(
        "  {:<28} {:>10} {:>10} {:>12}",
        "", "p50 us", "p99 us", "requests/s"
    );
    for (name, times) in [(direct_name, &direct_times), (broker_name, &broker_times)] {
        let total: Duration = times.iter().sum();
        println!(
            "  {name:<28} {:>10.1} {:>10.1} {:>12.0}",
            us(percentile(times, 0.5)),
            us(percentile(times, 0.99)),
            times.len() as f64 / total.as_secs_f64()
        );
    }
    let added = |p| us(percentile(&broker_times, p)) - us(percentile(&direct_times, p));
    println!(
        "  added by the broker: p50 {:+.1} us, p99 {:+.1} us",
        added(0.5),
        added(0.99)
    );
}

/// What the broker does for each answer to a request a secret was swapped
/// into, timed alone: build the redactor that turns the value (in each of its
/// encoded forms) back into its placeholder.
fn redactor_build(requests: usize) {
    let secret = [NamedSecret::new("API_KEY", KEY.as_bytes().to_vec())];
    let mut times: Vec<Duration> = (0..requests)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(Redactor::new(&secret)).expect("a redactor");
            started.elapsed()
        })
        .collect();
    times.sort_unstable();
    println!(
        "  building an echo redactor, alone (once per set of values, then kept): p50 {:.1} us",
        percentile(&times, 0.5).as_secs_f64() * 1e6
    );
}

/// A TLS client configuration trusting `root` only, which never resumes a
/// session: every handshake in the run is a full one.
fn client_trusting(root: CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// The broker on a new socket in `dir`: plain and TLS routes, inspected
/// routes to the HTTPS server with [`KEY`] bound to [`BOUND`], its leaves
/// from `issuer`.
fn broker(
    dir: &Path,
    plain: SocketAddr,
    tls: SocketAddr,
    upstream_tls: Arc<rustls::ClientConfig>,
    issuer: Arc<LeafIssuer>,
) -> PathBuf {
    let route = |host: &str, port: u16| Route {
        hosts: vec![HostPattern::parse(host).unwrap()],
        ports: vec![port],
        ..Route::default()
    };
    let mut broker = Broker::new(
        EgressPolicy {
            routes: vec![
                route("upstream.test", plain.port()),
                Route {
                    tls: true,
                    ..route("tls.test", tls.port())
                },
                Route {
                    inspect: true,
                    ..route(BOUND, tls.port())
                },
                Route {
                    inspect: true,
                    ..route(UNBOUND, tls.port())
                },
            ],
        },
        AddressGuard::new(vec!["127.0.0.0/8".parse().unwrap()]),
        upstream_tls,
    );
    broker.resolver = Arc::new(Loopback);
    broker.bindings = BTreeMap::from([(
        "API_KEY".to_owned(),
        Binding {
            hosts: vec![HostPattern::parse(BOUND).unwrap()],
            header: Some("authorization".to_owned()),
        },
    )]);
    broker.secret = Arc::new(|name| (name == "API_KEY").then(|| KEY.to_owned()));
    broker.scanner = LiveScanner::fixed(LeakScanner::new(&[NamedSecret::new(
        "API_KEY",
        KEY.as_bytes().to_vec(),
    )]));
    broker.intercept = Some(issuer);
    let socket = dir.join("broker.sock");
    tokio::spawn(Arc::new(broker).serve(tokio::net::UnixListener::bind(&socket).unwrap()));
    socket
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let requests: usize = std::env::args()
        .nth(1)
        .map_or(5000, |n| n.parse().expect("a number of requests"));
    // The HTTPS server's own test CA, trusted by the client and the broker.
    let identity = rcgen::generate_simple_self_signed(vec![
        "tls.test".to_owned(),
        BOUND.to_owned(),
        UNBOUND.to_owned(),
    ])
    .unwrap();
    let cert = identity.cert.der().clone();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(identity.signing_key.serialize_der()).unwrap();
    let server_config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.clone()], key)
    .unwrap();
    let client_config = client_trusting(cert);
    // The shell trusts the install's egress CA, which issues the broker's
    // leaves.
    let ca = EgressCa::generate(&InstallId::parse("bench").unwrap()).unwrap();
    let shell_tls = client_trusting(ca.certificate_der().clone());
    let issuer = Arc::new(LeafIssuer::new(Arc::new(ca)));

    let plain = server(None).await;
    let tls = server(Some(tokio_rustls::TlsAcceptor::from(Arc::new(
        server_config,
    ))))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let socket = broker(dir.path(), plain, tls, client_config.clone(), issuer);
    let connector = TlsConnector::from(client_config);
    let shell_connector = TlsConnector::from(shell_tls);
    let what = |what: &str| {
        format!(
            "{what}: {requests} sequential requests each, interleaved, one connection each side"
        )
    };

    let direct_request = b"GET /x HTTP/1.1\r\nHost: upstream.test\r\n\r\n";
    let broker_request = format!(
        "GET http://upstream.test:{}/x HTTP/1.1\r\nHost: upstream.test\r\n\r\n",
        plain.port()
    );
    compare(
        &what("plain HTTP"),
        requests,
        (
            "direct",
            &mut Kept {
                stream: TcpStream::connect(plain).await.unwrap(),
                request: direct_request,
            },
        ),
        (
            "through the broker",
            &mut Kept {
                stream: UnixStream::connect(&socket).await.unwrap(),
                request: broker_request.as_bytes(),
            },
        ),
    )
    .await;

    let name = |host: &str| ServerName::try_from(host.to_owned()).unwrap();
    let direct_request = b"GET /x HTTP/1.1\r\nHost: tls.test\r\n\r\n";
    let broker_request = format!(
        "GET http://tls.test:{}/x HTTP/1.1\r\nHost: tls.test\r\n\r\n",
        tls.port()
    );
    compare(
        &what("TLS route"),
        requests,
        (
            "direct TLS",
            &mut Kept {
                stream: connector
                    .connect(name("tls.test"), TcpStream::connect(tls).await.unwrap())
                    .await
                    .unwrap(),
                request: direct_request,
            },
        ),
        (
            "plain to broker, TLS on",
            &mut Kept {
                stream: UnixStream::connect(&socket).await.unwrap(),
                request: broker_request.as_bytes(),
            },
        ),
    )
    .await;

    // The same request both ways but for the key: the client sends the
    // value straight to the server, and its placeholder through the broker.
    let port = tls.port();
    let request = |host: &str, authorization: &str| {
        format!("GET /x HTTP/1.1\r\nHost: {host}:{port}\r\n{authorization}\r\n")
    };
    let (direct_bound, broker_bound, unbound) = (
        request(BOUND, &format!("authorization: Bearer {KEY}\r\n")),
        request(BOUND, "authorization: Bearer hs-secret:API_KEY\r\n"),
        request(UNBOUND, ""),
    );
    let rows = [
        (BOUND, "secret bound", &direct_bound, &broker_bound),
        (UNBOUND, "nothing bound", &unbound, &unbound),
    ];
    for (host, label, direct_request, broker_request) in rows {
        let direct = connector
            .connect(name(host), TcpStream::connect(tls).await.unwrap())
            .await
            .unwrap();
        let inspected = shell_connector
            .connect(name(host), tunnel(&socket, &format!("{host}:{port}")).await)
            .await
            .unwrap();
        compare(
            &what(&format!("inspected HTTPS, {label}")),
            requests,
            (
                "direct TLS",
                &mut Kept {
                    stream: direct,
                    request: direct_request.as_bytes(),
                },
            ),
            (
                "TLS to broker, TLS on",
                &mut Kept {
                    stream: inspected,
                    request: broker_request.as_bytes(),
                },
            ),
        )
        .await;
        if host == BOUND {
            redactor_build(requests);
        }
    }

    // The handshake's cost: the broker's upstream connection is kept across
    // tunnels (as for a shell), so what it adds is the CONNECT and the
    // shell's handshake with it against the client's with the server.
    for (host, label, direct_request, broker_request) in rows {
        compare(
            &format!(
                "inspected HTTPS, {label}, new handshake: {requests} sequential requests each, interleaved, a new connection and full TLS handshake for each"
            ),
            requests,
            (
                "direct TLS",
                &mut FreshDirect {
                    server: tls,
                    tls: connector.clone(),
                    name: name(host),
                    request: direct_request.as_bytes(),
                },
            ),
            (
                "CONNECT + TLS to broker",
                &mut FreshInspected {
                    socket: &socket,
                    authority: format!("{host}:{port}"),
                    tls: shell_connector.clone(),
                    name: name(host),
                    request: broker_request.as_bytes(),
                },
            ),
        )
        .await;
    }
}
