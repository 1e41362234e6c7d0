//! A running `hardshell up` with the built-in agent, on a free port.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use hardshell_testkit::instance::{Instance, Up};
use hardshell_testkit::ready::NotifySocket;

pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the suite with scripts/test (it starts the local model server)"
        )
    })
}

/// The `[llm]` table for the local model as `local/smollm2`, plus `extra`.
pub fn local_model(extra: &str) -> String {
    format!(
        "[agent]\nmax_tokens = 48\nturn_timeout_secs = 300\n\
         [llm]\nchain = [\"local/smollm2\"]\n\
         [llm.providers.local]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key = \"env:HARDSHELL_TEST_LLM_KEY\"\n{extra}",
        env("HARDSHELL_TEST_LLM_URL")
    )
}

pub struct Running {
    pub child: Child,
    pub addr: String,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Kept open: `up` tells it `STOPPING=1` when it stops.
    _notify: NotifySocket,
}

impl Running {
    /// `hardshell up` in `hs`, with `tables` replacing the template's [agent]/[llm]
    /// defaults (appended; the template has none of these keys set).
    pub fn start(hs: &Instance) -> Running {
        Self::start_with(hs, &[])
    }

    /// [`Running::start`] with more environment for `up`; returns once `up`
    /// says it is ready (the edge serves and the agent answers).
    pub fn start_with(hs: &Instance, extra_env: &[(&str, &str)]) -> Running {
        Self::start_command(Self::up_command(hs, extra_env))
    }

    /// The command [`Running::start_with`] runs, for a test that runs it
    /// another way (wrapped in a namespace of its own).
    pub fn up_command(hs: &Instance, extra_env: &[(&str, &str)]) -> std::process::Command {
        let mut command = hs.command(&["up"]);
        command
            .env("RUST_LOG", "info")
            .env("HARDSHELL_TEST_LLM_KEY", env("HARDSHELL_TEST_LLM_KEY"))
            .envs(extra_env.iter().copied())
            .stdout(Stdio::null());
        command
    }

    /// Runs `command` (an `up`, whose process it ends up as) and returns
    /// once it says it is ready.
    pub fn start_command(command: std::process::Command) -> Running {
        let up = Up::start(command, Duration::from_secs(60));
        Running {
            child: up.child,
            addr: up.addr,
            log: up.log,
            _notify: up.notify,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn stop(mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill9();
        panic!("hardshell up did not stop on SIGTERM");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An instance with the local model configured and `extra` config appended.
pub fn instance(extra: &str) -> Instance {
    let hs = Instance::initialised(crate::HARDSHELL);
    hs.edit_config(|text| {
        let text = text.replace("127.0.0.1:8787", "127.0.0.1:0");
        // The template's own [agent] and [llm] tables are replaced by the test's.
        let start = text.find("[agent]").unwrap();
        let end = text.find("# Where authorised chat traffic goes").unwrap();
        format!("{}{}\n{}", &text[..start], extra, &text[end..])
    });
    hs
}

pub fn token(hs: &Instance) -> String {
    hs.run(&["token", "create", "--name", "t", "--scope", "chat"])
        .ok()
        .stdout
        .trim()
        .to_owned()
}

pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(180))
        .build()
        .unwrap()
}

/// A new web session's id.
pub fn new_session(running: &Running, token: &str) -> String {
    let body: serde_json::Value = http()
        .post(running.url("/api/sessions"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// A new web session of `running`, with a new chat token of `hs`, and the
/// SSE events of its first turn, `text`.
pub fn first_turn(
    hs: &Instance,
    running: &Running,
    text: &str,
) -> (String, Vec<(String, serde_json::Value)>) {
    let token = token(hs);
    let session = new_session(running, &token);
    let events = turn(running, &token, &session, text);
    (session, events)
}

/// Sends `text` and returns the SSE events as (name, data) pairs.
pub fn turn(
    running: &Running,
    token: &str,
    session: &str,
    text: &str,
) -> Vec<(String, serde_json::Value)> {
    let body = http()
        .post(running.url(&format!("/api/sessions/{session}/messages")))
        .bearer_auth(token)
        .json(&serde_json::json!({ "text": text }))
        .send()
        .unwrap()
        .text()
        .unwrap();
    parse_sse(&body)
}

pub fn parse_sse(body: &str) -> Vec<(String, serde_json::Value)> {
    body.split("\n\n")
        .filter(|event| !event.trim().is_empty())
        .map(|event| {
            let mut name = String::new();
            let mut data = String::new();
            for line in event.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = v.to_owned();
                }
            }
            (
                name,
                serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
            )
        })
        .collect()
}

pub fn reply_text(events: &[(String, serde_json::Value)]) -> String {
    events
        .iter()
        .filter(|(name, _)| name == "delta")
        .filter_map(|(_, data)| data["text"].as_str())
        .collect()
}

pub fn history(running: &Running, token: &str, session: &str) -> Vec<serde_json::Value> {
    let body: serde_json::Value = http()
        .get(running.url(&format!("/api/sessions/{session}")))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    body["messages"].as_array().cloned().unwrap_or_default()
}

/// A stored message as (role, its text parts joined).
pub fn message_text(stored: &serde_json::Value) -> (String, String) {
    let message = &stored["message"];
    let text = message["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|part| part["text"].as_str())
        .collect();
    (
        message["role"].as_str().unwrap_or_default().to_owned(),
        text,
    )
}

/// The pid of the newest agent process `up` has started, from its log.
pub fn agent_pid(running: &Running) -> u32 {
    running
        .log
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|line| line.contains("agent started"))
        .and_then(|line| {
            let at = line.find("pid=")? + 4;
            line[at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        })
        .expect("no agent started line in the log")
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            !matches!(state.and_then(|s| s.chars().next()), Some('Z' | 'X'))
        })
        .unwrap_or(false)
}

/// The audit records of this instance's edge log, as JSON.
pub fn audit_records(hs: &Instance) -> Vec<serde_json::Value> {
    hs.run(&["audit", "tail"])
        .ok()
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// Waits up to `secs` for `check` to hold.
pub fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
