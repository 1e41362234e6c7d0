use serde_json::json;

use super::*;
use crate::types::{Message, ToolSpec};
use crate::wire::{ProviderKind, decode_in_pieces};

/// A reply in the documented event shapes: text, then a tool call whose input
/// arrives in several `input_json_delta` pieces, with a ping between.
const TOOL_REPLY: &str = "event: message_start\n\
data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-test\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":42,\"output_tokens\":1}}}\n\
\n\
event: content_block_start\n\
data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\
\n\
event: ping\n\
data: {\"type\": \"ping\"}\n\
\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Let me look.\"}}\n\
\n\
event: content_block_stop\n\
data: {\"type\":\"content_block_stop\",\"index\":0}\n\
\n\
event: content_block_start\n\
data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01\",\"name\":\"read_file\",\"input\":{}}}\n\
\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\
\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"pa\"}}\n\
\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"th\\\": \\\"notes\"}}\n\
\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\".md\\\"}\"}}\n\
\n\
event: content_block_stop\n\
data: {\"type\":\"content_block_stop\",\"index\":1}\n\
\n\
event: message_delta\n\
data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":57}}\n\
\n\
event: message_stop\n\
data: {\"type\":\"message_stop\"}\n\
\n";

fn tool_reply_events() -> Vec<ChatEvent> {
    vec![
        ChatEvent::TextDelta {
            text: "Let me look.".into(),
        },
        ChatEvent::ToolCall {
            id: "toolu_01".into(),
            name: "read_file".into(),
            arguments: r#"{"path": "notes.md"}"#.into(),
        },
        ChatEvent::Usage {
            usage: Usage {
                input_tokens: 42,
                output_tokens: 57,
            },
        },
        ChatEvent::Finished {
            reason: StopReason::ToolUse,
        },
    ]
}

#[test]
fn a_tool_reply_decodes_however_it_is_split() {
    for piece in [1, 2, 7, 64, TOOL_REPLY.len()] {
        let (events, error) = decode_in_pieces(ProviderKind::Anthropic, TOOL_REPLY, piece);
        assert_eq!(error, None, "pieces of {piece}");
        assert_eq!(events, tool_reply_events(), "pieces of {piece}");
    }
}

#[test]
fn crlf_line_endings_decode_the_same() {
    let crlf = TOOL_REPLY.replace('\n', "\r\n");
    let (events, error) = decode_in_pieces(ProviderKind::Anthropic, &crlf, 5);
    assert_eq!(error, None);
    assert_eq!(events, tool_reply_events());
}

#[test]
fn invalid_tool_input_json_is_passed_on_raw() {
    let stream = TOOL_REPLY.replace(r#".md\"}"#, r#".md\""#);
    assert_ne!(stream, TOOL_REPLY);
    let (events, error) = decode_in_pieces(ProviderKind::Anthropic, &stream, 64);
    assert_eq!(error, None);
    assert!(events.contains(&ChatEvent::ToolCall {
        id: "toolu_01".into(),
        name: "read_file".into(),
        arguments: r#"{"path": "notes.md""#.into(),
    }));
}

#[test]
fn a_tool_without_input_deltas_gets_an_empty_object() {
    let stream = "event: content_block_start\n\
data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"now\",\"input\":{}}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let (events, _) = decode_in_pieces(ProviderKind::Anthropic, stream, 64);
    assert_eq!(
        events[0],
        ChatEvent::ToolCall {
            id: "t".into(),
            name: "now".into(),
            arguments: "{}".into()
        }
    );
}

#[test]
fn unknown_events_blocks_and_deltas_are_ignored() {
    let stream = "event: message_start\n\
data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n\
event: something_new\ndata: not even json\n\n\
event: content_block_start\n\
data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
event: content_block_start\n\
data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"citations_delta\",\"citation\":{}}}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}\n\n\
event: message_delta\n\
data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let (events, error) = decode_in_pieces(ProviderKind::Anthropic, stream, 64);
    assert_eq!(error, None);
    assert_eq!(
        events,
        vec![
            ChatEvent::TextDelta { text: "ok".into() },
            ChatEvent::Usage {
                usage: Usage {
                    input_tokens: 3,
                    output_tokens: 2
                }
            },
            ChatEvent::Finished {
                reason: StopReason::EndTurn
            },
        ]
    );
}

#[test]
fn an_error_event_stops_the_reply_with_the_providers_complaint() {
    let stream = "event: message_start\n\
data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n\
event: error\n\
data: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n";
    let (events, error) = decode_in_pieces(ProviderKind::Anthropic, stream, 64);
    assert!(events.is_empty());
    assert_eq!(
        error,
        Some(DecodeError::Provider(ProviderComplaint {
            kind: Some("overloaded_error".into()),
            code: None,
            message: "Overloaded".into(),
        }))
    );
}

#[test]
fn malformed_events_are_refused() {
    for (stream, why) in [
        ("event: message_start\ndata: {not json\n\n", "not JSON"),
        ("event: message_start\ndata: [1,2]\n\n", "not an object"),
        (
            "event: content_block_delta\ndata: {\"index\":4,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n",
            "a delta for a block never started",
        ),
        (
            "event: content_block_start\ndata: {\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "a block without an index",
        ),
        (
            "event: content_block_start\ndata: {\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"name\":\"x\"}}\n\n",
            "a tool call without an id",
        ),
    ] {
        let (_, error) = decode_in_pieces(ProviderKind::Anthropic, stream, 64);
        assert!(
            matches!(error, Some(DecodeError::Malformed(_))),
            "{why}: {error:?}"
        );
    }
}

#[test]
fn a_reply_without_message_stop_is_not_finished() {
    let cut = &TOOL_REPLY[..TOOL_REPLY.find("event: message_stop").unwrap()];
    let (events, error) = decode_in_pieces(ProviderKind::Anthropic, cut, 64);
    assert!(matches!(error, Some(DecodeError::Truncated(_))));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ChatEvent::Finished { .. }))
    );
}

#[test]
fn stop_reasons_map_to_the_vocabulary() {
    assert_eq!(stop_reason(Some("end_turn")), StopReason::EndTurn);
    assert_eq!(stop_reason(Some("stop_sequence")), StopReason::EndTurn);
    assert_eq!(stop_reason(Some("tool_use")), StopReason::ToolUse);
    assert_eq!(stop_reason(Some("max_tokens")), StopReason::MaxTokens);
    assert_eq!(
        stop_reason(Some("refusal")),
        StopReason::Other("refusal".into())
    );
}

#[test]
fn cache_tokens_count_as_input() {
    let usage = reported_usage(&json!({
        "input_tokens": 5, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000,
        "output_tokens": 7
    }));
    assert_eq!(usage.input_tokens, Some(1105));
    assert_eq!(usage.output_tokens, Some(7));
}

fn conversation() -> ChatRequest {
    ChatRequest {
        system: Some("Be brief.".into()),
        messages: vec![
            Message::user("What is in notes.md?"),
            Message {
                role: Role::Assistant,
                content: vec![
                    Content::Text {
                        text: "Let me look.".into(),
                    },
                    Content::ToolCall {
                        id: "toolu_01".into(),
                        name: "read_file".into(),
                        arguments: r#"{"path":"notes.md"}"#.into(),
                    },
                    Content::ToolCall {
                        id: "toolu_02".into(),
                        name: "read_file".into(),
                        arguments: r#"{"path": broken"#.into(),
                    },
                ],
            },
            Message {
                role: Role::Tool,
                content: vec![
                    Content::ToolResult {
                        call_id: "toolu_01".into(),
                        content: "buy milk".into(),
                        is_error: false,
                    },
                    Content::ToolResult {
                        call_id: "toolu_02".into(),
                        content: "arguments are not JSON".into(),
                        is_error: true,
                    },
                ],
            },
            Message::user("Thanks."),
            Message::assistant(""),
        ],
        tools: vec![ToolSpec {
            name: "read_file".into(),
            description: "Reads a file.".into(),
            parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        }],
        max_tokens: 512,
        temperature: Some(0.0),
    }
}

#[test]
fn the_request_body_follows_the_messages_api() {
    let body = request_body("claude-test", &conversation());
    assert_eq!(
        body,
        json!({
            "model": "claude-test",
            "max_tokens": 512,
            "stream": true,
            "system": "Be brief.",
            "temperature": 0.0,
            "tools": [{
                "name": "read_file",
                "description": "Reads a file.",
                "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
            }],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "What is in notes.md?"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "toolu_01", "name": "read_file", "input": {"path": "notes.md"}},
                    {"type": "tool_use", "id": "toolu_02", "name": "read_file", "input": {}},
                ]},
                // Tool results and the next user turn merge, results first.
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01", "content": "buy milk", "is_error": false},
                    {"type": "tool_result", "tool_use_id": "toolu_02", "content": "arguments are not JSON", "is_error": true},
                    {"type": "text", "text": "Thanks."},
                ]},
                // The empty assistant turn is left out: the API refuses empty text.
            ],
        })
    );
}

#[test]
fn optional_fields_are_left_out() {
    let request = ChatRequest {
        system: None,
        messages: vec![Message::user("hi")],
        tools: vec![],
        max_tokens: 16,
        temperature: None,
    };
    let body = request_body("m", &request);
    for absent in ["system", "tools", "temperature"] {
        assert!(body.get(absent).is_none(), "{absent}");
    }
}
