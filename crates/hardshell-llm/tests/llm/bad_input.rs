//! Replies that are broken, cut off, too big or too slow: each ends in a classified
//! error, never in a silent end or a hang.

use std::time::Duration;

use hardshell_llm::{ChatEvent, LlmError, ProviderClient, ProviderConfig, ProviderKind, Timeouts};
use serde_json::json;

use crate::support::{
    Piece, Script, TestServer, anthropic_text_reply, client, drain, event, request, text, text_of,
};

async fn reply(kind: ProviderKind, body: Vec<Piece>) -> (Vec<ChatEvent>, Option<LlmError>) {
    let server = TestServer::tcp(Script::event_stream(body)).await;
    let client = client(kind, &server, None);
    drain(client.stream("m", &request("Hi")).await.unwrap()).await
}

fn joined(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|piece| match piece {
            Piece::Bytes(bytes) => String::from_utf8(bytes.clone()).unwrap(),
            _ => String::new(),
        })
        .collect()
}

#[tokio::test]
async fn an_event_that_is_not_json_is_malformed() {
    let body = vec![text(
        "event: message_start\ndata: {\"type\": \"message_start\", \"mess\n\n",
    )];
    let (events, error) = reply(ProviderKind::Anthropic, body).await;
    assert!(events.is_empty());
    let error = error.unwrap();
    assert!(matches!(error, LlmError::Malformed { .. }), "{error}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn a_connection_dropped_mid_event_is_truncated() {
    let whole = joined(&anthropic_text_reply("cut"));
    let cut = whole.find("event: content_block_stop").unwrap() + 20;
    // The pause lets the headers and the first bytes leave before the drop.
    let body = vec![
        text(&whole[..cut]),
        Piece::Pause(Duration::from_millis(100)),
        Piece::Abort,
    ];
    let (events, error) = reply(ProviderKind::Anthropic, body).await;
    assert_eq!(text_of(&events), "cut");
    let error = error.unwrap();
    assert!(matches!(error, LlmError::Truncated { .. }), "{error}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_body_that_ends_in_the_middle_of_an_event_is_truncated() {
    let whole = joined(&anthropic_text_reply("cut"));
    let cut = whole.find("event: message_stop").unwrap() + 25;
    let (_, error) = reply(ProviderKind::Anthropic, vec![text(&whole[..cut])]).await;
    let error = error.unwrap();
    assert!(
        matches!(&error, LlmError::Truncated { detail, .. } if detail.contains("middle of an event")),
        "{error}"
    );
}

#[tokio::test]
async fn a_stream_without_message_stop_is_truncated() {
    let mut body = anthropic_text_reply("almost");
    body.pop();
    let (events, error) = reply(ProviderKind::Anthropic, body).await;
    assert_eq!(text_of(&events), "almost");
    let error = error.unwrap();
    assert!(
        matches!(&error, LlmError::Truncated { detail, .. } if detail.contains("end marker")),
        "{error}"
    );
}

#[tokio::test]
async fn an_openai_stream_without_done_is_truncated() {
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        text(format!(
            "data: {}\n\n",
            json!({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        ))
    };
    let body = vec![
        chunk(json!({"content": "Hi"}), None),
        chunk(json!({}), Some("stop")),
    ];
    let (events, error) = reply(ProviderKind::OpenAi, body).await;
    assert_eq!(text_of(&events), "Hi");
    assert!(
        matches!(error, Some(LlmError::Truncated { .. })),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_oversized_reply_is_cut_off() {
    let server = TestServer::tcp(Script::event_stream(anthropic_text_reply(
        &"x".repeat(10_000),
    )))
    .await;
    let mut config = ProviderConfig::new(ProviderKind::Anthropic, server.base_url.clone());
    config.max_response_bytes = 4096;
    let client = ProviderClient::new(config).unwrap();
    let (events, error) = drain(client.stream("m", &request("Hi")).await.unwrap()).await;
    assert!(text_of(&events).is_empty());
    let error = error.unwrap();
    assert!(
        matches!(error, LlmError::TooLarge { limit: 4096, .. }),
        "{error}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn a_tool_call_with_invalid_json_arguments_is_passed_through_raw() {
    let body = [
        event("message_start", json!({"type": "message_start", "message": {"usage": {"input_tokens": 1, "output_tokens": 1}}})),
        event("content_block_start", json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_x", "name": "shell", "input": {}}})),
        event("content_block_delta", json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": "{\"command\": ls"}})),
        event("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        event("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}})),
        event("message_stop", json!({"type": "message_stop"})),
    ]
    .into_iter()
    .map(text)
    .collect();
    let (events, error) = reply(ProviderKind::Anthropic, body).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        events[0],
        ChatEvent::ToolCall {
            id: "toolu_x".into(),
            name: "shell".into(),
            arguments: "{\"command\": ls".into()
        }
    );
}

#[tokio::test]
async fn unknown_event_types_are_ignored() {
    let mut body = anthropic_text_reply("still fine");
    body.insert(
        1,
        text(event(
            "future_event",
            json!({"type": "future_event", "x": 1}),
        )),
    );
    body.insert(3, text(": a comment\n\n"));
    body.insert(4, text("event: weird\ndata: not json at all\n\n"));
    let (events, error) = reply(ProviderKind::Anthropic, body).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(text_of(&events), "still fine");
}

#[tokio::test]
async fn a_reply_that_is_not_an_event_stream_is_malformed() {
    let server = TestServer::tcp(Script::json(200, json!({"id": "msg", "content": []}))).await;
    let client = client(ProviderKind::Anthropic, &server, None);
    let error = client.stream("m", &request("Hi")).await.unwrap_err();
    assert!(matches!(error, LlmError::Malformed { .. }), "{error}");
}

fn impatient(server: &TestServer) -> ProviderClient {
    let mut config = ProviderConfig::new(ProviderKind::Anthropic, server.base_url.clone());
    config.timeouts = Timeouts {
        connect: Duration::from_secs(2),
        first_byte: Duration::from_millis(300),
        idle: Duration::from_millis(300),
    };
    ProviderClient::new(config).unwrap()
}

#[tokio::test]
async fn a_provider_slow_to_start_times_out() {
    let mut body = vec![Piece::Pause(Duration::from_secs(3))];
    body.extend(anthropic_text_reply("late"));
    let server = TestServer::tcp(Script::event_stream(body)).await;
    let (events, error) = drain(
        impatient(&server)
            .stream("m", &request("Hi"))
            .await
            .unwrap(),
    )
    .await;
    assert!(events.is_empty());
    let error = error.unwrap();
    assert!(
        matches!(&error, LlmError::Timeout { waiting_for, .. } if waiting_for.contains("first bytes")),
        "{error}"
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_reply_that_stalls_times_out() {
    let mut body = anthropic_text_reply("stalled");
    body.insert(4, Piece::Pause(Duration::from_secs(3)));
    let server = TestServer::tcp(Script::event_stream(body)).await;
    let (events, error) = drain(
        impatient(&server)
            .stream("m", &request("Hi"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(text_of(&events), "stalled");
    let error = error.unwrap();
    assert!(
        matches!(&error, LlmError::Timeout { waiting_for, .. } if waiting_for.contains("next bytes")),
        "{error}"
    );
}

#[tokio::test]
async fn a_closed_port_is_a_retryable_connection_failure() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let client = ProviderClient::new(ProviderConfig::new(
        ProviderKind::OpenAi,
        format!("http://{address}/v1"),
    ))
    .unwrap();
    let error = client.stream("m", &request("Hi")).await.unwrap_err();
    assert!(matches!(error, LlmError::Connect { .. }), "{error}");
    assert!(error.is_retryable());
}
