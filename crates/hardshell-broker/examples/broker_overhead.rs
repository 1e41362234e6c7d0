//! Added latency of a plain-HTTP request through the broker, against the same
//! request sent straight to the server, interleaved in one run on loopback.
//! The broker does all its work: policy, resolution, the address guard, the
//! leak scan over the request and a fresh upstream connection per request.
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
use hardshell_broker::secrets::LeakScanner;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};

struct Fixed(SocketAddr);

impl Resolve for Fixed {
    fn resolve(&self, _: &Host, _: u16) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> {
        let address = self.0;
        Box::pin(async move { Ok(vec![address]) })
    }
}

/// A minimal HTTP/1.1 server: a fixed reply to every request, keep-alive.
async fn server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
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
                        if stream.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    address
}

/// Sends one request on `stream` and reads the whole 2-byte reply.
async fn exchange<S: AsyncReadExt + AsyncWriteExt + Unpin>(stream: &mut S, request: &[u8]) {
    stream.write_all(request).await.unwrap();
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let requests: usize = std::env::args()
        .nth(1)
        .map_or(5000, |n| n.parse().expect("a number of requests"));
    let upstream = server().await;
    let mut broker = Broker::new(
        EgressPolicy {
            routes: vec![Route {
                hosts: vec![HostPattern::parse("upstream.test").unwrap()],
                ports: vec![upstream.port()],
                ..Route::default()
            }],
        },
        AddressGuard::new(vec!["127.0.0.0/8".parse().unwrap()]),
        hardshell_broker::proxy::platform_tls().unwrap(),
    );
    broker.resolver = Arc::new(Fixed(upstream));
    broker.scanner = LeakScanner::new(&[(
        "API_KEY".into(),
        b"sk-live-0123456789abcdef0123456789".to_vec(),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("broker.sock");
    tokio::spawn(Arc::new(broker).serve(tokio::net::UnixListener::bind(&socket).unwrap()));

    let direct_request = b"GET /x HTTP/1.1\r\nHost: upstream.test\r\n\r\n".to_vec();
    let proxied_request = format!(
        "GET http://upstream.test:{}/x HTTP/1.1\r\nHost: upstream.test\r\n\r\n",
        upstream.port()
    )
    .into_bytes();
    let mut direct = TcpStream::connect(upstream).await.unwrap();
    let mut proxied = UnixStream::connect(&socket).await.unwrap();
    let (mut direct_times, mut broker_times) = (Vec::new(), Vec::new());
    for i in 0..requests + 200 {
        let started = Instant::now();
        exchange(&mut direct, &direct_request).await;
        let d = started.elapsed();
        let started = Instant::now();
        exchange(&mut proxied, &proxied_request).await;
        let b = started.elapsed();
        if i >= 200 {
            direct_times.push(d);
            broker_times.push(b);
        }
    }
    direct_times.sort_unstable();
    broker_times.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("{requests} sequential requests each, interleaved, one connection each side");
    println!(
        "{:<10} {:>10} {:>10} {:>12}",
        "", "p50 us", "p99 us", "requests/s"
    );
    for (name, times) in [("direct", &direct_times), ("broker", &broker_times)] {
        let total: Duration = times.iter().sum();
        println!(
            "{name:<10} {:>10.1} {:>10.1} {:>12.0}",
            us(percentile(times, 0.5)),
            us(percentile(times, 0.99)),
            times.len() as f64 / total.as_secs_f64()
        );
    }
    println!(
        "added by the broker: p50 +{:.1} us",
        us(percentile(&broker_times, 0.5)) - us(percentile(&direct_times, 0.5))
    );
}
