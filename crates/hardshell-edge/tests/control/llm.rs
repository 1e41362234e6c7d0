//! The model providers as routes of the agent's broker: what the agent may
//! send, what the provider receives (the key only where the placeholder
//! was), what is metered and when the budget says no.
//!
//! The provider here is a loopback server that records what reaches it and
//! answers in the documented OpenAI and Anthropic stream formats; the broker
//! against the real local model is tested end to end in the hardshell crate.
//! Requests reach the broker the way the agent's do: an HTTP proxy on
//! loopback that relays to the broker's unix socket.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use hardshell_edge::{LlmGateway, ProviderRoute, model_broker};
use hardshell_llm::{MicroUsd, ModelRef, Price, PriceList, ProviderKind, SpendCap, UsageLedger};
use hardshell_storage::{LocalOptions, Location, MasterKey, ObjectKey, Sealing, Store};
use zeroize::Zeroizing;

const KEY: &str = "sk-provider-key-0123456789abcdef";

/// The chain of every fixture provider: the models the tests ask for.
const MODELS: &[&str] = &["gpt-4o", "claude-sonnet-4-5", "smol", "smollm2", "m"];

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

async fn store(dir: &tempfile::TempDir) -> Store {
    Store::open(
        &Location::Local(LocalOptions {
            objects: dir.path().join("objects"),
            locks: dir.path().join("locks"),
        }),
        Sealing::Envelope(MasterKey::generate().unwrap()),
    )
    .await
    .unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    http: reqwest::Client,
    ledger: UsageLedger,
    gateway: LlmGateway,
}

/// A control socket whose gateway knows `providers` (name, kind, base URL),
/// every one with [`KEY`] and [`MODELS`] in the chain; `paid` costs $10 per
/// million tokens each way, every other model is priced free under a cap,
/// and `cap` is the monthly limit.
async fn fixture(
    providers: &[(&str, ProviderKind, &str)],
    paid: &[&str],
    cap: Option<f64>,
) -> Fixture {
    fixture_resolving(providers, paid, cap, &[], None).await
}

/// Maps every name to one address.
struct Everything(std::net::SocketAddr);

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
async fn fixture_resolving(
    providers: &[(&str, ProviderKind, &str)],
    paid: &[&str],
    cap: Option<f64>,
    internal: &[hardshell_config::Cidr],
    everything: Option<std::net::SocketAddr>,
) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
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
    let socket = dir.path().join("broker.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    tokio::spawn(std::sync::Arc::new(broker).serve(listener));
    let proxy = forwarder(socket).await;
    let http = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(format!("http://{proxy}")).unwrap())
        .build()
        .unwrap();
    Fixture {
        _dir: dir,
        http,
        ledger,
        gateway,
    }
}

/// What the agent's shell has on its loopback: a relay to the broker's socket.
async fn forwarder(socket: std::path::PathBuf) -> std::net::SocketAddr {
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

fn chat(model: &str, stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": model,
        "stream": stream,
        "max_tokens": 100,
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
async fn the_placeholder_becomes_the_key_at_the_provider_only() {
    let p = provider(Answer::OpenAiStream).await;
    let f = fixture(
        &[("openai", ProviderKind::OpenAi, &format!("{}/v1", p.url))],
        &[],
        None,
    )
    .await;
    let response = f
        .http
        .post(format!("{}/v1/chat/completions", p.url))
        .header("authorization", "Bearer hs-secret:LLM_OPENAI")
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
    assert_eq!(request.headers.get_all("authorization").iter().count(), 1);
    // The agent's view of the providers: plain HTTP, a placeholder for the key.
    let agent = f.gateway.agent_provider("openai").unwrap();
    assert_eq!(agent.base_url, format!("{}/v1", p.url));
    assert_eq!(agent.key.as_deref(), Some("hs-secret:LLM_OPENAI"));
}

#[tokio::test]
async fn anthropic_gets_its_key_header_and_a_version() {
    let p = provider(Answer::AnthropicStream).await;
    let f = fixture(&[("anthropic", ProviderKind::Anthropic, &p.url)], &[], None).await;
    let response = f
        .http
        .post(format!("{}/v1/messages", p.url))
        .header("x-api-key", "hs-secret:LLM_ANTHROPIC")
        .header("anthropic-version", "2023-06-01")
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
    let key = ("authorization", "Bearer hs-secret:LLM_OPENAI");
    let refused = [
        ("POST", "/models", key),
        ("POST", "/files", key),
        ("POST", "/chat/completions/../../files", key),
        // Beneath the chat path: at OpenAI, updating a stored completion.
        ("POST", "/chat/completions/chatcmpl-123", key),
        ("POST", "/chat/completions/", key),
        ("POST", "/v1/messages", key),
        ("POST", "/", key),
        ("GET", "/chat/completions", key),
        ("DELETE", "/chat/completions", key),
        // Another provider's placeholder.
        (
            "POST",
            "/chat/completions",
            ("authorization", "Bearer hs-secret:LLM_OTHER"),
        ),
    ];
    for (method, path, (header, value)) in refused {
        let response = f
            .http
            .request(method.parse().unwrap(), format!("{}{path}", p.url))
            .header(header, value)
            .json(&chat("gpt-4o", false))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{method} {path} {header}");
    }
    // The key itself, which the agent never holds, does not leave either.
    let response = f
        .http
        .post(format!("{}/chat/completions", p.url))
        .json(&serde_json::json!({ "model": "gpt-4o", "messages": [{ "role": "user", "content": KEY }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        response.text().await.unwrap().contains("LLM_OPENAI"),
        "the refusal names the secret"
    );
    for (bad, status) in [
        ("not json", 400),
        ("[1,2]", 400),
        ("{\"messages\":[]}", 400),
        // No model the chain has.
        ("{\"model\":\"\"}", 403),
    ] {
        let response = f
            .http
            .post(format!("{}/chat/completions", p.url))
            .body(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{bad}");
    }
    assert!(
        p.received.lock().unwrap().is_empty(),
        "nothing reached the provider"
    );
}

#[tokio::test]
async fn placeholders_in_the_conversation_reach_the_model_as_text() {
    let p = provider(Answer::OpenAiStream).await;
    let f = fixture(&[("openai", ProviderKind::OpenAi, &p.url)], &[], None).await;
    // The exec tool's description, a command's output, the broker's own
    // echo conversion: a conversation quotes placeholders, bound or not.
    let request = serde_json::json!({
        "model": "gpt-4o",
        "tools": [{ "type": "function", "function": { "name": "exec",
            "description": "write hs-secret:NAME where the value goes" } }],
        "messages": [
            { "role": "tool", "content": "you sent Bearer hs-secret:TEST_TOKEN" },
            { "role": "user", "content": "and my key is hs-secret:LLM_OPENAI" },
        ],
    });
    let response = f
        .http
        .post(format!("{}/chat/completions", p.url))
        .header("authorization", "Bearer hs-secret:LLM_OPENAI")
        .header("x-debug", "hs-secret:LLM_OPENAI")
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap();
    let received = p.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    // Passed on as the text it is; the key only in its own header.
    assert_eq!(received[0].body["messages"], request["messages"]);
    assert_eq!(received[0].body["tools"], request["tools"]);
    assert_eq!(received[0].headers["x-debug"], "hs-secret:LLM_OPENAI");
    assert_eq!(
        received[0].headers["authorization"],
        format!("Bearer {KEY}")
    );
}

#[tokio::test]
async fn two_providers_on_one_host_never_get_each_others_keys() {
    let first = provider(Answer::OpenAiStream).await;
    let second = provider(Answer::OpenAiStream).await;
    // Both on 127.0.0.1, on two ports.
    let f = fixture(
        &[
            ("first", ProviderKind::OpenAi, &first.url),
            ("second", ProviderKind::OpenAi, &second.url),
        ],
        &[],
        None,
    )
    .await;
    let send = |url: &str, placeholder: &str| {
        f.http
            .post(format!("{url}/chat/completions"))
            .header("authorization", format!("Bearer hs-secret:{placeholder}"))
            .json(&chat("gpt-4o", false))
            .send()
    };
    // Each provider's own key goes to it.
    for (p, own) in [(&first, "LLM_FIRST"), (&second, "LLM_SECOND")] {
        let response = send(&p.url, own).await.unwrap();
        assert_eq!(response.status(), 200, "{own}");
        response.text().await.unwrap();
    }
    // The other's is refused, and nothing reaches either.
    for (p, other) in [(&first, "LLM_SECOND"), (&second, "LLM_FIRST")] {
        let response = send(&p.url, other).await.unwrap();
        assert_eq!(response.status(), 403, "{other}");
    }
    for p in [&first, &second] {
        let received = p.received.lock().unwrap().clone();
        assert_eq!(received.len(), 1);
        assert_eq!(
            received[0].headers["authorization"],
            format!("Bearer {KEY}")
        );
    }
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
        .post(format!("{}/chat/completions", p.url))
        .header("authorization", "Bearer hs-secret:LLM_OPENAI")
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
        .post(format!("{}/chat/completions", p.url))
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
    let free_provider = provider(Answer::OpenAiStream).await;
    let f = fixture(
        &[
            ("openai", ProviderKind::OpenAi, &p.url),
            ("local", ProviderKind::OpenAi, &free_provider.url),
        ],
        &["openai/gpt-4o"],
        // One reply is 1500 tokens at $10/Mtok: $0.015, over this cap.
        Some(0.01),
    )
    .await;
    let send = |url: &str, model: &'static str| {
        f.http
            .post(format!("{url}/chat/completions"))
            .json(&chat(model, true))
            .send()
    };
    let first = send(&p.url, "gpt-4o").await.unwrap();
    assert_eq!(first.status(), 200, "under the cap");
    first.text().await.unwrap();
    recorded(&f.ledger, "openai/gpt-4o", 1).await;

    let refused = send(&p.url, "gpt-4o").await.unwrap();
    assert_eq!(refused.status(), 402);
    assert_eq!(refused.headers()["x-hardshell-refusal"], "budget");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["type"], "budget");
    assert_eq!(
        p.received.lock().unwrap().len(),
        1,
        "the refused call never left"
    );

    let free = send(&free_provider.url, "smollm2").await.unwrap();
    assert_eq!(free.status(), 200, "free models are not capped");
    free.text().await.unwrap();
    assert_eq!(free_provider.received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn only_the_models_of_the_chain_may_be_asked_for() {
    let p = provider(Answer::OpenAiStream).await;
    let f = fixture(
        &[("openai", ProviderKind::OpenAi, &p.url)],
        &["openai/gpt-4o"],
        Some(100.0),
    )
    .await;
    let send = |model: &'static str| {
        f.http
            .post(format!("{}/chat/completions", p.url))
            .header("authorization", "Bearer hs-secret:LLM_OPENAI")
            .json(&chat(model, true))
            .send()
    };
    // A dated variant, another spelling, another model: none has the
    // chain's price, so none is sent.
    for model in ["gpt-4o-2024-08-06", "GPT-4o", "gpt-4o ", "o1-pro"] {
        let refused = send(model).await.unwrap();
        assert_eq!(refused.status(), 403, "{model}");
        assert_eq!(refused.headers()["x-hardshell-refusal"], "model", "{model}");
    }
    assert!(p.received.lock().unwrap().is_empty());
    let allowed = send("gpt-4o").await.unwrap();
    assert_eq!(allowed.status(), 200);
    allowed.text().await.unwrap();
    assert_eq!(p.received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn under_a_cap_a_keyed_providers_model_without_a_price_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let ledger = |prices: PriceList| {
        UsageLedger::new(
            store
                .root()
                .scope(&ObjectKey::parse("llm").unwrap())
                .unwrap(),
            prices,
        )
    };
    let providers = |keyed: bool| -> BTreeMap<String, ProviderRoute> {
        BTreeMap::from([(
            "openai".to_owned(),
            ProviderRoute {
                kind: ProviderKind::OpenAi,
                base_url: url::Url::parse("https://api.openai.test/v1").unwrap(),
                key: keyed.then(|| Zeroizing::new(KEY.to_owned())),
                models: vec!["gpt-4o".into()],
            },
        )])
    };
    let cap = |ledger: &UsageLedger| {
        Some(SpendCap::new(
            ledger.clone(),
            MicroUsd::from_usd(10.0).unwrap(),
        ))
    };
    let unpriced = ledger(PriceList::new());
    let error = LlmGateway::new(providers(true), unpriced.clone(), cap(&unpriced))
        .unwrap_err()
        .to_string();
    assert!(error.contains("openai/gpt-4o has no price"), "{error}");
    // Priced (zero counts: the operator said it), keyless, or without a
    // cap, it is accepted.
    let mut zero = PriceList::new();
    zero.set_model(ModelRef::parse("openai/gpt-4o").unwrap(), Price::FREE);
    let zero = ledger(zero);
    assert!(LlmGateway::new(providers(true), zero.clone(), cap(&zero)).is_ok());
    assert!(LlmGateway::new(providers(false), unpriced.clone(), cap(&unpriced)).is_ok());
    assert!(LlmGateway::new(providers(true), unpriced.clone(), None).is_ok());
}

/// A provider that holds every answer until `open` says so, then reports
/// 10 tokens read and 500 written. Counts the requests that reach it.
async fn gated_provider(open: tokio::sync::watch::Receiver<bool>) -> (String, Arc<AtomicUsize>) {
    let arrived = Arc::new(AtomicUsize::new(0));
    let count = arrived.clone();
    let app = axum::Router::new().fallback(move || {
        let (mut open, count) = (open.clone(), count.clone());
        async move {
            count.fetch_add(1, Ordering::SeqCst);
            let _ = open.wait_for(|open| *open).await;
            (
                [("content-type", "text/event-stream")],
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\n\
                 data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":500}}\n\n\
                 data: [DONE]\n\n",
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, arrived)
}

#[tokio::test]
async fn calls_at_once_reserve_their_most_so_together_they_stay_under_the_cap() {
    let (gate, open) = tokio::sync::watch::channel(false);
    let (url, arrived) = gated_provider(open).await;
    // $10 per million tokens: each call may cost 500 tokens written and its
    // request read, just over $0.005, so three fit under $0.02 and a fourth
    // does not.
    let f = fixture(
        &[("openai", ProviderKind::OpenAi, &url)],
        &["openai/gpt-4o"],
        Some(0.02),
    )
    .await;
    let refused = Arc::new(AtomicUsize::new(0));
    let mut calls = Vec::new();
    for _ in 0..12 {
        let (http, url, refused) = (f.http.clone(), url.clone(), refused.clone());
        calls.push(tokio::spawn(async move {
            let mut request = chat("gpt-4o", true);
            request["max_tokens"] = serde_json::json!(500);
            let response = http
                .post(format!("{url}/chat/completions"))
                .json(&request)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            if status == 402 {
                refused.fetch_add(1, Ordering::SeqCst);
            }
            response.text().await.unwrap();
            status
        }));
    }
    // Every call is either held at the provider or refused before the
    // provider answers any: all twelve were admitted or not at once.
    while arrived.load(Ordering::SeqCst) + refused.load(Ordering::SeqCst) < 12 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    gate.send(true).unwrap();
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 200, 200, 402, 402, 402, 402, 402, 402, 402, 402, 402]
    );
    recorded(&f.ledger, "openai/gpt-4o", 3).await;
    let month = f.ledger.month(Utc::now()).await.unwrap();
    assert!(
        month.cost <= MicroUsd::from_usd(0.02).unwrap(),
        "{}",
        month.cost
    );

    // A paid call under a cap must say how long its reply may be.
    let mut unbounded = chat("gpt-4o", true);
    unbounded.as_object_mut().unwrap().remove("max_tokens");
    let response = f
        .http
        .post(format!("{url}/chat/completions"))
        .json(&unbounded)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Nor may it ask for several replies, each billed, on one reservation.
    for n in [
        serde_json::json!(128),
        serde_json::json!(0),
        serde_json::json!("2"),
    ] {
        let mut several = chat("gpt-4o", true);
        several["n"] = n;
        let response = f
            .http
            .post(format!("{url}/chat/completions"))
            .json(&several)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
    }
    assert_eq!(arrived.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn providers_the_broker_could_not_tell_apart_or_route_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let ledger = UsageLedger::new(
        store
            .root()
            .scope(&ObjectKey::parse("llm").unwrap())
            .unwrap(),
        PriceList::new(),
    );
    let route = |url: &str| ProviderRoute {
        kind: ProviderKind::OpenAi,
        base_url: url::Url::parse(url).unwrap(),
        // "keyless" names a provider without one.
        key: (!url.contains("keyless")).then(|| Zeroizing::new(KEY.to_owned())),
        models: Vec::new(),
    };
    // Two at one endpoint are told apart by their keys' placeholders.
    let shared: BTreeMap<String, ProviderRoute> = [
        ("a".to_owned(), route("https://api.test/v1")),
        ("b".to_owned(), route("https://api.test:443/v1/")),
    ]
    .into_iter()
    .collect();
    assert!(LlmGateway::new(shared, ledger.clone(), None).is_ok());
    for (providers, why) in [
        (
            vec![
                ("a", "https://keyless.test/v1"),
                ("b", "https://keyless.test:443/v1/"),
            ],
            "the same endpoint",
        ),
        (vec![("a", "https://user:pw@api.test/v1")], "credentials"),
        (vec![("a", "https://[::1]:8080")], "IPv6"),
        (vec![("a", "ftp://api.test")], "scheme"),
        (vec![("a b", "https://api.test")], "placeholder"),
        (
            vec![("my-p", "https://one.test"), ("my_p", "https://two.test")],
            "hs-secret:LLM_MY_P is provider my-p's too",
        ),
    ] {
        let providers: BTreeMap<String, ProviderRoute> = providers
            .into_iter()
            .map(|(name, url)| (name.to_owned(), route(url)))
            .collect();
        let error = LlmGateway::new(providers, ledger.clone(), None)
            .unwrap_err()
            .to_string();
        assert!(error.contains(why), "{why}: {error}");
        assert!(!error.contains("pw"), "{error}");
    }
}

#[tokio::test]
async fn a_provider_error_is_relayed_without_the_key() {
    let p = provider(Answer::Unauthorized).await;
    let f = fixture(&[("openai", ProviderKind::OpenAi, &p.url)], &[], None).await;
    let response = f
        .http
        .post(format!("{}/chat/completions", p.url))
        .header("authorization", "Bearer hs-secret:LLM_OPENAI")
        .json(&chat("gpt-4o", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body = response.text().await.unwrap();
    assert!(!body.contains(KEY), "{body}");
    assert!(
        body.contains("Incorrect API key provided: hs-secret:LLM_OPENAI"),
        "the echoed key is the placeholder again: {body}"
    );
}

#[tokio::test]
async fn a_provider_named_by_a_name_gets_the_address_guard() {
    let p = provider(Answer::OpenAiStream).await;
    let address: std::net::SocketAddr = p.url.trim_start_matches("http://").parse().unwrap();
    let url = format!("http://models.example:{}", address.port());
    let provider = [("named", ProviderKind::OpenAi, url.as_str())];
    // A name is resolved, and what it resolves to is checked: loopback is
    // refused, as for any shell's request.
    let f = fixture_resolving(&provider, &[], None, &[], Some(address)).await;
    let response = f
        .http
        .post(format!("{url}/chat/completions"))
        .header("authorization", "Bearer hs-secret:LLM_NAMED")
        .json(&chat("m", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body = response.text().await.unwrap();
    assert!(body.contains("127.0.0.1 is a loopback address"), "{body}");
    assert!(p.received.lock().unwrap().is_empty());
    // Unless [dangerous] egress_internal names the block.
    let exception = hardshell_config::Cidr::parse("127.0.0.0/8").unwrap();
    let f = fixture_resolving(&provider, &[], None, &[exception], Some(address)).await;
    let response = f
        .http
        .post(format!("{url}/chat/completions"))
        .header("authorization", "Bearer hs-secret:LLM_NAMED")
        .json(&chat("m", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(p.received.lock().unwrap().len(), 1);
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
        .post(format!("{closed}/chat/completions"))
        .json(&chat("gpt-4o", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
}
