//! The Anthropic adapter through a real HTTP exchange with a server that speaks the
//! documented Messages stream.

use std::time::Duration;

use hardshell_llm::{ChatEvent, LlmError, ProviderKind, StopReason, Usage};
use serde_json::json;

use crate::support::{
    Piece, Script, TestServer, anthropic_text_reply, client, drain, event, key, request, text,
    text_of,
};

#[tokio::test]
async fn a_streamed_text_reply_arrives_with_usage_and_the_documented_headers() {
    let server = TestServer::tcp(Script::event_stream(anthropic_text_reply("Hello there."))).await;
    let client = client(ProviderKind::Anthropic, &server, Some(key("sk-ant-test-1")));

    let (events, error) = drain(client.stream("claude-test", &request("Hi")).await.unwrap()).await;

    assert!(error.is_none(), "{error:?}");
    assert_eq!(text_of(&events), "Hello there.");
    assert_eq!(
        events[events.len() - 2..],
        [
            ChatEvent::Usage {
                usage: Usage {
                    input_tokens: 12,
                    output_tokens: 5
                }
            },
            ChatEvent::Finished {
                reason: StopReason::EndTurn
            },
        ]
    );
    let seen = &server.seen()[0];
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
    assert_eq!(seen.headers["x-api-key"], "sk-ant-test-1");
    assert_eq!(seen.headers["content-type"], "application/json");
    assert!(seen.headers.get("authorization").is_none());
    assert_eq!(seen.body["stream"], true);
    assert_eq!(seen.body["model"], "claude-test");
    assert_eq!(seen.body["system"], "You are terse.");
}

#[tokio::test]
async fn the_edge_route_over_a_unix_socket_is_called_without_a_key() {
    let server = TestServer::unix(Script::event_stream(anthropic_text_reply("via the edge"))).await;
    let client = client(ProviderKind::Anthropic, &server, None);

    let (events, error) = drain(client.stream("claude-test", &request("Hi")).await.unwrap()).await;

    assert!(error.is_none(), "{error:?}");
    assert_eq!(text_of(&events), "via the edge");
    let seen = &server.seen()[0];
    assert_eq!(seen.path, "/llm/anthropic/v1/messages");
    assert!(seen.headers.get("x-api-key").is_none());
    assert!(seen.headers.get("authorization").is_none());
}

#[tokio::test]
async fn a_tool_call_whose_input_arrives_in_pieces_is_delivered_whole() {
    let mut stream = String::new();
    stream += &event(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "content": [], "model": "claude-test", "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 300, "output_tokens": 1}}}),
    );
    stream += &event(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_9", "name": "shell", "input": {}}}),
    );
    for part in ["", "{\"comm", "and\": \"ls ", "-la\", \"tim", "eout\": 30}"] {
        stream += &event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": part}}),
        );
    }
    stream += &event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    );
    stream += &event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
            "usage": {"output_tokens": 40}}),
    );
    stream += &event("message_stop", json!({"type": "message_stop"}));
    // Pieces of 13 bytes with pauses: events and lines split across network reads.
    let body = stream
        .as_bytes()
        .chunks(13)
        .flat_map(|bytes| {
            [
                Piece::Bytes(bytes.to_vec()),
                Piece::Pause(Duration::from_millis(1)),
            ]
        })
        .collect();
    let server = TestServer::tcp(Script::event_stream(body)).await;
    let client = client(ProviderKind::Anthropic, &server, None);

    let (events, error) = drain(
        client
            .stream("claude-test", &request("list"))
            .await
            .unwrap(),
    )
    .await;

    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        events,
        vec![
            ChatEvent::ToolCall {
                id: "toolu_9".into(),
                name: "shell".into(),
                arguments: r#"{"command": "ls -la", "timeout": 30}"#.into(),
            },
            ChatEvent::Usage {
                usage: Usage {
                    input_tokens: 300,
                    output_tokens: 40
                }
            },
            ChatEvent::Finished {
                reason: StopReason::ToolUse
            },
        ]
    );
}

#[tokio::test]
async fn overloaded_mid_stream_ends_the_reply_with_a_retryable_error() {
    let mut body = anthropic_text_reply("partial answer");
    body.truncate(4); // message_start, block start, ping, one delta
    body.push(text(event(
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    )));
    let server = TestServer::tcp(Script::event_stream(body)).await;
    let client = client(ProviderKind::Anthropic, &server, None);

    let (events, error) = drain(client.stream("claude-test", &request("Hi")).await.unwrap()).await;

    assert_eq!(text_of(&events), "partial answer");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ChatEvent::Finished { .. }))
    );
    let error = error.unwrap();
    assert!(matches!(error, LlmError::Overloaded { .. }), "{error}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn overloaded_529_is_retryable() {
    let server = TestServer::tcp(Script::json(
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "req_1"}),
    ))
    .await;
    let client = client(ProviderKind::Anthropic, &server, None);
    let error = client
        .stream("claude-test", &request("Hi"))
        .await
        .unwrap_err();
    assert!(matches!(error, LlmError::Overloaded { .. }), "{error}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn rate_limiting_429_is_retryable_and_carries_retry_after() {
    let mut script = Script::json(
        429,
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Number of request tokens has exceeded your per-minute rate limit"}}),
    );
    script.headers.push(("retry-after", "17".into()));
    let server = TestServer::tcp(script).await;
    let client = client(ProviderKind::Anthropic, &server, None);

    let error = client
        .stream("claude-test", &request("Hi"))
        .await
        .unwrap_err();

    assert!(error.is_retryable());
    match error {
        LlmError::RateLimited {
            retry_after,
            message,
            ..
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(17)));
            assert!(message.contains("per-minute rate limit"), "{message}");
        }
        other => panic!("expected a rate limit, got {other}"),
    }
}

#[tokio::test]
async fn a_prompt_too_long_is_reported_and_not_retryable() {
    let server = TestServer::tcp(Script::json(
        400,
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long: 208310 tokens > 200000 maximum"}, "request_id": "req_2"}),
    ))
    .await;
    let client = client(ProviderKind::Anthropic, &server, None);

    let error = client
        .stream("claude-test", &request("Hi"))
        .await
        .unwrap_err();

    assert!(matches!(error, LlmError::ContextTooLong { .. }), "{error}");
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("208310 tokens"), "{error}");
}

#[tokio::test]
async fn a_rejected_key_is_not_repeated_in_the_error() {
    let secret = "sk-ant-canary-0987654321";
    let server = TestServer::tcp(Script::json(
        401,
        json!({"type": "error", "error": {"type": "authentication_error", "message": format!("invalid x-api-key {secret}")}}),
    ))
    .await;
    let client = client(ProviderKind::Anthropic, &server, Some(key(secret)));

    let error = client
        .stream("claude-test", &request("Hi"))
        .await
        .unwrap_err();

    assert!(
        matches!(error, LlmError::Unauthorized { status: 401, .. }),
        "{error}"
    );
    assert!(!error.is_retryable());
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(secret), "{shown}");
}
