//! A registry that lies, for the tests of what a client must not believe:
//! HTTPS on 127.0.0.1 (a certificate for 127.0.0.1 and localhost from a
//! fresh test CA) answering each request with whatever [`Reply`] the test's
//! function gives, a Content-Length that is not the body's, a body dripped
//! a byte at a time, a redirect to another host; and every request it saw,
//! with its Authorization header, for the tests of where a credential went.
//! Served by threads, one a connection, stopped on drop.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A request as the registry saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The request target, `/v2/…`.
    pub path: String,
    /// The Authorization header, if one was sent.
    pub authorization: Option<String>,
}

/// What the registry answers.
#[derive(Clone, Debug)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    length: Length,
    pace: Option<Duration>,
}

#[derive(Clone, Copy, Debug)]
enum Length {
    /// The body's own length.
    Honest,
    /// This, whatever the body is.
    Claimed(u64),
    /// None: the body ends when the connection does.
    Absent,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
            length: Length::Honest,
            pace: None,
        }
    }

    /// `status` with no body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            ..Self::ok(Vec::new())
        }
    }

    /// 307 to `location`.
    pub fn redirect(location: &str) -> Self {
        Self::status(307).header("Location", location)
    }

    /// 401 asking for Basic auth.
    pub fn basic_challenge() -> Self {
        Self::status(401).header("WWW-Authenticate", "Basic realm=\"hostile\"")
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Says the body is `length` bytes, whatever it is.
    pub fn claiming_length(mut self, length: u64) -> Self {
        self.length = Length::Claimed(length);
        self
    }

    /// Says nothing of the body's length: it ends when the connection does.
    pub fn without_length(mut self) -> Self {
        self.length = Length::Absent;
        self
    }

    /// Sends the body one byte every `every`.
    pub fn dripped(mut self, every: Duration) -> Self {
        self.pace = Some(every);
        self
    }
}

type Answer = dyn Fn(&Seen) -> Reply + Send + Sync;

/// The registry, listening on loopback.
pub struct HostileRegistry {
    pub addr: SocketAddr,
    /// The test CA, PEM: what a client must trust.
    pub ca_pem: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl HostileRegistry {
    /// Answers every request with `answer`'s reply to it.
    pub fn start(answer: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        let pki = crate::pki::test_pki("hardshell registry test CA");
        let tls = tls_config(pki.cert_der, pki.key_der);
        let answer: Arc<Answer> = Arc::new(answer);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (stop_flag, seen_by_threads) = (stop.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (tls, answer, seen) = (tls.clone(), answer.clone(), seen_by_threads.clone());
                std::thread::spawn(move || {
                    let _ = serve(tls, stream, &*answer, &seen);
                });
            }
        });
        Self {
            addr,
            ca_pem: pki.ca_pem,
            seen,
            stop,
        }
    }

    /// `127.0.0.1:PORT/name`, as a reference names a repository.
    pub fn repo(&self, name: &str) -> String {
        format!("{}/{name}", self.addr)
    }

    /// `https://localhost:PORT/path`: this registry under another host name.
    pub fn localhost_url(&self, path: &str) -> String {
        format!("https://localhost:{}/{path}", self.addr.port())
    }

    /// Every request seen so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for HostileRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// A TLS server configuration with the certificate `cert_der` for `key_der`.
pub(crate) fn tls_config(cert_der: Vec<u8>, key_der: Vec<u8>) -> Arc<rustls::ServerConfig> {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(cert_der)],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der)),
    )
    .unwrap();
    Arc::new(config)
}

fn serve(
    tls: Arc<rustls::ServerConfig>,
    tcp: TcpStream,
    answer: &Answer,
    seen: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    let Some((mut tls, head)) = super::tls_request_head(tls, tcp)? else {
        return Ok(());
    };
    let request = Seen {
        path: head.split_whitespace().nth(1).unwrap_or("/").to_owned(),
        authorization: head.lines().find_map(|line| {
            line.split_once(':')
                .filter(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                .map(|(_, value)| value.trim().to_owned())
        }),
    };
    seen.lock().unwrap().push(request.clone());
    let reply = answer(&request);
    let mut head = format!("HTTP/1.1 {} Hostile\r\nConnection: close\r\n", reply.status);
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match reply.length {
        Length::Honest => head.push_str(&format!("Content-Length: {}\r\n", reply.body.len())),
        Length::Claimed(length) => head.push_str(&format!("Content-Length: {length}\r\n")),
        Length::Absent => {}
    }
    head.push_str("\r\n");
    tls.write_all(head.as_bytes())?;
    tls.flush()?;
    match reply.pace {
        None => tls.write_all(&reply.body)?,
        Some(every) => {
            for byte in &reply.body {
                tls.write_all(std::slice::from_ref(byte))?;
                tls.flush()?;
                std::thread::sleep(every);
            }
        }
    }
    tls.flush()?;
    tls.conn.send_close_notify();
    tls.flush()
}
