//! Added latency of a request through the broker, against the same request
//! sent straight to the server, interleaved in one run on loopback, twice:
//!
//! - plain HTTP: the client and the broker both speak HTTP to the server;
//! - a TLS route: the client speaks TLS to the server itself, against the
//!   shell's way (plain HTTP to the broker, which speaks TLS on).
//!
//! The broker does all its work: policy, resolution, the address guard, the
//! leak scan over the request, and kept upstream connections (keyed by the
//! checked address and, on the TLS route, the certificate's name).
//!
//!   broker_overhead [requests]      (bench/broker.sh builds and runs it)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use hardshell_broker::address::AddressGuard;
use hardshell_broker::host::{Host, HostPattern};
use hardshell_broker::policy::{EgressPolicy, Route};
use hardshell_broker::proxy::{Broker, Resolve};
use hardshell_broker::secrets::{LeakScanner, LiveScanner, NamedSecret};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};

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

/// Sends one request on `stream` and reads the whole 2-byte reply.
async fn exchange<S: AsyncReadExt + AsyncWriteExt + Unpin>(stream: &mut S, request: &[u8]) {
    stream.write_all(request).await.unwrap();
    stream.flush().await.unwrap();
    let mut reply = Vec::new();
    let mut buffer = [0u8; 1024];
    while !(reply.ends_with(b"ok") && reply.windows(4).any(|w| w == b"\r\n\r\n")) {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "connection closed");
        reply.extend_from_slice(&buffer[..n]);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `requests` exchanges on each of two kept connections, interleaved after
/// 200 unmeasured ones; prints both and the difference.
async fn compare<A, B>(
    what: &str,
    requests: usize,
    (direct_name, direct, direct_request): (&str, &mut A, &[u8]),
    (broker_name, broker, broker_request): (&str, &mut B, &[u8]),
) where
    A: AsyncReadExt + AsyncWriteExt + Unpin,
    B: AsyncReadExt + AsyncWriteExt + Unpin,
{
    let (mut direct_times, mut broker_times) = (Vec::new(), Vec::new());
    for i in 0..requests + 200 {
        let started = Instant::now();
        exchange(direct, direct_request).await;
        let d = started.elapsed();
        let started = Instant::now();
        exchange(broker, broker_request).await;
        let b = started.elapsed();
        if i >= 200 {
            direct_times.push(d);
            broker_times.push(b);
        }
    }
    direct_times.sort_unstable();
    broker_times.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("{what}: {requests} sequential requests each, interleaved, one connection each side");
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
    println!(
        "  added by the broker: p50 +{:.1} us",
        us(percentile(&broker_times, 0.5)) - us(percentile(&direct_times, 0.5))
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let requests: usize = std::env::args()
        .nth(1)
        .map_or(5000, |n| n.parse().expect("a number of requests"));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let identity = rcgen::generate_simple_self_signed(vec!["tls.test".to_owned()]).unwrap();
    let cert = identity.cert.der().clone();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(identity.signing_key.serialize_der()).unwrap();
    let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client_config = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );

    let plain = server(None).await;
    let tls = server(Some(tokio_rustls::TlsAcceptor::from(Arc::new(
        server_config,
    ))))
    .await;
    let route = |host: &str, port: u16, tls: bool| Route {
        hosts: vec![HostPattern::parse(host).unwrap()],
        ports: vec![port],
        tls,
        ..Route::default()
    };
    let mut broker = Broker::new(
        EgressPolicy {
            routes: vec![
                route("upstream.test", plain.port(), false),
                route("tls.test", tls.port(), true),
            ],
        },
        AddressGuard::new(vec!["127.0.0.0/8".parse().unwrap()]),
        client_config.clone(),
    );
    broker.resolver = Arc::new(Loopback);
    broker.scanner = LiveScanner::fixed(LeakScanner::new(&[NamedSecret::new(
        "API_KEY",
        b"sk-live-0123456789abcdef0123456789".to_vec(),
    )]));
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("broker.sock");
    tokio::spawn(Arc::new(broker).serve(tokio::net::UnixListener::bind(&socket).unwrap()));

    let mut direct = TcpStream::connect(plain).await.unwrap();
    let mut proxied = UnixStream::connect(&socket).await.unwrap();
    compare(
        "plain HTTP",
        requests,
        (
            "direct",
            &mut direct,
            b"GET /x HTTP/1.1\r\nHost: upstream.test\r\n\r\n",
        ),
        (
            "through the broker",
            &mut proxied,
            format!(
                "GET http://upstream.test:{}/x HTTP/1.1\r\nHost: upstream.test\r\n\r\n",
                plain.port()
            )
            .as_bytes(),
        ),
    )
    .await;

    let name = rustls::pki_types::ServerName::try_from("tls.test").unwrap();
    let mut direct_tls = tokio_rustls::TlsConnector::from(client_config)
        .connect(name, TcpStream::connect(tls).await.unwrap())
        .await
        .unwrap();
    let mut proxied_tls = UnixStream::connect(&socket).await.unwrap();
    compare(
        "TLS route",
        requests,
        (
            "direct TLS",
            &mut direct_tls,
            b"GET /x HTTP/1.1\r\nHost: tls.test\r\n\r\n",
        ),
        (
            "plain to broker, TLS on",
            &mut proxied_tls,
            format!(
                "GET http://tls.test:{}/x HTTP/1.1\r\nHost: tls.test\r\n\r\n",
                tls.port()
            )
            .as_bytes(),
        ),
    )
    .await;
}
