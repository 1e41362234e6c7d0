//! The plain-HTTP listener beside the edge (`[edge.tls.acme] http_listen`,
//! usually port 80): an ACME server's HTTP-01 validation gets its key
//! authorization, and every other request a redirect to the edge's https
//! origin. It serves nothing else, reads no body, and is bounded like the
//! public listener: so many connections at once and from one address, a
//! short time for the request head and for the whole exchange, one request
//! per connection.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::Certificates;

/// Connections served at once; more are closed as they come.
const MAX_CONNECTIONS: usize = 256;
/// Connections at once from one address (an IPv6 /64 counts as one), so one
/// client cannot hold every slot while an ACME server's validation waits.
const MAX_PER_ADDRESS: usize = 8;
/// The request head must arrive within this.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// A whole exchange, answer included.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a request head read.
const MAX_HEAD_BYTES: usize = 8 * 1024;
const CHALLENGE_PATH: &str = "/.well-known/acme-challenge/";

/// Serves `listener` until `stop` turns true (or its sender is gone):
/// HTTP-01 answers from `certificates`, and redirects to `origin`
/// (`https://host[:port]`, no trailing slash) for everything else.
pub async fn serve(
    listener: TcpListener,
    certificates: Arc<Certificates>,
    origin: String,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let per_address = Arc::new(Mutex::new(HashMap::new()));
    let origin: Arc<str> = origin.into();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        let Ok((stream, peer)) = accepted else {
            // Out of descriptors or the like: a moment, then on.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Some(held) = PerAddress::take(&per_address, peer.ip()) else {
            continue;
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            continue;
        };
        let (certificates, origin) = (Arc::clone(&certificates), Arc::clone(&origin));
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let answer = answer(&certificates, &origin, &request);
                async move { Ok::<_, Infallible>(answer) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(EXCHANGE_TIMEOUT, connection).await;
            drop((slot, held));
        });
    }
}

/// One connection's place in its address's count, given back when dropped.
struct PerAddress {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    address: IpAddr,
}

impl PerAddress {
    /// A place for `ip`'s address, or `None` when it holds its most.
    fn take(counts: &Arc<Mutex<HashMap<IpAddr, usize>>>, ip: IpAddr) -> Option<Self> {
        let address = match ip {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::V6(Ipv6Addr::from(octets))
            }
            IpAddr::V6(v6) => IpAddr::V4(v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED)),
            v4 => v4,
        };
        let mut held = counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(address).or_insert(0);
        if *count >= MAX_PER_ADDRESS {
            return None;
        }
        *count += 1;
        Some(Self {
            counts: Arc::clone(counts),
            address,
        })
    }
}

impl Drop for PerAddress {
    fn drop(&mut self) {
        let mut held = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.address);
            }
        }
    }
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.to_owned())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn answer(
    certificates: &Certificates,
    origin: &str,
    request: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    }
    let path = request.uri().path();
    if let Some(token) = path.strip_prefix(CHALLENGE_PATH) {
        return match certificates.http01_answer(token) {
            Some(key_authorization) => plain(StatusCode::OK, &key_authorization),
            None => plain(StatusCode::NOT_FOUND, "no such challenge\n"),
        };
    }
    // Only the path and query go after the origin: an absolute-form request
    // target cannot send the client elsewhere.
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let target = if target.starts_with('/') { target } else { "/" };
    match HeaderValue::from_str(&format!("{origin}{target}")) {
        Ok(location) => {
            let mut response = plain(StatusCode::PERMANENT_REDIRECT, "");
            response.headers_mut().insert(LOCATION, location);
            response
        }
        Err(_) => plain(StatusCode::BAD_REQUEST, "bad request target\n"),
    }
}
