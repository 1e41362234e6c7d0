//! The relay's test harness: a real Chromium (Debian's, headless, on
//! loopback), a relay task between it and a test client, a sealed audit log,
//! and tiny HTTP servers for pages, downloads and a counting proxy.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hardshell_audit::event::CdpClient;
use hardshell_audit::{AuditLog, AuditOptions, LogId, Tail};
use hardshell_browser::{BrowserTrail, MethodPolicy, RelayEnd, RelayLimits, SessionRules, relay};
use hardshell_testkit::TestStore;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

pub const CHROMIUM: &str = "/usr/lib/chromium/chromium";

/// A guard against a hung test, not an assertion on time.
const PATIENCE: Duration = Duration::from_secs(60);

/// A headless Chromium with its own profile, killed by its pid on drop.
pub struct Chromium {
    child: Child,
    /// The browser's DevTools WebSocket URL.
    pub url: String,
    _profile: tempfile::TempDir,
}

impl Chromium {
    pub async fn launch(extra: &[&str]) -> Chromium {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: install Debian's chromium"
        );
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let url = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("Chromium exited without listening");
        })
        .await
        .unwrap();
        // Keep reading, so a full stderr pipe never stalls the browser.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Chromium {
            child,
            url,
            _profile: profile,
        }
    }

    /// Kills the browser by its pid, as a crash would end it.
    pub async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }

    pub async fn connect(&self, limits: &RelayLimits) -> WebSocketStream<TcpStream> {
        let address = self
            .url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let tcp = TcpStream::connect(address).await.unwrap();
        let (socket, _) = tokio_tungstenite::client_async_with_config(
            self.url.as_str(),
            tcp,
            Some(limits.browser_config()),
        )
        .await
        .unwrap();
        socket
    }
}

/// The session's directories, as the browser sees them (the same machine).
pub struct Dirs {
    _root: tempfile::TempDir,
    pub downloads: PathBuf,
    pub uploads: PathBuf,
}

impl Dirs {
    fn new() -> Dirs {
        let root = tempfile::tempdir().unwrap();
        let downloads = root.path().join("downloads");
        let uploads = root.path().join("uploads");
        std::fs::create_dir(&downloads).unwrap();
        std::fs::create_dir(&uploads).unwrap();
        Dirs {
            _root: root,
            downloads,
            uploads,
        }
    }
}

/// A relay waiting for one client on loopback, in front of a fresh Chromium.
pub struct Served {
    pub chromium: Chromium,
    pub dirs: Dirs,
    pub address: std::net::SocketAddr,
    pub relay: JoinHandle<RelayEnd>,
    /// Completes the relay's `stop`, when sent or dropped.
    pub stopper: tokio::sync::oneshot::Sender<()>,
    store: TestStore,
    audit: Arc<AuditLog>,
}

impl Served {
    pub async fn start(limits: RelayLimits, chromium_args: &[&str]) -> Served {
        let chromium = Chromium::launch(chromium_args).await;
        let dirs = Dirs::new();
        let store = TestStore::new().await;
        let audit = Arc::new(
            AuditLog::open(&store.scope("audit"), &log_id(), AuditOptions::default())
                .await
                .unwrap(),
        );
        let trail = BrowserTrail::new(Arc::clone(&audit), "brs-test");
        let rules = SessionRules::new(&dirs.downloads, &dirs.uploads).unwrap();
        let browser = chromium.connect(&limits).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stopper, stop) = tokio::sync::oneshot::channel::<()>();
        let relay = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let client =
                tokio_tungstenite::accept_async_with_config(tcp, Some(limits.client_config()))
                    .await
                    .unwrap();
            let policy = MethodPolicy::standard().unwrap();
            trail.session_started(CdpClient::Edge);
            let stop = async {
                let _ = stop.await;
            };
            let end = relay(client, browser, &policy, &rules, &limits, &trail, stop).await;
            trail.session_ended(&end);
            end
        });
        Served {
            chromium,
            dirs,
            address,
            relay,
            stopper,
            store,
            audit,
        }
    }

    /// The WebSocket URL a client connects to.
    pub fn url(&self) -> String {
        format!("ws://{}/cdp", self.address)
    }

    /// Every audit record written so far, as JSON.
    pub async fn records(&self) -> Vec<Value> {
        records(&self.store, &self.audit).await
    }
}

async fn records(store: &TestStore, audit: &AuditLog) -> Vec<Value> {
    audit.flush().await.unwrap();
    let mut tail = Tail::new(&store.scope("audit"), &log_id(), 1).unwrap();
    tail.read()
        .await
        .unwrap()
        .iter()
        .map(|record| serde_json::to_value(record.event()).unwrap())
        .collect()
}

/// One relayed session: the test is its client.
pub struct Session {
    pub chromium: Chromium,
    pub dirs: Dirs,
    client: WebSocketStream<TcpStream>,
    relay: Option<JoinHandle<RelayEnd>>,
    stopper: Option<tokio::sync::oneshot::Sender<()>>,
    next_id: u64,
    /// Events read while waiting for an answer, oldest first.
    events: Vec<Value>,
    store: TestStore,
    audit: Arc<AuditLog>,
}

fn log_id() -> LogId {
    LogId::new("browser-test").unwrap()
}

impl Session {
    pub async fn start() -> Session {
        Session::with(RelayLimits::default(), &[]).await
    }

    pub async fn with(limits: RelayLimits, chromium_args: &[&str]) -> Session {
        let served = Served::start(limits, chromium_args).await;
        let tcp = TcpStream::connect(served.address).await.unwrap();
        let (client, _) = tokio_tungstenite::client_async(served.url(), tcp)
            .await
            .unwrap();
        Session {
            chromium: served.chromium,
            dirs: served.dirs,
            client,
            relay: Some(served.relay),
            stopper: Some(served.stopper),
            next_id: 0,
            events: Vec::new(),
            store: served.store,
            audit: served.audit,
        }
    }

    /// Sends a command; its id.
    pub async fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let mut command = json!({"id": self.next_id, "method": method, "params": params});
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        self.send_text(&command.to_string()).await;
        self.next_id
    }

    pub async fn send_text(&mut self, text: &str) {
        self.client.send(Message::text(text)).await.unwrap();
    }

    pub async fn send_message(&mut self, message: Message) {
        self.client.send(message).await.unwrap();
    }

    /// The answer to command `id` (result or error), keeping the other
    /// messages seen (answers may come in any order: refusals come first).
    pub async fn answer(&mut self, id: u64) -> Value {
        let is_it = |message: &Value| message.get("id").and_then(Value::as_u64) == Some(id);
        if let Some(at) = self.events.iter().position(is_it) {
            return self.events.remove(at);
        }
        loop {
            let message = self.next_message().await;
            if is_it(&message) {
                return message;
            }
            self.events.push(message);
        }
    }

    /// Sends a command and returns its result; fails on an error answer.
    pub async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.send(session, method, params).await;
        let answer = self.answer(id).await;
        assert!(answer.get("error").is_none(), "{method} failed: {answer}");
        answer["result"].clone()
    }

    /// Sends a command that must be refused; the error.
    pub async fn refused(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.send(session, method, params).await;
        let answer = self.answer(id).await;
        assert!(
            answer.get("result").is_none(),
            "{method} was not refused: {answer}"
        );
        if let Some(session) = session {
            assert_eq!(
                answer["sessionId"], session,
                "the refusal is in the command's session"
            );
        }
        answer["error"].clone()
    }

    /// The first event (seen or next) named `method` that `matches`.
    pub async fn event(&mut self, method: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let found = |event: &Value| event["method"] == method && matches(event);
        if let Some(at) = self.events.iter().position(found) {
            return self.events.remove(at);
        }
        loop {
            let message = self.next_message().await;
            if found(&message) {
                return message;
            }
            self.events.push(message);
        }
    }

    async fn next_message(&mut self) -> Value {
        let message = tokio::time::timeout(PATIENCE, self.client.next())
            .await
            .unwrap();
        match message {
            Some(Ok(Message::Text(text))) => serde_json::from_str(text.as_str()).unwrap(),
            other => panic!("expected a CDP message, got {other:?}"),
        }
    }

    /// The close frame the relay ends the session with (answers before it
    /// are returned too).
    pub async fn closed(&mut self) -> (Option<CloseFrame>, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let message = tokio::time::timeout(PATIENCE, self.client.next())
                .await
                .unwrap();
            match message {
                Some(Ok(Message::Text(text))) => {
                    before.push(serde_json::from_str(text.as_str()).unwrap())
                }
                Some(Ok(Message::Close(frame))) => return (frame, before),
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// The answer to `id`, or the close frame that came first (with what
    /// came before it): `(Some(frame), before)` when the session closed.
    pub async fn closed_or_answer(&mut self, id: u64) -> (Option<Option<CloseFrame>>, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let message = tokio::time::timeout(PATIENCE, self.client.next())
                .await
                .unwrap();
            match message {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str()).unwrap();
                    if value["id"] == id {
                        return (None, vec![value]);
                    }
                    before.push(value);
                }
                Some(Ok(Message::Close(frame))) => return (Some(frame), before),
                Some(Ok(_)) => {}
                // The relay closed and the stream ended before the frame was read.
                other => panic!("expected an answer or a close frame, got {other:?}"),
            }
        }
    }

    /// How the relay ended (after the client closed, or the relay did).
    pub async fn end(&mut self) -> RelayEnd {
        let relay = self.relay.take().unwrap();
        tokio::time::timeout(PATIENCE, relay)
            .await
            .unwrap()
            .unwrap()
    }

    /// Completes the relay's `stop`, as a revoked credential would.
    pub fn stop(&mut self) {
        if let Some(stopper) = self.stopper.take() {
            let _ = stopper.send(());
        }
    }

    pub async fn close(&mut self) -> RelayEnd {
        self.client.close(None).await.unwrap();
        self.end().await
    }

    /// A page target attached in flat mode: (target id, session id).
    pub async fn new_page(&mut self, url: &str) -> (String, String) {
        self.call(
            None,
            "Target.setAutoAttach",
            json!({"autoAttach": true, "waitForDebuggerOnStart": false, "flatten": true}),
        )
        .await;
        let target = self
            .call(None, "Target.createTarget", json!({"url": url}))
            .await;
        let target = target["targetId"].as_str().unwrap().to_owned();
        let attached = self
            .event("Target.attachedToTarget", |event| {
                event["params"]["targetInfo"]["targetId"] == target.as_str()
            })
            .await;
        (
            target,
            attached["params"]["sessionId"].as_str().unwrap().to_owned(),
        )
    }

    /// Navigates the page of `session` and waits for its load event.
    pub async fn navigate(&mut self, session: &str, url: &str) -> Value {
        self.call(Some(session), "Page.enable", json!({})).await;
        let result = self
            .call(Some(session), "Page.navigate", json!({"url": url}))
            .await;
        self.event("Page.loadEventFired", |event| event["sessionId"] == session)
            .await;
        result
    }

    pub async fn evaluate(&mut self, session: &str, expression: &str) -> Value {
        let result = self
            .call(
                Some(session),
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        result["result"]["value"].clone()
    }

    /// Every audit record written so far, as JSON.
    pub async fn records(&self) -> Vec<Value> {
        records(&self.store, &self.audit).await
    }
}

/// An HTTP server on loopback answering every request with `page`, counting
/// the requests; `/download` answers an attachment.
pub struct Site {
    pub address: std::net::SocketAddr,
    pub hits: Arc<AtomicUsize>,
    /// Request targets, as sent (a proxy's are absolute URLs).
    targets: Arc<std::sync::Mutex<Vec<String>>>,
}

pub const DOWNLOADED: &str = "downloaded through the relay";

impl Site {
    pub async fn serve(page: &'static str) -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&hits);
        let targets = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = Arc::clone(&targets);
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let counted = Arc::clone(&counted);
                let kept = Arc::clone(&kept);
                tokio::spawn(async move {
                    let Some(target) = request_target(&mut tcp).await else {
                        return;
                    };
                    counted.fetch_add(1, Ordering::SeqCst);
                    kept.lock().unwrap().push(target.clone());
                    let (headers, body) = if target.ends_with("/download") {
                        (
                            "Content-Type: text/plain\r\nContent-Disposition: attachment; filename=hello.txt\r\n",
                            DOWNLOADED,
                        )
                    } else {
                        ("Content-Type: text/html\r\n", page)
                    };
                    let response = format!(
                        "HTTP/1.1 200 OK\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tcp.write_all(response.as_bytes()).await;
                });
            }
        });
        Site {
            address,
            hits,
            targets,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Whether a request for exactly `target` arrived.
    pub fn saw(&self, target: &str) -> bool {
        self.targets
            .lock()
            .unwrap()
            .iter()
            .any(|seen| seen == target)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// The request line's target, after the whole head is read.
async fn request_target(tcp: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if tcp.read(&mut byte).await.ok()? == 0 || head.len() > 65536 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    head.split(' ').nth(1).map(str::to_owned)
}
