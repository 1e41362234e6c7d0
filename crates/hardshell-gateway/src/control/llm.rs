//! The model gateway: the workload's only way to a model provider, like an AI
//! gateway at the edge. `POST /llm/<provider>/<api path>` is forwarded to the
//! provider's real base URL with the provider's key added here; the workload
//! never holds it.
//!
//! - Only each wire format's chat path is forwarded (`v1/messages` for
//!   Anthropic, `chat/completions` for OpenAI-compatible servers), with an
//!   allowlist of request headers: the key cannot be aimed at another endpoint.
//! - The monthly spend cap is enforced here, not in the workload: a paid model
//!   over the cap is refused with 402 and `x-hardshell-refusal: budget`.
//! - Usage is metered from the provider's own response as it is relayed, and
//!   recorded in the ledger even if the workload stops reading. Streamed
//!   OpenAI-style requests always ask for usage; a provider that reports none
//!   is charged at an estimate from the bytes (4 per token).
//! - An error body from the provider has the key scrubbed before it is relayed.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use chrono::Utc;
use futures::StreamExt;
use hardshell_llm::{
    Metered, ModelRef, ProviderKind, SpendCap, SpendError, UsageLedger, UsageMeter,
};
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, StatusCode};
use hyper::body::Frame;
use tokio::sync::mpsc;
use url::Url;
use zeroize::Zeroizing;

use crate::response::{self, HttpResponse};

/// Largest request body forwarded to a provider.
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Largest error body read (and scrubbed) from a provider.
const MAX_ERROR_BYTES: usize = 64 * 1024;
/// Request headers the workload may pass on; everything else is dropped.
const FORWARDED_HEADERS: [&str; 3] = ["content-type", "accept", "anthropic-beta"];

/// One provider as the gateway forwards to it.
pub struct ProviderRoute {
    pub kind: ProviderKind,
    pub base_url: Url,
    /// Added to every forwarded request; never shown to the workload.
    pub key: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for ProviderRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRoute")
            .field("kind", &self.kind)
            .field("base_url", &self.base_url.as_str())
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The gateway's configuration and state.
#[derive(Debug)]
pub struct LlmGateway {
    providers: BTreeMap<String, ProviderRoute>,
    http: reqwest::Client,
    ledger: UsageLedger,
    cap: Option<SpendCap>,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmGatewayError {
    #[error("model gateway client: {0}")]
    Client(String),
}

impl LlmGateway {
    pub fn new(
        providers: BTreeMap<String, ProviderRoute>,
        ledger: UsageLedger,
        cap: Option<SpendCap>,
    ) -> Result<Self, LlmGatewayError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|e| LlmGatewayError::Client(e.to_string()))?;
        Ok(Self {
            providers,
            http,
            ledger,
            cap,
        })
    }

    /// The usage ledger, for `hardshell usage`.
    pub fn ledger(&self) -> &UsageLedger {
        &self.ledger
    }
}

fn chat_path(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Anthropic => "v1/messages",
        ProviderKind::OpenAi => "chat/completions",
    }
}

fn refusal(status: StatusCode, kind: &'static str, message: &str) -> HttpResponse {
    let mut response = response::json(
        status,
        &serde_json::json!({ "error": { "type": kind, "message": message } }),
    );
    response
        .headers_mut()
        .insert("x-hardshell-refusal", HeaderValue::from_static(kind));
    response
}

pub(super) async fn handle(
    gateway: &LlmGateway,
    rest: &str,
    request: Request<Body>,
) -> HttpResponse {
    let Some((name, path)) = rest.split_once('/') else {
        return response::not_found();
    };
    let Some(route) = gateway.providers.get(name) else {
        return response::not_found();
    };
    if path != chat_path(route.kind) || request.method() != http::Method::POST {
        return response::not_found();
    }
    let headers: Vec<(String, HeaderValue)> = FORWARDED_HEADERS
        .iter()
        .filter_map(|name| {
            request
                .headers()
                .get(*name)
                .map(|v| ((*name).to_owned(), v.clone()))
        })
        .collect();
    let anthropic_version = request.headers().get("anthropic-version").cloned();
    let Ok(body) = axum::body::to_bytes(request.into_body(), MAX_REQUEST_BYTES).await else {
        return response::payload_too_large();
    };
    let Ok(serde_json::Value::Object(mut json)) = serde_json::from_slice(&body) else {
        return response::bad_request("the request is not a JSON object\n");
    };
    let model = json
        .get("model")
        .and_then(|m| m.as_str())
        .and_then(|model| ModelRef::parse(&format!("{name}/{model}")).ok());
    let Some(model) = model else {
        return response::bad_request("the request names no model\n");
    };
    // OpenAI-style servers report a stream's usage only when asked; the
    // workload does not get to choose whether it is metered.
    let body = if route.kind == ProviderKind::OpenAi
        && json.get("stream").and_then(|s| s.as_bool()) == Some(true)
    {
        json.insert(
            "stream_options".to_owned(),
            serde_json::json!({ "include_usage": true }),
        );
        match serde_json::to_vec(&json) {
            Ok(body) => Bytes::from(body),
            Err(_) => return response::internal_error(),
        }
    } else {
        body
    };
    let request_bytes = body.len();
    if let Some(cap) = &gateway.cap {
        match cap.allows(&model, Utc::now()).await {
            Ok(()) => {}
            Err(e @ SpendError::CapReached { .. }) => {
                tracing::warn!(model = %model, "refused: {e}");
                return refusal(StatusCode::PAYMENT_REQUIRED, "budget", &e.to_string());
            }
            Err(e) => {
                // Unknown spend means no paid call: fail closed.
                tracing::error!(error = %e, "reading the usage ledger failed");
                return refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ledger",
                    "the usage ledger cannot be read",
                );
            }
        }
    }

    let Some(url) = joined(&route.base_url, path) else {
        return response::internal_error();
    };
    let mut outgoing = gateway.http.post(url).body(body);
    for (name, value) in headers {
        outgoing = outgoing.header(name, value);
    }
    outgoing = match route.kind {
        ProviderKind::Anthropic => {
            let version = anthropic_version.unwrap_or(HeaderValue::from_static("2023-06-01"));
            let outgoing = outgoing.header("anthropic-version", version);
            match &route.key {
                Some(key) => outgoing.header("x-api-key", key.as_str()),
                None => outgoing,
            }
        }
        ProviderKind::OpenAi => match &route.key {
            Some(key) => outgoing.bearer_auth(key.as_str()),
            None => outgoing,
        },
    };
    let upstream = match outgoing.send().await {
        Ok(upstream) => upstream,
        Err(e) => {
            tracing::warn!(provider = name, error = %e, "provider request failed");
            let status = if e.is_timeout() {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            return refusal(status, "unreachable", "the provider could not be reached");
        }
    };
    let status = upstream.status();
    if !status.is_success() {
        return scrubbed_error(route, upstream).await;
    }
    let content_type = upstream.headers().get(CONTENT_TYPE).cloned();
    let relay = relay(
        gateway.ledger.clone(),
        model,
        route.kind,
        request_bytes,
        upstream,
    );
    let mut response = http::Response::new(Body::new(http_body_util::StreamBody::new(relay)));
    *response.status_mut() = status;
    if let Some(content_type) = content_type {
        response.headers_mut().insert(CONTENT_TYPE, content_type);
    }
    response
}

/// `base` + `path`, keeping the base's own path (`https://api.openai.com/v1`).
fn joined(base: &Url, path: &str) -> Option<Url> {
    let mut text = base.as_str().trim_end_matches('/').to_owned();
    text.push('/');
    text.push_str(path);
    Url::parse(&text).ok()
}

/// Relays the provider's body chunk by chunk while metering it. The provider is
/// read to the end even if the workload stops reading, so the usage is recorded.
fn relay(
    ledger: UsageLedger,
    model: ModelRef,
    kind: ProviderKind,
    request_bytes: usize,
    upstream: reqwest::Response,
) -> impl futures::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + 'static {
    let (frames, receiver) = mpsc::channel::<Bytes>(32);
    tokio::spawn(async move {
        let mut meter = UsageMeter::new(kind);
        let mut body = upstream.bytes_stream();
        let mut listening = true;
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else { break };
            meter.feed(&chunk);
            if listening && frames.send(chunk).await.is_err() {
                listening = false;
            }
        }
        // A reply the provider did not meter is charged at an estimate: an
        // unmetered reply must not be a free one under the cap.
        let Metered { usage, estimated } = meter.finish_or_estimate(request_bytes);
        match ledger.record(&model, usage, Utc::now()).await {
            Ok(cost) => {
                tracing::info!(model = %model, input = usage.input_tokens, output = usage.output_tokens, estimated, %cost, "model usage")
            }
            Err(e) => {
                tracing::error!(model = %model, error = %e, "recording model usage failed")
            }
        }
    });
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|chunk| (Ok(Frame::data(chunk)), receiver))
    })
}

async fn scrubbed_error(route: &ProviderRoute, upstream: reqwest::Response) -> HttpResponse {
    let status = upstream.status();
    let content_type = upstream.headers().get(CONTENT_TYPE).cloned();
    let retry_after = upstream.headers().get(http::header::RETRY_AFTER).cloned();
    let mut body = Vec::new();
    let mut stream = upstream.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ERROR_BYTES {
            body.truncate(MAX_ERROR_BYTES);
            break;
        }
    }
    let mut text = String::from_utf8_lossy(&body).into_owned();
    if let Some(key) = &route.key
        && !key.is_empty()
    {
        text = text.replace(key.as_str(), "[redacted]");
    }
    let mut response = http::Response::new(Body::from(text));
    *response.status_mut() = status;
    if let Some(content_type) = content_type {
        response.headers_mut().insert(CONTENT_TYPE, content_type);
    }
    if let Some(retry_after) = retry_after {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, retry_after);
    }
    response
}
