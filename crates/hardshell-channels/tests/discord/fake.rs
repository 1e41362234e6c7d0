//! A fake of Discord's REST API for what crabline does not emulate: rate
//! limits. It answers each request with the next scripted answer, as
//! discord.com/developers/docs/topics/rate-limits describes a 429: status
//! 429, `Retry-After` and `X-RateLimit-*` headers, and the JSON body
//! `{"message", "retry_after" (seconds, float), "global"}`.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: String,
}

pub struct FakeDiscord {
    pub root: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

pub fn rate_limited(retry_after: &str) -> String {
    let body = format!(
        r#"{{"message": "You are being rate limited.", "retry_after": {retry_after}, "global": false}}"#
    );
    format!(
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\nX-RateLimit-Limit: 5\r\nX-RateLimit-Remaining: 0\r\nX-RateLimit-Reset-After: {retry_after}\r\nX-RateLimit-Scope: user\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// What Discord answers a request whose token it does not know.
pub fn unauthorized() -> String {
    let body = r#"{"message": "401: Unauthorized", "code": 0}"#;
    format!(
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

pub fn created(id: &str) -> String {
    let body = format!(r#"{{"id": "{id}", "channel_id": "1", "content": "x", "type": 0}}"#);
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

impl FakeDiscord {
    /// Serves `answers`, one per request, in order.
    pub async fn start(answers: Vec<String>) -> FakeDiscord {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let root = format!("http://{}/api/v10", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            for answer in answers {
                let (stream, _) = listener.accept().await.unwrap();
                let mut stream = BufReader::new(stream);
                let mut line = String::new();
                stream.read_line(&mut line).await.unwrap();
                let mut parts = line.split(' ');
                let (method, path) = (
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                );
                let (mut length, mut authorization) = (0usize, None);
                loop {
                    let mut header = String::new();
                    stream.read_line(&mut header).await.unwrap();
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    let (name, value) = header.split_once(':').unwrap();
                    match name.to_ascii_lowercase().as_str() {
                        "content-length" => length = value.trim().parse().unwrap(),
                        "authorization" => authorization = Some(value.trim().to_owned()),
                        _ => {}
                    }
                }
                let mut body = vec![0; length];
                stream.read_exact(&mut body).await.unwrap();
                log.lock().unwrap().push(Seen {
                    method: method.to_owned(),
                    path: path.to_owned(),
                    authorization,
                    body: String::from_utf8(body).unwrap(),
                });
                stream.get_mut().write_all(answer.as_bytes()).await.unwrap();
                stream.get_mut().shutdown().await.unwrap();
            }
        });
        FakeDiscord { root, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}
