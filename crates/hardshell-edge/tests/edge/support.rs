//! A running edge on a free loopback port, its stores in a temporary directory,
//! and a loopback upstream that answers with what it received.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use hardshell_audit::{AuditLog, AuditOptions, LogId};
use hardshell_auth::identity::IdentitySigner;
use hardshell_auth::{Method, Principal, SessionStore, TokenScope, TokenStore};
use hardshell_config::LoadedConfig;
use hardshell_edge::{Edge, EdgeSetup, ListenAddr};
use hardshell_storage::{ObjectKey, Store};
use hardshell_testkit::TestStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Where `build` puts the recording shell of the exec service it makes.
type RecordingSlot = Arc<Mutex<Option<Arc<hardshell_exec::testing::RecordingShell>>>>;

/// What the control socket tells the agent of its settings: the least that
/// is one.
fn control_settings() -> hardshell_protocol::AgentSettings {
    hardshell_protocol::AgentSettings {
        chain: Vec::new(),
        max_steps: 1,
        turn_timeout_secs: 60,
        max_message_bytes: 1024,
        max_tokens: 16,
        exec: None,
        browser: None,
        modules: Vec::new(),
        model_proxy: String::new(),
    }
}

pub struct TestEdge {
    pub addr: SocketAddr,
    /// Where `[metrics] listen` is bound, when the config sets it.
    pub metrics_addr: Option<SocketAddr>,
    edge_link: Option<String>,
    pub store: Store,
    pub public_key: Vec<u8>,
    /// The agent's control socket, when the edge has an exec service.
    pub control: Option<std::path::PathBuf>,
    /// The agent's turns for the chat channels, when the agent runs.
    pub turns: Option<hardshell_edge::ChatTurns>,
    /// The edge's audit log, which the other parts of its process (the egress
    /// brokers, exec) record in too.
    pub audit: Arc<AuditLog>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _store: TestStore,
}

impl TestEdge {
    /// An edge with `extra` appended to a config listening on a free port.
    pub async fn start(extra: &str) -> Self {
        Self::start_with("", extra).await
    }

    /// Like `start`, with OIDC login on and its client secret given.
    pub async fn start_oidc(extra: &str, client_secret: &str) -> Self {
        Self::build_with("", extra, Some(client_secret), None, None, None, Vec::new()).await
    }

    /// Like `start`, with Cloudflare Access keys fetched from `certs_url`.
    pub async fn start_cloudflare(extra: &str, certs_url: url::Url) -> Self {
        Self::build_with("", extra, None, Some(certs_url), None, None, Vec::new()).await
    }

    /// Like `start_cloudflare`, with `edge_keys` added to the `[edge]` table.
    pub async fn start_cloudflare_with(edge_keys: &str, extra: &str, certs_url: url::Url) -> Self {
        Self::build_with(
            edge_keys,
            extra,
            None,
            Some(certs_url),
            None,
            None,
            Vec::new(),
        )
        .await
    }

    /// Like `start`, with `edge_keys` added to the `[edge]` table.
    pub async fn start_with(edge_keys: &str, extra: &str) -> Self {
        Self::build_with(edge_keys, extra, None, None, None, None, Vec::new()).await
    }

    /// Like `start`, with the store (objects, locks, audit log) under `data`,
    /// a disk of the test's choosing.
    pub async fn start_on(data: &std::path::Path, extra: &str) -> Self {
        Self::build_with("", extra, None, None, Some(data), None, Vec::new()).await
    }

    /// Like `start`, with the built-in agent reached on the unix socket `agent`.
    pub async fn start_with_agent(extra: &str, agent: &std::path::Path) -> Self {
        Self::build_with("", extra, None, None, None, Some(agent), Vec::new()).await
    }

    /// Like `start`, with `parts` for the admin page to show.
    pub async fn start_with_parts(extra: &str, parts: Vec<hardshell_edge::Part>) -> Self {
        Self::build("", extra, None, None, None, None, Vec::new(), None, parts).await
    }

    /// Like `start`, with the chat channels' webhook routes of `webhooks`.
    pub async fn start_with_webhooks(
        extra: &str,
        webhooks: Vec<std::sync::Arc<dyn hardshell_channels::webhook::WebhookEndpoint>>,
    ) -> Self {
        Self::build_with("", extra, None, None, None, None, webhooks).await
    }

    /// Like `start_with_agent`, with the `exec` tool's service over a
    /// recording shell, and the agent's control socket served.
    pub async fn start_with_exec(
        extra: &str,
        agent: &std::path::Path,
    ) -> (Self, Arc<hardshell_exec::testing::RecordingShell>) {
        Self::start_with_exec_keys("", extra, agent).await
    }

    /// Like `start_with_exec`, with `edge_keys` in `[edge]` (a browser test's
    /// listener and public URL).
    pub async fn start_with_exec_keys(
        edge_keys: &str,
        extra: &str,
        agent: &std::path::Path,
    ) -> (Self, Arc<hardshell_exec::testing::RecordingShell>) {
        Self::start_with_exec_parts(edge_keys, extra, agent, Vec::new()).await
    }

    /// Like `start_with_exec_keys`, with `parts` for the admin page to show.
    pub async fn start_with_exec_parts(
        edge_keys: &str,
        extra: &str,
        agent: &std::path::Path,
        parts: Vec<hardshell_edge::Part>,
    ) -> (Self, Arc<hardshell_exec::testing::RecordingShell>) {
        let shell = Arc::new(Mutex::new(None));
        let edge = Self::build(
            edge_keys,
            extra,
            None,
            None,
            None,
            Some(agent),
            Vec::new(),
            Some(shell.clone()),
            parts,
        )
        .await;
        let shell = shell.lock().unwrap().take().unwrap();
        (edge, shell)
    }

    async fn build_with(
        edge_keys: &str,
        extra: &str,
        oidc_secret: Option<&str>,
        certs_url: Option<url::Url>,
        data: Option<&std::path::Path>,
        agent: Option<&std::path::Path>,
        webhooks: Vec<std::sync::Arc<dyn hardshell_channels::webhook::WebhookEndpoint>>,
    ) -> Self {
        Self::build(
            edge_keys,
            extra,
            oidc_secret,
            certs_url,
            data,
            agent,
            webhooks,
            None,
            Vec::new(),
        )
        .await
    }

    /// `exec`: given, the edge gets an exec service over a recording shell,
    /// put there, and serves the agent's control socket.
    #[allow(clippy::too_many_arguments)]
    async fn build(
        edge_keys: &str,
        extra: &str,
        oidc_secret: Option<&str>,
        certs_url: Option<url::Url>,
        data: Option<&std::path::Path>,
        agent: Option<&std::path::Path>,
        webhooks: Vec<std::sync::Arc<dyn hardshell_channels::webhook::WebhookEndpoint>>,
        exec: Option<RecordingSlot>,
        parts: Vec<hardshell_edge::Part>,
    ) -> Self {
        let test_store = match data {
            Some(data) => TestStore::on(data).await,
            None => TestStore::new().await,
        };
        let store = test_store.store.clone();
        let public_url = if edge_keys.contains("public_url") {
            ""
        } else {
            "public_url = \"http://localhost:8787\"\n"
        };
        let header_timeout = if edge_keys.contains("header_timeout_secs") {
            ""
        } else {
            "header_timeout_secs = 2\n"
        };
        let listen = if edge_keys.contains("listen") {
            ""
        } else {
            "listen = \"127.0.0.1:0\"\n"
        };
        let text = format!("[edge]\n{listen}{header_timeout}{public_url}{edge_keys}\n{extra}");
        let config = LoadedConfig::parse(&text, &test_store.dir().join("hardshell.toml")).unwrap();
        let signer =
            IdentitySigner::from_pkcs8(&IdentitySigner::generate_pkcs8().unwrap()).unwrap();
        let public_key = signer.public_key();
        let audit = AuditLog::open(
            &test_store.scope("audit"),
            &LogId::new("edge-test").unwrap(),
            AuditOptions::default(),
        )
        .await
        .unwrap();
        let audit = std::sync::Arc::new(audit);
        let exec = exec.map(|slot| {
            let (service, shell) = hardshell_exec::testing::service_over(
                audit.clone(),
                hardshell_config::Approval::Ask,
            );
            *slot.lock().unwrap() = Some(shell);
            service
        });
        let serves_control = exec.is_some();
        let state = EdgeSetup {
            workload_status: None,
            config: &config,
            store: &store,
            signer,
            audit: audit.clone(),
            oidc_client_secret: oidc_secret.map(|secret| {
                hardshell_auth::ClientSecret::new(zeroize::Zeroizing::new(secret.to_owned()))
            }),
            cloudflare_certs_url: certs_url,
            agent_socket: agent.map(std::path::Path::to_path_buf),
            exec,
            browser: None,
            webhooks,
            certificates: None,
            parts,
        }
        .build()
        .await
        .unwrap();
        let turns = state.chat_turns();
        let edge = Edge::bind(
            ListenAddr::loopback(config.config.edge.listen).unwrap(),
            state,
        )
        .await
        .unwrap();
        let control = serves_control.then(|| {
            let socket = test_store.dir().join("edge.sock");
            let service = hardshell_edge::ControlService::for_agent(
                test_store.scope("agent"),
                control_settings(),
                &edge,
                None,
            );
            let control = hardshell_edge::ControlSocket::bind(&socket, service).unwrap();
            tokio::spawn(control.serve());
            socket
        });
        let addr = edge.local_addr();
        let metrics_addr = edge.metrics_addr();
        let edge_link = edge
            .first_setup_link()
            .await
            .unwrap()
            .map(|link| link.to_string());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(edge.serve(async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            metrics_addr,
            edge_link,
            store,
            public_key,
            control,
            turns,
            audit,
            stop: Some(stop),
            server: Some(server),
            _store: test_store,
        }
    }

    pub async fn token(&self, scope: TokenScope) -> String {
        let tokens = TokenStore::new(
            self.store
                .root()
                .scope(&ObjectKey::parse("tokens").unwrap())
                .unwrap(),
        );
        let (_, token) = tokens
            .create("test", scope, Duration::from_secs(3600), Utc::now())
            .await
            .unwrap();
        token.expose().to_owned()
    }

    pub fn tokens(&self) -> TokenStore {
        TokenStore::new(
            self.store
                .root()
                .scope(&ObjectKey::parse("tokens").unwrap())
                .unwrap(),
        )
    }

    /// A session for `principal`, as a login would create it.
    pub async fn session(&self, principal: Principal) -> String {
        let sessions = SessionStore::new(
            self.store
                .root()
                .scope(&ObjectKey::parse("sessions").unwrap())
                .unwrap(),
            Duration::from_secs(3600),
        );
        sessions
            .create(principal, Utc::now())
            .await
            .unwrap()
            .expose()
            .to_owned()
    }

    /// Every audit record the edge has flushed, as JSON values.
    pub async fn audit_records(&self) -> Vec<serde_json::Value> {
        let scope = self
            .store
            .root()
            .scope(&ObjectKey::parse("audit").unwrap())
            .unwrap();
        let mut tail =
            hardshell_audit::Tail::new(&scope, &LogId::new("edge-test").unwrap(), 1).unwrap();
        tail.read()
            .await
            .unwrap()
            .iter()
            .map(|record| serde_json::from_slice(&record.to_line().unwrap()).unwrap())
            .collect()
    }

    /// Every byte of every audit object, in the clear (read through the store).
    pub async fn audit_text(&self) -> String {
        let scope = self
            .store
            .root()
            .scope(&ObjectKey::parse("audit").unwrap())
            .unwrap();
        let mut text = String::new();
        for entry in scope.list().await.unwrap() {
            let object = scope.get(&entry.key).await.unwrap().unwrap();
            text.push_str(&String::from_utf8_lossy(&object.value));
        }
        text
    }

    /// Issues a passkey setup link as `hardshell up` would, and returns its token.
    pub async fn setup_token(&self) -> String {
        let link = self.edge_link.clone().expect("passkeys are on");
        link.split_once("#setup=").unwrap().1.to_owned()
    }

    pub async fn stop(mut self) {
        self.stop_serving().await;
    }

    /// Stops the server (flushing the audit log) but keeps the stores readable.
    pub async fn stop_serving(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
    }
}

pub fn owner() -> Principal {
    Principal {
        subject: "owner".into(),
        email: None,
        groups: vec![],
        method: Method::Passkey,
        authenticated_at: Utc::now(),
        token_scope: None,
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.head
            .lines()
            .find(|line| line.to_ascii_lowercase().starts_with(&prefix))
            .map(|line| line[prefix.len()..].trim().to_owned())
    }

    pub fn headers(&self, name: &str) -> Vec<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.head
            .lines()
            .filter(|line| line.to_ascii_lowercase().starts_with(&prefix))
            .map(|line| line[prefix.len()..].trim().to_owned())
            .collect()
    }
}

/// Sends raw bytes and reads until the server closes (requests say `Connection: close`).
pub async fn raw(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes)).await;
    parse(&bytes)
}

pub fn parse(bytes: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Reply {
        status,
        head: head.to_owned(),
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// A GET with optional extra header lines.
pub async fn get(addr: SocketAddr, path: &str, headers: &[&str]) -> Reply {
    request(addr, "GET", path, headers, "").await
}

pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &str,
) -> Reply {
    request_on(addr, "localhost", method, path, headers, body).await
}

/// Like `request`, for the host `host` (e.g. the upstream's own host).
pub async fn request_on(
    addr: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &str,
) -> Reply {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    if !body.is_empty() || method == "POST" {
        text.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    text.push_str("\r\n");
    text.push_str(body);
    raw(addr, text.as_bytes()).await
}

pub fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}

/// What the upstream saw of each request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

pub type Log = Arc<Mutex<Vec<Seen>>>;

pub mod agent;
pub mod upstream;

/// The WSGI upstream in `support/wsgi_env.py`, stopped (by its pid) on drop.
pub struct WsgiUpstream {
    pub url: String,
    child: std::process::Child,
}

impl WsgiUpstream {
    pub fn start() -> Self {
        use std::io::BufRead;
        // As `cargo test` says when it runs the test: a path baked in at
        // compile time can be another checkout's (a shared build cache).
        let script = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
            .join("tests/edge/support/wsgi_env.py");
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the WSGI upstream");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .parse()
            .expect("the WSGI upstream printed its port");
        Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
        }
    }
}

impl Drop for WsgiUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client certificate and its key, as PEM.
pub struct ClientIdentity {
    pub cert_pem: String,
    pub key_pem: String,
}

/// An edge serving TLS for `localhost` with a self-signed certificate, and
/// the HTTPS client that reaches it: one trusting that certificate alone.
pub struct HttpsEdge {
    pub edge: TestEdge,
    certificate: CertificateDer<'static>,
    /// Holds the certificate's and the key's files while the edge runs.
    _files: tempfile::TempDir,
}

impl HttpsEdge {
    /// An edge with `edge_keys` in its `[edge]` table, `[edge.tls]` naming a
    /// fresh certificate for `localhost` and its key, and `extra` after it.
    pub async fn start(edge_keys: &str, extra: &str) -> Self {
        let files = tempfile::tempdir().unwrap();
        let identity = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = files.path().join("cert.pem");
        let key = files.path().join("key.pem");
        std::fs::write(&cert, identity.cert.pem()).unwrap();
        std::fs::write(&key, identity.signing_key.serialize_pem()).unwrap();
        let config = format!(
            "[edge.tls]\ncert = \"{}\"\nkey = \"{}\"\n{extra}",
            cert.display(),
            key.display()
        );
        Self {
            edge: TestEdge::start_with(edge_keys, &config).await,
            certificate: identity.cert.der().clone(),
            _files: files,
        }
    }

    /// A TLS client that trusts only the edge's certificate and presents
    /// `client` (its whole chain), if any.
    fn client_config(&self, client: Option<&ClientIdentity>) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.certificate.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        match client {
            Some(identity) => {
                let chain = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap();
                let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
            None => builder.with_no_client_auth(),
        }
    }

    /// A TLS connection to the edge with `client` as its client
    /// certificate; `Err` when the handshake fails.
    pub async fn connect(
        &self,
        client: Option<&ClientIdentity>,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.edge.addr).await?;
        let name = ServerName::try_from("localhost").unwrap();
        TlsConnector::from(Arc::new(self.client_config(client)))
            .connect(name, tcp)
            .await
    }

    /// One request on a connection of its own, `body` and its
    /// `Content-Length` after `headers`; `Err` when the handshake or the
    /// connection fails (under TLS 1.3 a refused client certificate shows as
    /// a connection closed before any answer).
    pub async fn request(
        &self,
        client: Option<&ClientIdentity>,
        method: &str,
        path: &str,
        headers: &[&str],
        body: &str,
    ) -> std::io::Result<Reply> {
        let mut tls = self.connect(client).await?;
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        for header in headers {
            request.push_str(header);
            request.push_str("\r\n");
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        request.push_str(body);
        tls.write_all(request.as_bytes()).await?;
        let mut bytes = Vec::new();
        tls.read_to_end(&mut bytes).await?;
        if bytes.is_empty() {
            return Err(std::io::Error::other("no response"));
        }
        Ok(parse(&bytes))
    }
}
