//! A scripted OpenAI-compatible model provider: each request is answered
//! with the next step (a tool call or plain text; past the last step, the
//! last again), streamed as the real API streams. The model is the
//! adversary in these tests (a prompt-injected one calls what it is told),
//! so its answers are the test's to choose; everything else is real.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// What the scripted provider got: each request's authorization header and
/// body.
pub type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// One answer of the model's.
#[derive(Clone)]
pub enum Step {
    Call { name: String, arguments: String },
    Say(String),
}

impl Step {
    pub fn call(name: &str, arguments: serde_json::Value) -> Self {
        Step::Call {
            name: name.to_owned(),
            arguments: arguments.to_string(),
        }
    }

    pub fn say(text: &str) -> Self {
        Step::Say(text.to_owned())
    }
}

/// Serves `steps` on 127.0.0.1; returns its base URL and what it got.
pub fn scripted_provider(steps: Vec<Step>) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut length, mut authorization) = (0, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("authorization:") {
                    authorization = line["authorization:".len()..].trim().to_owned();
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut log = log.lock().unwrap();
            log.push((authorization, String::from_utf8_lossy(&body).into_owned()));
            let asked = log.len();
            let step = steps[(asked - 1).min(steps.len() - 1)].clone();
            drop(log);
            let (delta, finish) = match step {
                Step::Call { name, arguments } => (
                    serde_json::json!({ "tool_calls": [{ "index": 0, "id": format!("call_{asked}"), "type": "function",
                        "function": { "name": name, "arguments": arguments } }] }),
                    "tool_calls",
                ),
                Step::Say(text) => (serde_json::json!({ "content": text }), "stop"),
            };
            let events = format!(
                "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
                serde_json::json!({ "choices": [{ "index": 0, "delta": delta }] }),
                serde_json::json!({ "choices": [{ "index": 0, "delta": {}, "finish_reason": finish }] }),
            );
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{events}",
                events.len()
            );
        }
    });
    (url, seen)
}
