//! Which requests and providers the model routes admit: the chain's models
//! only, providers the broker can tell apart and route, the address guard.

use std::collections::BTreeMap;

use hardshell_egress::{LlmGateway, ProviderRoute};
use hardshell_llm::{PriceList, ProviderKind, UsageLedger};
use hardshell_storage::ObjectKey;
use hardshell_testkit::TestStore;
use zeroize::Zeroizing;

use crate::support::*;

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
async fn providers_the_broker_could_not_tell_apart_or_route_are_refused() {
    let test_store = TestStore::new().await;
    let store = &test_store.store;
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
