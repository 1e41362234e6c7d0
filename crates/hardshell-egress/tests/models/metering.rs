//! Usage metered from the provider's own answer, or estimated without one.

use hardshell_llm::ProviderKind;

use crate::support::*;

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
async fn the_provider_gets_the_request_as_checked_with_no_key_given_twice() {
    let p = provider(Answer::OpenAiStream).await;
    let f = fixture(&[("openai", ProviderKind::OpenAi, &p.url)], &[], None).await;
    // The check reads the last of a key given twice; a provider may read the
    // first: a model outside the chain, and a second reply limit, hidden
    // in front.
    let body = r#"{"model":"gpt-4-outside-the-chain","max_tokens":100000,"model":"gpt-4o","max_tokens":100,"stream":false,"messages":[{"role":"user","content":"hello"}]}"#;
    let response = f
        .http
        .post(format!("{}/chat/completions", p.url))
        .header("authorization", "Bearer hs-secret:LLM_OPENAI")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    response.text().await.unwrap();
    let received = p.received.lock().unwrap().clone();
    let raw = &received[0].raw;
    assert!(!raw.contains("outside-the-chain"), "{raw}");
    assert!(!raw.contains("100000"), "{raw}");
    assert_eq!(raw.matches("\"model\"").count(), 1, "{raw}");
}
