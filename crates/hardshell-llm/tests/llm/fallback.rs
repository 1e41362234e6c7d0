//! The fallback chain over real servers: a scripted provider that fails, then the
//! real local model.

use std::sync::Mutex;

use hardshell_llm::{
    ChatEvent, FallbackChain, LlmError, ModelRef, ProviderClient, ProviderConfig, ProviderKind,
};
use serde_json::json;
use tokio::time::Instant;

use crate::support::{
    Script, TestServer, anthropic_text_reply, client, drain, event, local_model, local_model_key,
    request, text, text_of,
};

fn model(text: &str) -> ModelRef {
    ModelRef::parse(text).unwrap()
}

fn rate_limited() -> Script {
    let mut script = Script::json(
        429,
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}),
    );
    script.headers.push(("retry-after", "30".into()));
    script
}

/// Switches reported by a chain, as `from -> to: reason`.
#[derive(Default)]
struct Switches(Mutex<Vec<(String, String, String)>>);

impl Switches {
    fn record(&self) -> impl FnMut(&ModelRef, &ModelRef, hardshell_llm::SwitchReason) + '_ {
        |from, to, reason| {
            self.0
                .lock()
                .unwrap()
                .push((from.to_string(), to.to_string(), format!("{reason:?}")))
        }
    }

    fn taken(&self) -> Vec<(String, String, String)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[tokio::test]
async fn a_rate_limited_model_falls_back_to_the_next_and_then_rests() {
    let limited = TestServer::tcp(rate_limited()).await;
    let (first, second) = (model("anthropic/claude-test"), model("local/smollm2"));
    let chain = FallbackChain::new(vec![
        (
            first.clone(),
            client(ProviderKind::Anthropic, &limited, None),
        ),
        (second.clone(), local_model(Some(local_model_key()))),
    ])
    .unwrap();
    let switches = Switches::default();

    let reply = chain
        .stream(&request("Name a color."), switches.record())
        .await
        .unwrap();
    assert_eq!(reply.model, second);
    let (events, error) = drain(reply.events).await;
    assert!(error.is_none(), "{error:?}");
    assert!(!text_of(&events).trim().is_empty());
    assert!(matches!(events.last(), Some(ChatEvent::Finished { .. })));

    let switched = switches.taken();
    assert_eq!(switched.len(), 1, "{switched:?}");
    assert_eq!(
        (switched[0].0.as_str(), switched[0].1.as_str()),
        ("anthropic/claude-test", "local/smollm2")
    );
    assert_eq!(switched[0].2, "RateLimited");
    assert!(chain.cooldown(&first).unwrap().is_cooling(Instant::now()));
    assert_eq!(limited.requests(), 1);

    // While it rests, the first model is skipped without being asked.
    let reply = chain
        .stream(&request("Name a fruit."), switches.record())
        .await
        .unwrap();
    assert_eq!(reply.model, second);
    let (_, error) = drain(reply.events).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(limited.requests(), 1);
    assert!(switches.taken().is_empty());
}

#[tokio::test]
async fn an_unreachable_model_falls_back_to_the_next() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let first = model("openai/gpt-test");
    let chain = FallbackChain::new(vec![
        (
            first.clone(),
            ProviderClient::new(ProviderConfig::new(ProviderKind::OpenAi, closed)).unwrap(),
        ),
        (model("local/smollm2"), local_model(Some(local_model_key()))),
    ])
    .unwrap();
    let switches = Switches::default();

    let reply = chain
        .stream(&request("Say hello."), switches.record())
        .await
        .unwrap();

    assert_eq!(reply.model, model("local/smollm2"));
    let (_, error) = drain(reply.events).await;
    assert!(error.is_none(), "{error:?}");
    let switched = switches.taken();
    assert_eq!(switched.len(), 1, "{switched:?}");
    assert_eq!(switched[0].2, "Unreachable");
    assert!(chain.cooldown(&first).unwrap().is_cooling(Instant::now()));
}

#[tokio::test]
async fn a_rejected_key_is_reported_not_fallen_through() {
    let refusing = TestServer::tcp(Script::json(
        401,
        json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
    ))
    .await;
    let spare = TestServer::tcp(Script::event_stream(anthropic_text_reply("spare"))).await;
    let first = model("anthropic/claude-test");
    let chain = FallbackChain::new(vec![
        (
            first.clone(),
            client(ProviderKind::Anthropic, &refusing, None),
        ),
        (
            model("backup/claude-test"),
            client(ProviderKind::Anthropic, &spare, None),
        ),
    ])
    .unwrap();
    let switches = Switches::default();

    let error = chain
        .stream(&request("Hi"), switches.record())
        .await
        .unwrap_err();

    assert!(
        matches!(error, LlmError::Unauthorized { status: 401, .. }),
        "{error}"
    );
    assert!(switches.taken().is_empty());
    assert_eq!(spare.requests(), 0);
    // Not the kind of failure that waiting cures: no cooldown either.
    assert!(!chain.cooldown(&first).unwrap().is_cooling(Instant::now()));
}

#[tokio::test]
async fn when_every_model_fails_the_error_lists_each() {
    let down = TestServer::tcp(Script::json(
        503,
        json!({"error": {"message": "down for maintenance"}}),
    ))
    .await;
    let overloaded = TestServer::tcp(Script::json(
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ))
    .await;
    let chain = FallbackChain::new(vec![
        (
            model("openai/gpt-test"),
            client(ProviderKind::OpenAi, &down, None),
        ),
        (
            model("anthropic/claude-test"),
            client(ProviderKind::Anthropic, &overloaded, None),
        ),
    ])
    .unwrap();
    let switches = Switches::default();

    let error = chain
        .stream(&request("Hi"), switches.record())
        .await
        .unwrap_err();
    let LlmError::AllFailed { attempts } = &error else {
        panic!("expected every model to fail, got {error}");
    };
    assert_eq!(attempts.len(), 2);
    let shown = error.to_string();
    assert!(
        shown.contains("openai/gpt-test") && shown.contains("down for maintenance"),
        "{shown}"
    );
    assert!(
        shown.contains("anthropic/claude-test") && shown.contains("Overloaded"),
        "{shown}"
    );
    assert_eq!(switches.taken().len(), 1);

    // Both rest now: the next request asks neither and says so.
    let error = chain
        .stream(&request("Hi"), switches.record())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string().matches("cooling down").count(),
        2,
        "{error}"
    );
    assert_eq!((down.requests(), overloaded.requests()), (1, 1));
}

#[tokio::test]
async fn an_error_before_the_first_event_still_falls_back() {
    let failing = TestServer::tcp(Script::event_stream(vec![text(event(
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ))]))
    .await;
    let spare = TestServer::tcp(Script::event_stream(anthropic_text_reply("from the spare"))).await;
    let chain = FallbackChain::new(vec![
        (
            model("anthropic/claude-test"),
            client(ProviderKind::Anthropic, &failing, None),
        ),
        (
            model("backup/claude-test"),
            client(ProviderKind::Anthropic, &spare, None),
        ),
    ])
    .unwrap();
    let switches = Switches::default();

    let reply = chain
        .stream(&request("Hi"), switches.record())
        .await
        .unwrap();

    assert_eq!(reply.model, model("backup/claude-test"));
    assert_eq!(text_of(&drain(reply.events).await.0), "from the spare");
    assert_eq!(switches.taken().len(), 1);
}

#[tokio::test]
async fn a_failure_after_the_reply_began_ends_it_without_switching() {
    let mut body = anthropic_text_reply("half an ans");
    body.truncate(4);
    body.push(text(event(
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    )));
    let failing = TestServer::tcp(Script::event_stream(body)).await;
    let spare = TestServer::tcp(Script::event_stream(anthropic_text_reply("spare"))).await;
    let first = model("anthropic/claude-test");
    let chain = FallbackChain::new(vec![
        (
            first.clone(),
            client(ProviderKind::Anthropic, &failing, None),
        ),
        (
            model("backup/claude-test"),
            client(ProviderKind::Anthropic, &spare, None),
        ),
    ])
    .unwrap();
    let switches = Switches::default();

    let reply = chain
        .stream(&request("Hi"), switches.record())
        .await
        .unwrap();
    assert_eq!(reply.model, first);
    let (events, error) = drain(reply.events).await;

    assert_eq!(text_of(&events), "half an ans");
    assert!(
        matches!(error, Some(LlmError::Overloaded { .. })),
        "{error:?}"
    );
    assert!(switches.taken().is_empty());
    assert_eq!(spare.requests(), 0);
    // The failure still counts against the model for the next request.
    assert!(chain.cooldown(&first).unwrap().is_cooling(Instant::now()));
}

#[test]
fn an_empty_chain_is_refused() {
    assert!(FallbackChain::new(vec![]).is_err());
}
