//! The REST root the channel is given in the interaction tests: crabline
//! for everything it emulates (messages, the bot's identity, commands),
//! and a fake of what it does not, the interaction endpoints, answering as
//! discord.com/developers/docs/interactions/receiving-and-responding
//! documents: `POST /interactions/{id}/{token}/callback` with 204 No
//! Content, `PATCH /webhooks/{application}/{token}/messages/@original` and
//! `POST /webhooks/{application}/{token}` with 200 and the message object.
//! What reached the fake is recorded.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// A request the fake answered.
#[derive(Debug, Clone)]
pub struct Called {
    pub method: String,
    pub path: String,
    /// Whether an Authorization header came with it (the bot's token).
    pub authorized: bool,
    pub body: Value,
}

pub struct Front {
    /// The API root to give the channel (`http://…/api/v10`).
    pub root: String,
    called: Arc<Mutex<Vec<Called>>>,
}

impl Front {
    /// Serves in front of crabline at `upstream` (its base URL).
    pub async fn start(upstream: &str) -> Front {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let root = format!("http://{}/api/v10", listener.local_addr().unwrap());
        let called = Arc::new(Mutex::new(Vec::new()));
        let record = called.clone();
        let upstream = upstream.trim_end_matches('/').to_owned();
        let client = reqwest::Client::new();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (record, upstream, client) = (record.clone(), upstream.clone(), client.clone());
                let service = hyper::service::service_fn(move |request: Request<_>| {
                    let (record, upstream, client) =
                        (record.clone(), upstream.clone(), client.clone());
                    async move {
                        Ok::<_, Infallible>(answer(request, &record, &upstream, &client).await)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Front { root, called }
    }

    pub fn called(&self) -> Vec<Called> {
        self.called.lock().unwrap().clone()
    }

    /// Waits until `count` interaction calls arrived; all of them.
    pub async fn wait_called(&self, count: usize) -> Vec<Called> {
        // A bound on waiting, not an assertion about speed.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let called = self.called();
            if called.len() >= count {
                return called;
            }
            assert!(
                std::time::Instant::now() < until,
                "{count} interaction calls expected: {called:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

async fn answer(
    request: Request<hyper::body::Incoming>,
    record: &Mutex<Vec<Called>>,
    upstream: &str,
    client: &reqwest::Client,
) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let interaction_call =
        path.starts_with("/api/v10/interactions/") || path.starts_with("/api/v10/webhooks/");
    if interaction_call {
        record.lock().unwrap().push(Called {
            method: method.to_string(),
            path: path.clone(),
            authorized: headers.contains_key("authorization"),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        if path.ends_with("/callback") {
            return Response::builder()
                .status(StatusCode::NO_CONTENT)
                .body(Full::new(Bytes::new()))
                .unwrap();
        }
        let message = json!({
            "id": "135000000000000990", "type": 0, "channel_id": "135000000000000020",
            "content": serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null)["content"],
        });
        return Response::builder()
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(message.to_string())))
            .unwrap();
    }
    let mut forwarded = client
        .request(method, format!("{upstream}{path_and_query}"))
        .body(body);
    for name in ["authorization", "content-type"] {
        if let Some(value) = headers.get(name) {
            forwarded = forwarded.header(name, value.clone());
        }
    }
    let response = forwarded.send().await.unwrap();
    let mut answer = Response::builder().status(response.status());
    if let Some(kind) = response.headers().get("content-type") {
        answer = answer.header("content-type", kind.clone());
    }
    answer
        .body(Full::new(response.bytes().await.unwrap()))
        .unwrap()
}
