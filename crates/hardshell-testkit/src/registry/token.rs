//! A Bearer token service for the test registry (distribution's `auth.token`):
//! HTTPS on 127.0.0.1, ES256 JWTs carrying their certificate in `x5c` (the
//! registry trusts that certificate as its `rootcertbundle`). Anonymous callers
//! get `pull` only; a caller with the right Basic credential gets what it asks
//! for; a wrong credential gets 401. Served by a thread, stopped on drop.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{CertificateParams, KeyPair};

pub const ISSUER: &str = "hardshell-test-issuer";
pub const SERVICE: &str = "hardshell-test-registry";

pub struct TokenServer {
    pub addr: SocketAddr,
    /// The signing certificate, PEM: the registry's `rootcertbundle`.
    pub signing_cert_pem: String,
    /// Tokens issued so far.
    pub issued: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

struct Shared {
    tls: Arc<rustls::ServerConfig>,
    signing_key_der: Vec<u8>,
    signing_cert_der: Vec<u8>,
    credential: (String, String),
    issued: Arc<AtomicUsize>,
}

impl TokenServer {
    /// Serves TLS with `server_cert`/`server_key` (PEM), accepting `user:password`.
    pub fn start(
        server_cert_der: Vec<u8>,
        server_key_der: Vec<u8>,
        user: &str,
        password: &str,
    ) -> Self {
        let signing_key = KeyPair::generate().unwrap();
        let signing_cert = CertificateParams::new(vec!["token-signer".to_owned()])
            .unwrap()
            .self_signed(&signing_key)
            .unwrap();
        let tls = super::hostile::tls_config(server_cert_der, server_key_der);
        let issued = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Shared {
            tls,
            signing_key_der: signing_key.serialize_der(),
            signing_cert_der: signing_cert.der().to_vec(),
            credential: (user.to_owned(), password.to_owned()),
            issued: issued.clone(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(&shared, stream);
                });
            }
        });
        Self {
            addr,
            signing_cert_pem: signing_cert.pem(),
            issued,
            stop,
        }
    }

    pub fn realm(&self) -> String {
        format!("https://{}/token", self.addr)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(shared: &Shared, tcp: TcpStream) -> std::io::Result<()> {
    let Some((mut tls, head)) = super::tls_request_head(shared.tls.clone(), tcp)? else {
        return Ok(());
    };
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let url = url::Url::parse(&format!("https://token{target}")).unwrap();
    let scopes: Vec<String> = url
        .query_pairs()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .collect();
    let authorization = head.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.trim().to_owned())
    });
    let (subject, full_access) = match authorization {
        None => (String::new(), false),
        Some(value) => {
            let decoded = value
                .strip_prefix("Basic ")
                .and_then(|b| STANDARD.decode(b).ok())
                .unwrap_or_default();
            let expected = format!("{}:{}", shared.credential.0, shared.credential.1);
            if decoded != expected.as_bytes() {
                let body = r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#;
                write!(
                    tls,
                    "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )?;
                return tls.flush();
            }
            (shared.credential.0.clone(), true)
        }
    };
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|scope| {
            let mut parts = scope.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            let actions: Vec<&str> = actions
                .split(',')
                .filter(|a| full_access || *a == "pull")
                .collect();
            Some(serde_json::json!({"type": kind, "name": name, "actions": actions}))
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": subject, "aud": SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now,
        "jti": format!("t{}", shared.issued.fetch_add(1, Ordering::SeqCst)),
        "access": access,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.x5c = Some(vec![STANDARD.encode(&shared.signing_cert_der)]);
    let key = jsonwebtoken::EncodingKey::from_ec_der(&shared.signing_key_der);
    let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    let body = serde_json::json!({"token": token}).to_string();
    write!(
        tls,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    tls.flush()?;
    tls.conn.send_close_notify();
    tls.flush()
}
