//! The model gateway on the control socket: what the workload may send, what
//! the provider receives, what is metered and when the budget says no.
//!
//! The provider here is a loopback server that records what reaches it and
//! answers in the documented OpenAI and Anthropic stream formats; the gateway
//! against the real local model is tested end to end in the hardshell crate.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use hardshell_gateway::{ControlService, ControlSocket, LlmGateway, ProviderRoute};
use hardshell_llm::{MicroUsd, ModelRef, Price, PriceList, ProviderKind, SpendCap, UsageLedger};
use hardshell_storage::{LocalOptions, Location, MasterKey, ObjectKey, Sealing, Store};
use zeroize::Zeroizing;

const KEY: &str = "sk-provider-key-0123456789abcdef";

/// What reached the provider.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: serde_json::Value,
}

/// How the provider answers.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// An OpenAI stream; with usage only if the request asked for it.
    OpenAiStream,
    /// An OpenAI stream that never reports usage (llama.cpp's Python server).
    OpenAiStreamNoUsage,
    /// An Anthropic stream with usage.
    AnthropicStream,
    /// 401 with the key echoed in the body, as some servers do.
    Unauthorized,
}

struct Provider {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

async fn provider(answer: Answer) -> Provider {
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            async move {
                let body: serde_json::Value =
                    serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                let include_usage = body
                    .pointer("/stream_options/include_usage")
                    .and_then(|v| v.as_bool())
                    == Some(true);
                log.lock().unwrap().push(Received {
                    path: uri.path().to_owned(),
                    headers,
                    body,
                });
                let events = |text: String| {
                    (
                        StatusCode::OK,
                        [("content-type", "text/event-stream")],
                        text,
                    )
                };
                match answer {
                    Answer::OpenAiStream | Answer::OpenAiStreamNoUsage => {
                        let mut text = String::from(
                            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello there, friend\"}}]}\n\n\
                             data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
                        );
                        if include_usage && matches!(answer, Answer::OpenAiStream) {
                            text.push_str("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":500}}\n\n");
                        }
                        text.push_str("data: [DONE]\n\n");
                        events(text)
                    }
                    Answer::AnthropicStream => events(
                        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":200,\"output_tokens\":1}}}\n\n\
                         event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n\
                         event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":30}}\n\n\
                         event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
                            .to_owned(),
                    ),
                    Answer::Unauthorized => (
                        StatusCode::UNAUTHORIZED,
                        [("content-type", "application/json")],
                        format!("{{\"error\":{{\"message\":\"Incorrect API key provided: {KEY}\"}}}}"),
                    ),
                }
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Provider { url, received }
}

struct Fixture {
    _dir: tempfile::TempDir,
    http: reqwest::Client,
    ledger: UsageLedger,
}

/// A control socket whose gateway knows `providers` (name, kind, base URL),
/// every one with [`KEY`]; `paid` costs $10 per million tokens each way, and
/// `cap` is the monthly limit.
async fn fixture(
    providers: &[(&str, ProviderKind, &str)],
    paid: &[&str],
    cap: Option<f64>,
) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &Location::Local(LocalOptions {
            objects: dir.path().join("objects"),
            locks: dir.path().join("locks"),
        }),
        Sealing::Envelope(MasterKey::generate().unwrap()),
    )
    .await
    .unwrap();
    let mut prices = PriceList::new();
    for model in paid {
        prices.set_model(
            ModelRef::parse(model).unwrap(),
            Price::from_usd_per_mtok(10.0, 10.0).unwrap(),
        );
    }
    let ledger = UsageLedger::new(
        store
            .root()
            .scope(&ObjectKey::parse("llm").unwrap())
            .unwrap(),
        prices,
    );
    let routes: BTreeMap<String, ProviderRoute> = providers
        .iter()
        .map(|(name, kind, url)| {
            (
                (*name).to_owned(),
                ProviderRoute {
                    kind: *kind,
                    base_url: url::Url::parse(url).unwrap(),
                    key: Some(Zeroizing::new(KEY.to_owned())),
                },
            )
        })
        .collect();
    let cap = cap.map(|usd| SpendCap::new(ledger.clone(), MicroUsd::from_usd(usd).unwrap()));
    let gateway = LlmGateway::new(routes, ledger.clone(), cap).unwrap();
    let agent_scope = store
        .root()
        .scope(&ObjectKey::parse("agent").unwrap())
        .unwrap();
    let socket = dir.path().join("edge.sock");
    let control =
        ControlSocket::bind(&socket, ControlService::with_models(agent_scope, gateway)).unwrap();
    tokio::spawn(control.serve());
    let http = reqwest::Client::builder()
        .unix_socket(socket)
        .build()
        .unwrap();
    Fixture {
        _dir: dir,
        http,
        ledger,
    }
}

fn chat(model: &str, stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": model,
        "stream": stream,
        "messages": [{ "role": "user", "content": "hello" }],
    })
}

/// Waits for the ledger to record `requests` requests of `model` (it is written
/// after the relayed body ends).
async fn recorded(ledger: &UsageLedger, model: &str, requests: u64) -> hardshell_llm::ModelUsage {
    let model = ModelRef::parse(model).unwrap();
    for _ in 0..200 {
        let month = ledger.month(Utc::now()).await.unwrap();
        if let Some(usage) = month.models.get(&model)
            && usage.requests >= requests
        {
            return *usage;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{model} never reached {requests} recorded requests");
}

#[tokio::test]
async fn the_key_is_added_here_and_the_workloads_own_headers_stay_behind() {
    let p = provider(Answer::OpenAiStream).await;
    let f = fixture(
        &[("openai", ProviderKind::OpenAi, &format!("{}/v1", p.url))],
        &[],
        None,
    )
    .await;
    let response = f
        .http
        .post("http://edge/llm/openai/chat/completions")
        .header("authorization", "Bearer sk-the-workloads-own-key")
        .header("cookie", "hs_session=stolen")
        .header("x-forwarded-for", "10.0.0.1")
        .header("openai-organization", "org-someone-else")
        .json(&chat("gpt-4o", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "the provider's content type is relayed"
    );
    let body = response.text().await.unwrap();
    assert!(body.contains("Hello there, friend"), "{body}");

    let received = p.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(
        request.path, "/v1/chat/completions",
        "the base URL's path is kept"
    );
    assert_eq!(request.headers["authorization"], format!("Bearer {KEY}"));
    for dropped in ["cookie", "x-forwarded-for", "openai-organization"] {
        assert!(
            !request.headers.contains_key(dropped),
            "{dropped} was forwarded"
        );
    }
    assert_eq!(request.headers.get_all("authorization").iter().count(), 1);
}

#[tokio::test]
async fn anthropic_gets_its_key_header_and_a_version() {
    let p = provider(Answer::AnthropicStream).await;
    let f = fixture(&[("anthropic", ProviderKind::Anthropic, &p.url)], &[], None).await;
    let response = f
        .http
        .post("http://edge/llm/anthropic/v1/messages")
        .header("x-api-key", "sk-ant-the-workloads-own")
        .json(&chat("claude-sonnet-4-5", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap();
    let received = p.received.lock().unwrap().clone();
    assert_eq!(received[0].path, "/v1/messages");
    assert_eq!(received[0].headers["x-api-key"], KEY);
    assert_eq!(received[0].headers["anthropic-version"], "2023-06-01");
    assert!(!received[0].headers.contains_key("authorization"));
    let usage = recorded(&f.ledger, "anthropic/claude-sonnet-4-5", 1).await;
    assert_eq!((usage.input_tokens, usage.output_tokens), (200, 30));
}

#[tokio::test]
async fn the_key_cannot_be_aimed_anywhere_but_the_chat_endpoint() {
    let p = provider(Answer::OpenAiStream).await;
    let f = fixture(&[("openai", ProviderKind::OpenAi, &p.url)], &[], None).await;
    let refused = [
        ("POST", "/llm/openai/models"),
        ("POST", "/llm/openai/files"),
        ("POST", "/llm/openai/chat/completions/../../files"),
        ("POST", "/llm/openai/v1/messages"),
        ("POST", "/llm/nobody/chat/completions"),
        ("POST", "/llm/openai"),
        ("GET", "/llm/openai/chat/completions"),
        ("DELETE", "/llm/openai/chat/completions"),
    ];
    for (method, path) in refused {
        let response = f
            .http
            .request(method.parse().unwrap(), format!("http://edge{path}"))
            .json(&chat("gpt-4o", false))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
    }
    for bad in ["not json", "[1,2]", "{\"messages\":[]}", "{\"model\":\"\"}"] {
        let response = f
            .http
            .post("http://edge/llm/openai/chat/completions")
            .body(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
    assert!(
        p.received.lock().unwrap().is_empty(),
        "nothing reached the provider"
    );
}

#[tokio::test]
async fn streamed_openai_requests_always_ask_for_usage() {
    let p = provider(Answer::OpenAiStream).await;
    let f = fixture(&[("openai", ProviderKind::OpenAi, &p.url)], &[], None).await;
    let mut request = chat("gpt-4o", true);
    // The workload tries to opt out of being metered.
    request["stream_options"] = serde_json::json!({ "include_usage": false });
    let response = f
        .http
        .post("http://edge/llm/openai/chat/completions")
        .json(&request)
        .send()
        .await
        .unwrap();
    response.text().await.unwrap();
    let received = p.received.lock().unwrap().clone();
    assert_eq!(
        received[0].body["stream_options"],
        serde_json::json!({ "include_usage": true })
    );
    // Everything else the workload sent is passed on unchanged.
    assert_eq!(received[0].body["messages"], request["messages"]);
    let usage = recorded(&f.ledger, "openai/gpt-4o", 1).await;
    assert_eq!((usage.input_tokens, usage.output_tokens), (1000, 500));
}

#[tokio::test]
async fn a_provider_that_reports_no_usage_is_charged_an_estimate() {
    let p = provider(Answer::OpenAiStreamNoUsage).await;
    let f = fixture(
        &[("local", ProviderKind::OpenAi, &p.url)],
        &["local/smol"],
        None,
    )
    .await;
    let response = f
        .http
        .post("http://edge/llm/local/chat/completions")
        .json(&chat("smol", true))
        .send()
        .await
        .unwrap();
    response.text().await.unwrap();
    let usage = recorded(&f.ledger, "local/smol", 1).await;
    // 19 bytes of generated text: 5 tokens at 4 bytes each.
    assert_eq!(usage.output_tokens, 5);
    assert!(usage.input_tokens > 0);
    assert!(
        usage.cost.0 > 0,
        "an unmetered reply on a paid model is not free"
    );
}

#[tokio::test]
async fn over_the_cap_paid_models_are_refused_and_free_ones_still_answer() {
    let p = provider(Answer::OpenAiStream).await;
    let f = fixture(
        &[
            ("openai", ProviderKind::OpenAi, &p.url),
            ("local", ProviderKind::OpenAi, &p.url),
        ],
        &["openai/gpt-4o"],
        // One reply is 1500 tokens at $10/Mtok: $0.015, over this cap.
        Some(0.01),
    )
    .await;
    let send = |provider: &'static str, model: &'static str| {
        f.http
            .post(format!("http://edge/llm/{provider}/chat/completions"))
            .json(&chat(model, true))
            .send()
    };
    let first = send("openai", "gpt-4o").await.unwrap();
    assert_eq!(first.status(), 200, "under the cap");
    first.text().await.unwrap();
    recorded(&f.ledger, "openai/gpt-4o", 1).await;

    let refused = send("openai", "gpt-4o").await.unwrap();
    assert_eq!(refused.status(), 402);
    assert_eq!(refused.headers()["x-hardshell-refusal"], "budget");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["type"], "budget");
    assert_eq!(
        p.received.lock().unwrap().len(),
        1,
        "the refused call never left"
    );

    let free = send("local", "smollm2").await.unwrap();
    assert_eq!(free.status(), 200, "free models are not capped");
    free.text().await.unwrap();
    assert_eq!(p.received.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_provider_error_is_relayed_without_the_key() {
    let p = provider(Answer::Unauthorized).await;
    let f = fixture(&[("openai", ProviderKind::OpenAi, &p.url)], &[], None).await;
    let response = f
        .http
        .post("http://edge/llm/openai/chat/completions")
        .json(&chat("gpt-4o", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body = response.text().await.unwrap();
    assert!(!body.contains(KEY), "{body}");
    assert!(
        body.contains("Incorrect API key provided: [redacted]"),
        "{body}"
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_a_bad_gateway() {
    // A port that was just free: nothing listens on it.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let f = fixture(&[("openai", ProviderKind::OpenAi, &closed)], &[], None).await;
    let response = f
        .http
        .post("http://edge/llm/openai/chat/completions")
        .json(&chat("gpt-4o", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["x-hardshell-refusal"], "unreachable");
}
