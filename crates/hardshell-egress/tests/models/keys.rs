//! The provider's key: swapped for its placeholder at that provider's chat
//! endpoint only, never aimed elsewhere, never shown back to the agent.

use hardshell_llm::ProviderKind;

use crate::support::*;

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
