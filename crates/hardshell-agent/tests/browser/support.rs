//! A headless Chromium and the test site, each started for one test and
//! killed by its pid when dropped, and connectors to the browser.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use hardshell_agent::builtin::browser::{
    Browser, BrowserConnector, BrowserError, BrowserLimits, BrowserSocket, handshake,
};
use hardshell_agent::protocol::BrowserSettings;
use hardshell_agent::{SessionId, Tool, ToolContext, ToolError};

/// Debian's Chromium, as the edge's browser shells run it.
const CHROMIUM: &str = "/usr/lib/chromium/chromium";

/// A headless Chromium with a profile of its own.
pub struct Chromium {
    child: Child,
    /// Its browser-wide DevTools WebSocket.
    pub url: String,
    _profile: tempfile::TempDir,
}

impl Chromium {
    pub fn start() -> Self {
        assert!(
            std::path::Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: install Debian's chromium"
        );
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--no-first-run",
                "--disable-gpu",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Chromium announces its DevTools address on stderr, once; the rest
        // of its stderr is drained so it never blocks on a full pipe.
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!("chromium ended without announcing its DevTools address");
            };
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                break url.trim().to_owned();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            child,
            url,
            _profile: profile,
        }
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `scripts/test-site.py` on a free port of 127.0.0.1.
pub struct Site {
    child: Child,
    pub port: u16,
}

impl Site {
    pub fn start() -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test-site.py");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .arg(script)
            .args(["127.0.0.1", &port.to_string()])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let site = Self { child, port };
        // Ready once it accepts a connection (bounded: the test fails, not hangs).
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let until = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(address).is_err() {
            assert!(Instant::now() < until, "the test site did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        site
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects to a browser's DevTools WebSocket (which a test may change, as
/// when the edge starts a new browser), counting the connections.
#[derive(Clone)]
pub struct DevTools {
    pub url: Arc<Mutex<String>>,
    pub connections: Arc<AtomicUsize>,
}

impl DevTools {
    pub fn new(chromium: &Chromium) -> Self {
        Self {
            url: Arc::new(Mutex::new(chromium.url.clone())),
            connections: Arc::default(),
        }
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl BrowserConnector for DevTools {
    fn connect<'a>(
        &'a self,
        _session: &'a str,
    ) -> BoxFuture<'a, Result<BrowserSocket, BrowserError>> {
        Box::pin(async move {
            self.connections.fetch_add(1, Ordering::SeqCst);
            let url = self.url.lock().unwrap().clone();
            let address = url
                .strip_prefix("ws://")
                .and_then(|rest| rest.split('/').next())
                .unwrap()
                .to_owned();
            let stream = tokio::net::TcpStream::connect(address).await.map_err(|e| {
                BrowserError::Connect {
                    reason: e.to_string(),
                }
            })?;
            handshake(Box::new(stream), &url).await
        })
    }
}

/// The tool, on `devtools`, with any public host allowed.
pub fn tool(devtools: &DevTools, limits: BrowserLimits) -> Browser<DevTools> {
    Browser::new(
        devtools.clone(),
        BrowserSettings { allow: Vec::new() },
        limits,
    )
}

/// One call of the tool in conversation `session`.
pub async fn call(
    tool: &Browser<DevTools>,
    session: &str,
    arguments: serde_json::Value,
) -> Result<String, ToolError> {
    let cx = ToolContext::new(SessionId::parse(session).unwrap(), 1);
    tool.call(arguments, &cx).await.map(|output| output.content)
}

/// The number `[n]` the page text gives the element shown as `label`.
pub fn number_of(text: &str, label: &str) -> usize {
    let line = text
        .lines()
        .find(|line| line.ends_with(label) || line.contains(&format!("{label} ")))
        .unwrap_or_else(|| panic!("no {label} in:\n{text}"));
    line.strip_prefix('[')
        .and_then(|rest| rest.split(']').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line} is not numbered"))
}
