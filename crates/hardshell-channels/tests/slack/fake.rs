//! A fake Slack for what crabline does not emulate: `chat.update`, 429s,
//! Socket Mode, interactions, `chat.postEphemeral` and files (a shared
//! file's `url_private`, and the external upload's three steps). It answers as api.slack.com documents: the Web API's
//! `{"ok": …}` envelope with `Authorization: Bearer` tokens (bot token for
//! the bot's methods, app-level token for `apps.connections.open`),
//! `Retry-After` on a 429, and Socket Mode's `hello`, envelope,
//! acknowledgement and `disconnect` frames, byte for byte in shape. Plain
//! HTTP/1.1 and plain WebSocket, on loopback.
#![allow(dead_code, clippy::result_large_err)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

pub const BOT_TOKEN: &str = "xoxb-1111-2222-FAKEBOTSECRET";
pub const APP_TOKEN: &str = "xapp-1-A0FAKE-3333-FAKEAPPSECRET";
pub const TEAM: &str = "T0FAKE";
pub const BOT_USER: &str = "U0BOT";
pub const BOT_ID: &str = "B0BOT";
const WAIT: Duration = Duration::from_secs(20);

#[derive(Default)]
struct State {
    ws_addr: Option<SocketAddr>,
    /// (method, body) of every call with a valid token.
    calls: Vec<(String, Value)>,
    /// Messages the bot posted, by (channel, ts).
    messages: HashSet<(String, String)>,
    /// The `ts` of each message posted, in order.
    posted: Vec<String>,
    next_ts: u64,
    /// How many calls are still to be refused with a 429.
    rate_limited: u32,
    retry_after: u64,
    tickets: HashSet<String>,
    next_ticket: u64,
    opened: u32,
    live: i32,
    max_live: i32,
    closed_cleanly: u32,
    current: Option<mpsc::UnboundedSender<Message>>,
    acks: Vec<String>,
    /// Files served at `/files-pri/<path>`, to the bot token alone.
    hosted: std::collections::HashMap<String, Vec<u8>>,
    /// (path, whether it carried the bot token) of every file fetch.
    downloads: Vec<(String, bool)>,
    /// Upload slots given, by file id: (name, announced length).
    slots: std::collections::HashMap<String, (String, usize)>,
    /// (file id, bytes, whether an Authorization header came) of every upload.
    uploads: Vec<(String, Vec<u8>, bool)>,
    http_addr: Option<SocketAddr>,
    /// Where upload URLs point instead of this fake, when set.
    upload_root: Option<String>,
}

#[derive(Clone)]
pub struct FakeSlack {
    state: Arc<Mutex<State>>,
    api_root: String,
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let state = Arc::new(Mutex::new(State {
            ws_addr: Some(ws.local_addr().unwrap()),
            http_addr: Some(http.local_addr().unwrap()),
            next_ts: 100,
            ..State::default()
        }));
        let fake = FakeSlack {
            state: state.clone(),
            api_root: format!("http://{}/api", http.local_addr().unwrap()),
        };
        let web = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = http.accept().await {
                tokio::spawn(web.clone().serve_http(stream));
            }
        });
        let socket = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = ws.accept().await {
                tokio::spawn(socket.clone().serve_socket(stream));
            }
        });
        fake
    }

    pub fn api_root(&self) -> url::Url {
        url::Url::parse(&self.api_root).unwrap()
    }

    /// The next `count` calls are answered 429 with `Retry-After: secs`.
    pub fn rate_limit(&self, count: u32, secs: u64) {
        let mut state = self.state.lock().unwrap();
        state.rate_limited = count;
        state.retry_after = secs;
    }

    /// The bodies of the accepted calls of `method`.
    pub fn calls(&self, method: &str) -> Vec<Value> {
        let state = self.state.lock().unwrap();
        state
            .calls
            .iter()
            .filter(|(m, _)| m == method)
            .map(|(_, body)| body.clone())
            .collect()
    }

    /// The `ts` Slack gave each message the bot posted, in order.
    pub fn posted_ts(&self) -> Vec<String> {
        self.state.lock().unwrap().posted.clone()
    }

    pub async fn wait_calls(&self, method: &str, count: usize) -> Vec<Value> {
        let until = Instant::now() + WAIT;
        loop {
            let calls = self.calls(method);
            if calls.len() >= count {
                return calls;
            }
            assert!(
                Instant::now() < until,
                "{} of {count} {method}: {calls:?}",
                calls.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn serve_http(self, mut stream: TcpStream) {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(at) = find(&buffer, b"\r\n\r\n") {
                break at;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_owned();
        let mut length = 0usize;
        let mut authorization = None;
        let mut form = false;
        for line in lines {
            let (name, value) = line.split_once(':').unwrap_or_default();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" => authorization = Some(value.trim().to_owned()),
                "content-type" => {
                    form = value
                        .trim()
                        .starts_with("application/x-www-form-urlencoded")
                }
                _ => {}
            }
        }
        let mut body = buffer[head_end + 4..].to_vec();
        while body.len() < length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
        let path = request_line
            .split(' ')
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        if let Some(file) = path.strip_prefix("/files-pri/") {
            let served = self.download(file, authorization.as_deref());
            let (status, bytes) = match served {
                Some(bytes) => ("200 OK", bytes),
                None => ("404 Not Found", Vec::new()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                bytes.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
            return;
        }
        if let Some(file_id) = path.strip_prefix("/upload/v1/") {
            let answer = self.take_upload(file_id, body, authorization.is_some());
            let response = format!(
                "HTTP/1.1 {answer}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
            return;
        }
        let method = path.strip_prefix("/api/").unwrap_or_default().to_owned();
        let body: Value = if body.is_empty() {
            json!({})
        } else if form {
            let fields: serde_json::Map<String, Value> = url::form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect();
            Value::Object(fields)
        } else {
            serde_json::from_slice(&body).unwrap_or(Value::Null)
        };
        let (status, headers, answer) = self.answer(&method, authorization.as_deref(), body);
        let answer = answer.to_string();
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json; charset=utf-8\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    /// Serves `/files-pri/<path>` to the bot token, as files.slack.com
    /// serves `url_private`.
    fn download(&self, path: &str, authorization: Option<&str>) -> Option<Vec<u8>> {
        let mut state = self.state.lock().unwrap();
        let authorized = authorization == Some(format!("Bearer {BOT_TOKEN}").as_str());
        state
            .downloads
            .push((path.to_owned(), authorization.is_some()));
        if !authorized {
            return None;
        }
        state.hosted.get(path).cloned()
    }

    /// Takes the bytes posted to an upload URL: its status line.
    fn take_upload(&self, file_id: &str, bytes: Vec<u8>, authorized: bool) -> String {
        let mut state = self.state.lock().unwrap();
        let Some((_, length)) = state.slots.get(file_id) else {
            return "404 Not Found".into();
        };
        if *length != bytes.len() {
            return "400 Bad Request".into();
        }
        state.uploads.push((file_id.to_owned(), bytes, authorized));
        "200 OK".into()
    }

    /// Upload URLs point at `root` from now on, as a compromised or
    /// mistaken answer could.
    pub fn upload_elsewhere(&self, root: &str) {
        self.state.lock().unwrap().upload_root = Some(root.to_owned());
    }

    /// Hosts `bytes` at `/files-pri/<path>`; its `url_private`.
    pub fn host_file(&self, path: &str, bytes: &[u8]) -> String {
        let mut state = self.state.lock().unwrap();
        state.hosted.insert(path.to_owned(), bytes.to_vec());
        format!("http://{}/files-pri/{path}", state.http_addr.unwrap())
    }

    /// (path, whether the bot token came) of every file fetch.
    pub fn downloads(&self) -> Vec<(String, bool)> {
        self.state.lock().unwrap().downloads.clone()
    }

    /// (file id, bytes, whether an Authorization header came) of every upload.
    pub fn uploads(&self) -> Vec<(String, Vec<u8>, bool)> {
        self.state.lock().unwrap().uploads.clone()
    }

    fn answer(
        &self,
        method: &str,
        authorization: Option<&str>,
        body: Value,
    ) -> (&'static str, String, Value) {
        let mut state = self.state.lock().unwrap();
        let ok = "200 OK";
        if state.rate_limited > 0 {
            state.rate_limited -= 1;
            let headers = format!("Retry-After: {}\r\n", state.retry_after);
            return (
                "429 Too Many Requests",
                headers,
                json!({"ok": false, "error": "ratelimited"}),
            );
        }
        let token = authorization.and_then(|a| a.strip_prefix("Bearer "));
        let wants_app = method == "apps.connections.open";
        let expected = if wants_app { APP_TOKEN } else { BOT_TOKEN };
        let refused = match token {
            None => Some("not_authed"),
            Some(t) if t == expected => None,
            Some(t) if t == BOT_TOKEN || t == APP_TOKEN => Some("not_allowed_token_type"),
            Some(_) => Some("invalid_auth"),
        };
        if let Some(error) = refused {
            return (ok, String::new(), json!({"ok": false, "error": error}));
        }
        state.calls.push((method.to_owned(), body.clone()));
        let text = body["text"].as_str().unwrap_or_default();
        let channel = body["channel"].as_str().unwrap_or_default().to_owned();
        let answer = match method {
            "auth.test" => json!({
                "ok": true, "url": "https://fake.slack.test/", "team": "Fake",
                "user": "bot", "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID,
                "is_enterprise_install": false,
            }),
            "apps.connections.open" => {
                state.next_ticket += 1;
                let ticket = format!("ticket-{}", state.next_ticket);
                state.tickets.insert(ticket.clone());
                let addr = state.ws_addr.unwrap();
                json!({"ok": true, "url": format!("ws://{addr}/link/?ticket={ticket}&app_id=A0FAKE")})
            }
            "chat.postMessage" | "chat.update" if channel.is_empty() => {
                json!({"ok": false, "error": "channel_not_found"})
            }
            "chat.postMessage" | "chat.update" if text.is_empty() => {
                json!({"ok": false, "error": "no_text"})
            }
            "chat.postMessage" | "chat.update" if text.chars().count() > 40_000 => {
                json!({"ok": false, "error": "msg_too_long"})
            }
            "chat.postMessage" => {
                state.next_ts += 1;
                let ts = format!("1700000000.{:06}", state.next_ts);
                state.messages.insert((channel.clone(), ts.clone()));
                state.posted.push(ts.clone());
                let mut message = json!({
                    "type": "message", "text": text, "user": BOT_USER,
                    "bot_id": BOT_ID, "ts": ts, "team": TEAM,
                });
                if let Some(thread) = body["thread_ts"].as_str() {
                    message["thread_ts"] = thread.into();
                }
                json!({"ok": true, "channel": channel, "ts": ts, "message": message})
            }
            "files.getUploadURLExternal" => {
                let name = body["filename"].as_str().unwrap_or_default().to_owned();
                let length = body["length"]
                    .as_str()
                    .and_then(|l| l.parse::<usize>().ok());
                match length {
                    Some(length) if !name.is_empty() => {
                        state.next_ts += 1;
                        let file_id = format!("F0UP{}", state.next_ts);
                        state.slots.insert(file_id.clone(), (name, length));
                        let root = state
                            .upload_root
                            .clone()
                            .unwrap_or_else(|| format!("http://{}", state.http_addr.unwrap()));
                        json!({
                            "ok": true,
                            "upload_url": format!("{root}/upload/v1/{file_id}"),
                            "file_id": file_id,
                        })
                    }
                    _ => json!({"ok": false, "error": "invalid_arguments"}),
                }
            }
            "files.completeUploadExternal" => {
                let id = body["files"][0]["id"].as_str().unwrap_or_default();
                let uploaded = state.uploads.iter().any(|(f, _, _)| f == id);
                if !uploaded {
                    json!({"ok": false, "error": "file_not_found"})
                } else if body["channel_id"].as_str().is_none_or(str::is_empty) {
                    json!({"ok": false, "error": "channel_not_found"})
                } else {
                    json!({"ok": true, "files": [{"id": id, "title": body["files"][0]["title"]}]})
                }
            }
            "chat.postEphemeral" if channel.is_empty() => {
                json!({"ok": false, "error": "channel_not_found"})
            }
            "chat.postEphemeral" if body["user"].as_str().is_none_or(str::is_empty) => {
                json!({"ok": false, "error": "user_not_found"})
            }
            "chat.postEphemeral" => {
                state.next_ts += 1;
                json!({"ok": true, "message_ts": format!("1700000000.{:06}", state.next_ts)})
            }
            "chat.update" => {
                let ts = body["ts"].as_str().unwrap_or_default().to_owned();
                if state.messages.contains(&(channel.clone(), ts.clone())) {
                    json!({
                        "ok": true, "channel": channel, "ts": ts, "text": text,
                        "message": {"text": text, "user": BOT_USER},
                    })
                } else {
                    json!({"ok": false, "error": "message_not_found"})
                }
            }
            _ => json!({"ok": false, "error": "unknown_method"}),
        };
        (ok, String::new(), answer)
    }

    async fn serve_socket(self, stream: TcpStream) {
        let state = self.state.clone();
        let check = move |request: &Request,
                          response: Response|
              -> Result<Response, ErrorResponse> {
            let query = request.uri().query().unwrap_or_default();
            let ticket = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("ticket="))
                .unwrap_or_default();
            // A ticket opens one connection, once.
            if request.uri().path() == "/link/" && state.lock().unwrap().tickets.remove(ticket) {
                Ok(response)
            } else {
                let mut refused = ErrorResponse::new(None);
                *refused.status_mut() = http::StatusCode::UNAUTHORIZED;
                Err(refused)
            }
        };
        let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
            return;
        };
        let (outgoing, mut to_send) = mpsc::unbounded_channel();
        let connections = {
            let mut state = self.state.lock().unwrap();
            state.opened += 1;
            state.live += 1;
            state.max_live = state.max_live.max(state.live);
            state.current = Some(outgoing);
            state.live
        };
        let hello = json!({
            "type": "hello",
            "num_connections": connections,
            "debug_info": {
                "host": "applink-fake", "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": "A0FAKE"},
        });
        if socket
            .send(Message::Text(hello.to_string().into()))
            .await
            .is_err()
        {
            self.lost(false);
            return;
        }
        let mut closed = false;
        loop {
            tokio::select! {
                next = to_send.recv() => if let Some(message) = next {
                    let _ = socket.send(message).await;
                },
                frame = socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let ack: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                        if let Some(id) = ack["envelope_id"].as_str() {
                            self.state.lock().unwrap().acks.push(id.to_owned());
                        }
                    }
                    Some(Ok(Message::Close(_))) if !closed => {
                        // Counted before the close is answered, so the client
                        // can only open its next connection after this one
                        // is gone.
                        closed = true;
                        self.lost(true);
                    }
                    Some(Ok(_)) => {}
                    None | Some(Err(_)) => {
                        if !closed {
                            self.lost(false);
                        }
                        return;
                    }
                },
            }
        }
    }

    fn lost(&self, cleanly: bool) {
        let mut state = self.state.lock().unwrap();
        state.live -= 1;
        if cleanly {
            state.closed_cleanly += 1;
        }
    }

    /// Sends a frame on the newest connection.
    fn send_frame(&self, frame: Value) {
        let state = self.state.lock().unwrap();
        let current = state.current.as_ref().expect("a Socket Mode connection");
        current
            .send(Message::Text(frame.to_string().into()))
            .unwrap();
    }

    /// Delivers `payload` (an `event_callback`) in an `events_api` envelope.
    pub fn deliver(&self, envelope_id: &str, payload: Value) {
        self.send_frame(json!({
            "payload": payload,
            "envelope_id": envelope_id,
            "type": "events_api",
            "accepts_response_payload": false,
            "retry_attempt": 0,
            "retry_reason": "",
        }));
    }

    /// Delivers an interaction `payload` (a `block_actions`) in an
    /// `interactive` envelope.
    pub fn interact(&self, envelope_id: &str, payload: Value) {
        self.send_frame(json!({
            "payload": payload,
            "envelope_id": envelope_id,
            "type": "interactive",
            "accepts_response_payload": false,
        }));
    }

    /// Delivers a slash command's fields in a `slash_commands` envelope.
    pub fn slash_command(&self, envelope_id: &str, payload: Value) {
        self.send_frame(json!({
            "payload": payload,
            "envelope_id": envelope_id,
            "type": "slash_commands",
            "accepts_response_payload": true,
        }));
    }

    /// Asks the client to reconnect, as Slack does before it rotates a host.
    pub fn disconnect(&self, reason: &str) {
        self.send_frame(json!({
            "type": "disconnect",
            "reason": reason,
            "debug_info": {"host": "applink-fake"},
        }));
    }

    pub async fn wait_ack(&self, envelope_id: &str) {
        let until = Instant::now() + WAIT;
        while !self
            .state
            .lock()
            .unwrap()
            .acks
            .iter()
            .any(|a| a == envelope_id)
        {
            assert!(
                Instant::now() < until,
                "envelope {envelope_id} was not acknowledged"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `count` connections were opened (the newest greeted).
    pub async fn wait_connections(&self, count: u32) {
        let until = Instant::now() + WAIT;
        while self.state.lock().unwrap().opened < count {
            assert!(
                Instant::now() < until,
                "fewer than {count} Socket Mode connections"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// (opened, most open at once, closed with a close frame).
    pub fn connections(&self) -> (u32, i32, u32) {
        let state = self.state.lock().unwrap();
        (state.opened, state.max_live, state.closed_cleanly)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An `event_callback` as Slack sends it, around `event`.
pub fn callback(event_id: &str, event: Value) -> Value {
    json!({
        "token": "XXYYZZ",
        "team_id": TEAM,
        "api_app_id": "A0FAKE",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_700_000_000,
        "authorizations": [{
            "enterprise_id": null, "team_id": TEAM, "user_id": BOT_USER,
            "is_bot": true, "is_enterprise_install": false,
        }],
        "is_ext_shared_channel": false,
    })
}

/// A person's direct message to the bot.
pub fn direct_message(user: &str, text: &str, ts: &str) -> Value {
    json!({
        "type": "message", "channel": format!("D{user}"), "user": user, "text": text,
        "ts": ts, "event_ts": ts, "channel_type": "im", "team": TEAM,
        "client_msg_id": format!("c-{ts}"),
    })
}

/// A `block_actions` payload as Slack sends it when `user` presses the
/// button carrying `value` on the bot's message `message_ts` in `channel`.
pub fn press(
    trigger: &str,
    user: &str,
    channel: &str,
    message_ts: &str,
    question: &str,
    value: &str,
) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "name": "someone", "team_id": TEAM},
        "api_app_id": "A0FAKE",
        "token": "XXYYZZ",
        "container": {
            "type": "message", "message_ts": message_ts, "channel_id": channel,
            "is_ephemeral": false,
        },
        "trigger_id": trigger,
        "team": {"id": TEAM, "domain": "fake"},
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": {"id": channel, "name": "directmessage"},
        "message": {
            "type": "message", "user": BOT_USER, "bot_id": BOT_ID, "ts": message_ts,
            "text": question, "team": TEAM,
        },
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0FAKE/1/fake",
        "actions": [{
            "action_id": "run", "block_id": "q1", "type": "button",
            "text": {"type": "plain_text", "text": "Run it", "emoji": true},
            "value": value, "style": "primary", "action_ts": "1700000001.000001",
        }],
    })
}

/// A slash command's fields as Slack sends them, `user` typing
/// `command text` in `channel`.
pub fn slash(trigger: &str, user: &str, channel: &str, command: &str, text: &str) -> Value {
    json!({
        "token": "XXYYZZ",
        "team_id": TEAM,
        "team_domain": "fake",
        "channel_id": channel,
        "channel_name": if channel.starts_with('D') { "directmessage" } else { "general" },
        "user_id": user,
        "user_name": "someone",
        "command": command,
        "text": text,
        "api_app_id": "A0FAKE",
        "is_enterprise_install": "false",
        "response_url": "https://hooks.slack.com/commands/T0FAKE/1/fake",
        "trigger_id": trigger,
    })
}
