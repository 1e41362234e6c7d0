//! The OpenAI-compatible adapter against a real model server: llama.cpp (through
//! llama-cpp-python) serving SmolLM2-135M, started by scripts/services.sh.

use hardshell_llm::{ChatEvent, LlmError, ProviderKind, StopReason, UsageMeter};
use serde_json::json;

use crate::support::{drain, key, local_model, local_model_key, request, required_env, text_of};

#[tokio::test]
async fn a_streamed_reply_arrives_from_the_local_model() {
    let client = local_model(Some(local_model_key()));

    let stream = client
        .stream("smollm2", &request("Name three colors."))
        .await
        .unwrap();
    let (events, error) = drain(stream).await;

    assert!(error.is_none(), "{error:?}");
    // Temperature 0 makes the text stable enough to expect some, not to expect which.
    assert!(!text_of(&events).trim().is_empty(), "{events:?}");
    assert!(
        matches!(
            events.last(),
            Some(ChatEvent::Finished {
                reason: StopReason::EndTurn | StopReason::MaxTokens
            })
        ),
        "{events:?}"
    );
    // llama-cpp-python 0.3.36 ignores `stream_options.include_usage`: the reply
    // finishes without a usage event, which the decoder tolerates.
    assert!(
        events
            .iter()
            .filter(|e| matches!(e, ChatEvent::Usage { .. }))
            .count()
            <= 1,
        "{events:?}"
    );
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_not_retryable() {
    let client = local_model(Some(key("hs-test-wrong-key-0000")));

    let error = client.stream("smollm2", &request("Hi")).await.unwrap_err();

    assert!(
        matches!(error, LlmError::Unauthorized { status: 401, .. }),
        "{error}"
    );
    assert!(!error.is_retryable());
    assert!(
        !error.to_string().contains("hs-test-wrong-key-0000"),
        "{error}"
    );
}

#[tokio::test]
async fn no_key_is_refused_too() {
    let error = local_model(None)
        .stream("smollm2", &request("Hi"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, LlmError::Unauthorized { status: 401, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_prompt_past_the_context_window_does_not_end_silently() {
    // The server has 4096 tokens of context; it finds the prompt too long only after
    // it has answered 200, and then closes the stream without `[DONE]`.
    let client = local_model(Some(local_model_key()));
    let stream = client
        .stream("smollm2", &request(&"word ".repeat(6000)))
        .await;
    let error = match stream {
        Ok(stream) => drain(stream)
            .await
            .1
            .expect("the stream ended without an error"),
        Err(e) => e,
    };
    assert!(
        matches!(
            error,
            LlmError::Truncated { .. } | LlmError::ContextTooLong { .. }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn the_usage_meter_reads_the_servers_own_counts() {
    // A reply asked for without streaming carries usage on this server; the meter
    // reads it from the raw bytes, as the edge does when relaying.
    let url = format!(
        "{}/chat/completions",
        required_env("HARDSHELL_TEST_LLM_URL")
    );
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(required_env("HARDSHELL_TEST_LLM_KEY"))
        .header("content-type", "application/json")
        .body(
            json!({
                "model": "smollm2", "max_tokens": 8, "temperature": 0,
                "messages": [{"role": "user", "content": "Say hi."}],
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    let reported: serde_json::Value = serde_json::from_slice(&body).unwrap();

    let mut meter = UsageMeter::new(ProviderKind::OpenAi);
    for piece in body.chunks(10) {
        meter.feed(piece);
    }
    let usage = meter.finish().expect("no usage metered");

    assert!(
        usage.input_tokens > 0 && usage.output_tokens > 0,
        "{usage:?}"
    );
    assert_eq!(
        usage.input_tokens,
        reported["usage"]["prompt_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        usage.output_tokens,
        reported["usage"]["completion_tokens"].as_u64().unwrap()
    );
}
