//! The monthly spend cap: paid calls refused over it, reserved at their
//! most while they run, and every keyed model priced under it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;
use hardshell_egress::{LlmGateway, ProviderRoute};
use hardshell_llm::{MicroUsd, ModelRef, Price, PriceList, ProviderKind, SpendCap, UsageLedger};
use hardshell_storage::ObjectKey;
use hardshell_testkit::TestStore;
use zeroize::Zeroizing;

use crate::support::*;

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
async fn under_a_cap_a_keyed_providers_model_without_a_price_is_refused() {
    let test_store = TestStore::new().await;
    let store = &test_store.store;
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
