//! The fake model provider, the broker in front of it and what the tests
//! ask of them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use hardshell_egress::{LlmGateway, ProviderRoute, model_broker};
use hardshell_llm::{MicroUsd, ModelRef, Price, PriceList, ProviderKind, SpendCap, UsageLedger};
use hardshell_storage::ObjectKey;
use hardshell_testkit::TestStore;
use zeroize::Zeroizing;

pub(crate) const KEY: &str = "sk-provider-key-0123456789abcdef";

/// The chain of every fixture provider: the models the tests ask for.
pub(crate) const MODELS: &[&str] = &["gpt-4o", "claude-sonnet-4-5", "smol", "smollm2", "m"];

/// What reached the provider.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: serde_json::Value,
    /// The body as sent, before parsing folded any key given twice.
    pub(crate) raw: String,
}

/// How the provider answers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Answer {
    /// An OpenAI stream; with usage only if the request asked for it.
    OpenAiStream,
    /// An OpenAI stream that never reports usage (llama.cpp's Python server).
    OpenAiStreamNoUsage,
    /// An Anthropic stream with usage.
    AnthropicStream,
    /// 401 with the key echoed in the body, as some servers do.
    Unauthorized,
}

pub(crate) struct Provider {
    pub(crate) url: String,
    pub(crate) received: Arc<Mutex<Vec<Received>>>,
}

pub(crate) async fn provider(answer: Answer) -> Provider {
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            async move {
                let raw = String::from_utf8_lossy(&body).into_owned();
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
                    raw,
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

pub(crate) struct Fixture {
    _store: TestStore,
    pub(crate) http: reqwest::Client,
    pub(crate) ledger: UsageLedger,
    pub(crate) gateway: LlmGateway,
}

/// A control socket whose gateway knows `providers` (name, kind, base URL),
/// every one with [`KEY`] and [`MODELS`] in the chain; `paid` costs $10 per
/// million tokens each way, every other model is priced free under a cap,
/// and `cap` is the monthly limit.
pub(crate) async fn fixture(
    providers: &[(&str, ProviderKind, &str)],
    paid: &[&str],
    cap: Option<f64>,
) -> Fixture {
    fixture_resolving(providers, paid, cap, &[], None).await
}

/// Maps every name to one address.
pub(crate) struct Everything(std::net::SocketAddr);

impl hardshell_broker::proxy::Resolve for Everything {
    fn resolve(
        &self,
        _host: &hardshell_broker::host::Host,
        _port: u16,
    ) -> futures::future::BoxFuture<'static, std::io::Result<Vec<std::net::SocketAddr>>> {
        let address = self.0;
        Box::pin(async move { Ok(vec![address]) })
    }
}

/// [`fixture`] with the guard's exceptions, and every name resolving to
/// `everything` if given.
pub(crate) async fn fixture_resolving(
    providers: &[(&str, ProviderKind, &str)],
    paid: &[&str],
    cap: Option<f64>,
    internal: &[hardshell_config::Cidr],
    everything: Option<std::net::SocketAddr>,
) -> Fixture {
    let test_store = TestStore::new().await;
    let store = &test_store.store;
    let mut prices = PriceList::new();
    for model in paid {
        prices.set_model(
            ModelRef::parse(model).unwrap(),
            Price::from_usd_per_mtok(10.0, 10.0).unwrap(),
        );
    }
    // Under a cap a keyed provider's model needs a price: free is said.
    for (name, _, _) in providers.iter().filter(|_| cap.is_some()) {
        for model in MODELS {
            let model = format!("{name}/{model}");
            if !paid.contains(&model.as_str()) {
                prices.set_model(ModelRef::parse(&model).unwrap(), Price::FREE);
            }
        }
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
                    models: MODELS.iter().map(|m| (*m).to_owned()).collect(),
                },
            )
        })
        .collect();
    let cap = cap.map(|usd| SpendCap::new(ledger.clone(), MicroUsd::from_usd(usd).unwrap()));
    let gateway = LlmGateway::new(routes, ledger.clone(), cap).unwrap();
    let mut broker = model_broker(&gateway, internal, &[]).unwrap();
    if let Some(address) = everything {
        broker.resolver = std::sync::Arc::new(Everything(address));
    }
    let socket = test_store.dir().join("broker.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    tokio::spawn(std::sync::Arc::new(broker).serve(listener));
    let proxy = forwarder(socket).await;
    let http = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(format!("http://{proxy}")).unwrap())
        .build()
        .unwrap();
    Fixture {
        _store: test_store,
        http,
        ledger,
        gateway,
    }
}

/// What the agent's shell has on its loopback: a relay to the broker's socket.
pub(crate) async fn forwarder(socket: std::path::PathBuf) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let socket = socket.clone();
            tokio::spawn(async move {
                let mut unix = tokio::net::UnixStream::connect(socket).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
            });
        }
    });
    address
}

pub(crate) fn chat(model: &str, stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": model,
        "stream": stream,
        "max_tokens": 100,
        "messages": [{ "role": "user", "content": "hello" }],
    })
}

/// Waits for the ledger to record `requests` requests of `model` (it is written
/// after the relayed body ends).
pub(crate) async fn recorded(
    ledger: &UsageLedger,
    model: &str,
    requests: u64,
) -> hardshell_llm::ModelUsage {
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
