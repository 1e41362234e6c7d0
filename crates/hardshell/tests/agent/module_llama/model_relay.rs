//! A relay in front of the local model server that names the tool the
//! model must call, the one way a 135M model makes a tool call at all.
//!
//! SmolLM2-135M does not choose tools: llama-cpp-python's server only
//! answers `tool_calls` when the request's `tool_choice` names a function,
//! and then it constrains the model's output with a grammar made from that
//! tool's parameter schema, so the arguments are the model's own, written
//! to the schema. The agent sends no `tool_choice` (a real provider's
//! model chooses), so this relay adds it to a turn's first request, the
//! one without a tool result yet, when that request offers the tool, and
//! passes every byte of the rest through: the model's answers reach the agent exactly as the server
//! wrote them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One exchange the relay passed on.
#[derive(Debug, Clone)]
pub struct Relayed {
    /// Whether the relay named the tool in it.
    pub forced: bool,
    /// The request's body as the agent sent it.
    pub request: String,
    /// The server's answer (an SSE stream), as it went back.
    pub response: String,
}

pub struct ModelRelay {
    /// The base URL to give the agent (`…/v1`).
    pub url: String,
    pub seen: Arc<Mutex<Vec<Relayed>>>,
}

impl ModelRelay {
    /// Relays to `upstream` (the model server's `…/v1`), naming `tool` in
    /// each first request of a turn that offers it.
    pub fn serve(upstream: &str, tool: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let upstream = upstream.trim_end_matches('/').to_owned();
        let tool = tool.to_owned();
        let client = reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(240))
            .build()
            .unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some((target, authorization, body)) = read_request(&stream) else {
                    continue;
                };
                let (forced, sent) = with_tool_choice(&body, &tool);
                let path = target.strip_prefix("/v1").unwrap_or(&target);
                let response = client
                    .post(format!("{upstream}{path}"))
                    .header("authorization", authorization)
                    .header("content-type", "application/json")
                    .body(sent)
                    .send();
                let (status, text) = match response {
                    Ok(response) => (
                        response.status().as_u16(),
                        response.text().unwrap_or_default(),
                    ),
                    Err(e) => (
                        502,
                        format!("the relay could not reach the model server: {e}"),
                    ),
                };
                log.lock().unwrap().push(Relayed {
                    forced,
                    request: body,
                    response: text.clone(),
                });
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} Relayed\r\ncontent-type: text/event-stream\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        Self { url, seen }
    }

    pub fn seen(&self) -> Vec<Relayed> {
        self.seen.lock().unwrap().clone()
    }
}

/// The request's target, its authorization header and its body.
fn read_request(stream: &std::net::TcpStream) -> Option<(String, String, String)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let target = request_line.split(' ').nth(1)?.to_owned();
    let (mut length, mut authorization) = (0, String::new());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
            break;
        }
        let (name, value) = line.split_once(':')?;
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok()?;
        }
        if name.eq_ignore_ascii_case("authorization") {
            value.trim().clone_into(&mut authorization);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((target, authorization, String::from_utf8(body).ok()?))
}

/// `body` with `tool_choice` naming `tool` when the agent offered `tool`
/// in it and no tool has answered in it yet, and whether it was added. A
/// request that does not offer the tool is passed on as it is: the relay
/// makes the model choose what the agent offered, never offers it itself.
fn with_tool_choice(body: &str, tool: &str) -> (bool, String) {
    let Ok(mut request) = serde_json::from_str::<serde_json::Value>(body) else {
        return (false, body.to_owned());
    };
    let offered = request["tools"]
        .as_array()
        .is_some_and(|tools| tools.iter().any(|t| t["function"]["name"] == tool));
    let answered = request["messages"]
        .as_array()
        .is_some_and(|messages| messages.iter().any(|m| m["role"] == "tool"));
    if !offered || answered {
        return (false, body.to_owned());
    }
    request["tool_choice"] =
        serde_json::json!({ "type": "function", "function": { "name": tool } });
    (true, request.to_string())
}
