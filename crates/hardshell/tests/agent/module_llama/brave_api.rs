//! A loopback stand-in for Brave's Web Search API, answering as its API
//! reference documents: `GET /res/v1/web/search?q=…&count=…` with the key in
//! `X-Subscription-Token`; a `200` with `web.results[]` (`title`, `url`,
//! `description` and the extras Brave sends beside them) for the right key;
//! a `422` `SUBSCRIPTION_TOKEN_INVALID` error for a wrong one, and a `422`
//! `VALIDATION` error naming the header when there is none. It speaks TLS
//! with a certificate for `api.search.brave.com` on port 443 of a loopback
//! address of its own, which the test's `/etc/hosts` gives that name.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

/// Brave's API host, as the module names it.
pub const HOST: &str = "api.search.brave.com";

/// One request the API got.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// `q`, decoded.
    pub query: Option<String>,
    pub count: Option<String>,
    pub token: Option<String>,
    pub accept: Option<String>,
}

/// The server: where it listens, its certificate, what it got.
pub struct BraveApi {
    pub address: Ipv4Addr,
    /// The certificate's PEM, for `SSL_CERT_FILE`.
    pub root: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

/// The results the API knows: titles as Brave writes them, with its
/// `<strong>` highlighting and entities.
pub const RESULTS: [(&str, &str, &str); 3] = [
    (
        "The <strong>hardshell</strong> sandbox guide",
        "https://docs.example.org/hardshell/sandbox",
        "How each shell is built: namespaces, seccomp &amp; cgroups.",
    ),
    (
        "Brave results in a loopback test",
        "https://test.example.net/brave",
        "A second result, so a count of one is seen to be kept.",
    ),
    (
        "A third result",
        "https://third.example.com/",
        "&#x27;Quoted&#x27; words.",
    ),
];

impl BraveApi {
    /// Serves on port 443 of a loopback address no other test of this run
    /// uses; `key` is the subscription token it accepts.
    pub fn serve(key: &str) -> Self {
        let identity = rcgen::generate_simple_self_signed(vec![HOST.to_owned()]).unwrap();
        let private =
            rustls::pki_types::PrivateKeyDer::try_from(identity.signing_key.serialize_der())
                .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![identity.cert.der().clone()], private)
                .unwrap(),
        );
        let (listener, address) = bind_443();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let key = key.to_owned();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let connection = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(connection, stream);
                let Some(request) = read_head(&mut tls) else {
                    continue;
                };
                let (status, body) = answer(&request, &key);
                log.lock().unwrap().push(request);
                let reason = match status {
                    200 => "OK",
                    404 => "Not Found",
                    _ => "Unprocessable Entity",
                };
                let _ = write!(
                    tls,
                    "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        Self {
            address,
            root: identity.cert.pem(),
            seen,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A listener on `127.X.Y.Z:443`, from the pid and a counter: parallel
/// tests and test processes get their own address.
fn bind_443() -> (TcpListener, Ipv4Addr) {
    static MADE: AtomicU8 = AtomicU8::new(0);
    let pid = std::process::id();
    for _ in 0..32 {
        let made = MADE.fetch_add(1, Ordering::Relaxed);
        let address = Ipv4Addr::new(127, 100 + made % 100, (pid >> 8) as u8, pid as u8 | 1);
        match TcpListener::bind(SocketAddrV4::new(address, 443)) {
            Ok(listener) => return (listener, address),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => panic!("binding {address}:443 (the test needs root): {e}"),
        }
    }
    panic!("no free loopback address for port 443");
}

/// The request's head, read byte by byte to its end.
fn read_head(tls: &mut impl Read) -> Option<Seen> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tls.read(&mut byte) {
            Ok(1) if head.len() < 64 * 1024 => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.lines();
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let header = |name: &str| {
        head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let parameter = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .map(decoded)
    };
    Some(Seen {
        method,
        path: path.to_owned(),
        query: parameter("q"),
        count: parameter("count"),
        token: header("x-subscription-token"),
        accept: header("accept"),
    })
}

/// `text` with `%XX` and `+` decoded, as a query string's value.
fn decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'%' if at + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[at + 1..at + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        at += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        at += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                at += 1;
            }
            other => {
                out.push(other);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status and body Brave's API answers `request` with.
fn answer(request: &Seen, key: &str) -> (u16, String) {
    let time = 1_796_556_863;
    let error = |status: u16, code: &str, detail: &str, meta: serde_json::Value| {
        serde_json::json!({
            "type": "ErrorResponse",
            "error": { "id": "8a7e1b2c-0d4f-4e5a-9b6c-1d2e3f4a5b6c", "status": status,
                       "code": code, "detail": detail, "meta": meta },
            "time": time,
        })
        .to_string()
    };
    if request.method != "GET" || request.path != "/res/v1/web/search" {
        let meta = serde_json::json!({ "component": "routing" });
        return (404, error(404, "NOT_FOUND", "Not found.", meta));
    }
    let Some(token) = &request.token else {
        let meta = serde_json::json!({ "errors": [{ "type": "missing",
            "loc": ["header", "x-subscription-token"], "msg": "Field required" }] });
        return (
            422,
            error(
                422,
                "VALIDATION",
                "Unable to validate request parameter(s)",
                meta,
            ),
        );
    };
    if token != key {
        let meta = serde_json::json!({ "component": "authentication" });
        return (
            422,
            error(
                422,
                "SUBSCRIPTION_TOKEN_INVALID",
                "The provided subscription token is invalid.",
                meta,
            ),
        );
    }
    let count: usize = request
        .count
        .as_deref()
        .and_then(|count| count.parse().ok())
        .unwrap_or(20);
    let results: Vec<serde_json::Value> = RESULTS
        .iter()
        .take(count)
        .map(|(title, url, description)| {
            serde_json::json!({
                "title": title, "url": url, "is_source_local": false, "is_source_both": false,
                "description": description, "page_age": "2026-11-30T08:00:00",
                "profile": { "name": "Example", "url": url, "long_name": "example.org", "img": "" },
                "language": "en", "family_friendly": true, "type": "search_result",
                "subtype": "generic", "extra_snippets": ["Another excerpt of the page."],
            })
        })
        .collect();
    let body = serde_json::json!({
        "type": "search",
        "query": { "original": request.query, "show_strict_warning": false,
                   "is_navigational": false, "spellcheck_off": true, "country": "us",
                   "more_results_available": false },
        "mixed": { "type": "mixed", "main": [], "top": [], "side": [] },
        "web": { "type": "search", "results": results, "family_friendly": true },
    });
    (200, body.to_string())
}
