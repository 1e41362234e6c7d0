use serde_json::json;

use super::*;
use crate::types::{Message, ToolSpec};
use crate::wire::{ProviderKind, decode_in_pieces};

fn chunk(delta: serde_json::Value, finish_reason: Option<&str>) -> String {
    let chunk = json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    });
    format!("data: {chunk}\n\n")
}

const USAGE: &str = "data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":31,\"completion_tokens\":9,\"total_tokens\":40}}\n\n";

fn tool_reply() -> String {
    [
        chunk(json!({"role": "assistant", "content": null}), None),
        chunk(json!({"content": "Checking"}), None),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
            "function": {"name": "read_file", "arguments": ""}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"pa"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
            "function": {"name": "now", "arguments": "{}"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "th\": \"a\"}"}}]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
        USAGE.to_owned(),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat()
}

#[test]
fn index_keyed_tool_call_pieces_are_assembled() {
    let stream = tool_reply();
    for piece in [1, 3, 50, stream.len()] {
        let (events, error) = decode_in_pieces(ProviderKind::OpenAi, &stream, piece);
        assert_eq!(error, None);
        assert_eq!(
            events,
            vec![
                ChatEvent::TextDelta {
                    text: "Checking".into()
                },
                ChatEvent::ToolCall {
                    id: "call_a".into(),
                    name: "read_file".into(),
                    arguments: r#"{"path": "a"}"#.into()
                },
                ChatEvent::ToolCall {
                    id: "call_b".into(),
                    name: "now".into(),
                    arguments: "{}".into()
                },
                ChatEvent::Usage {
                    usage: Usage {
                        input_tokens: 31,
                        output_tokens: 9
                    }
                },
                ChatEvent::Finished {
                    reason: StopReason::ToolUse
                },
            ],
            "pieces of {piece}"
        );
    }
}

#[test]
fn a_name_repeated_in_every_chunk_is_one_name() {
    // llama-cpp-python's server, when `tool_choice` names a function: the
    // id and the whole name in every chunk, the arguments in pieces.
    let piece = |arguments: &str| {
        chunk(
            json!({"role": null, "content": null,
                "function_call": {"name": "web-search__search", "arguments": arguments},
                "tool_calls": [{"index": 0, "id": "call__0_web-search__search_cmpl-1", "type": "function",
                    "function": {"name": "web-search__search", "arguments": arguments}}]}),
            None,
        )
    };
    let stream = [
        piece("{\"query\""),
        piece(": \"rust\""),
        piece("}"),
        chunk(
            json!({"role": null, "content": null, "tool_calls": null}),
            Some("tool_calls"),
        ),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, error) = decode_in_pieces(ProviderKind::OpenAi, &stream, stream.len());
    assert_eq!(error, None);
    assert_eq!(
        events,
        vec![
            ChatEvent::ToolCall {
                id: "call__0_web-search__search_cmpl-1".into(),
                name: "web-search__search".into(),
                arguments: r#"{"query": "rust"}"#.into()
            },
            ChatEvent::Finished {
                reason: StopReason::ToolUse
            },
        ]
    );
}

/// The tool call a stream of `pieces` (each a `tool_calls` entry) ends as.
fn streamed_call(pieces: &[serde_json::Value]) -> Vec<ChatEvent> {
    let mut stream: String = pieces
        .iter()
        .map(|piece| chunk(json!({ "tool_calls": [piece] }), None))
        .collect();
    stream.push_str(&chunk(json!({}), Some("tool_calls")));
    stream.push_str("data: [DONE]\n\n");
    let (events, error) = decode_in_pieces(ProviderKind::OpenAi, &stream, stream.len());
    assert_eq!(error, None);
    events
}

#[test]
fn a_repeated_name_with_the_calls_id_is_one_name_though_no_arguments_came_yet() {
    // llama-cpp-python's shape, when the first token of the arguments is
    // empty text: the repeat comes before any argument does.
    let piece = |arguments: &str| {
        json!({"index": 0, "id": "call__0_now_cmpl-1", "type": "function",
            "function": {"name": "now", "arguments": arguments}})
    };
    assert_eq!(
        streamed_call(&[piece(""), piece(""), piece("{}")])[0],
        ChatEvent::ToolCall {
            id: "call__0_now_cmpl-1".into(),
            name: "now".into(),
            arguments: "{}".into()
        }
    );
}

#[test]
fn a_name_streamed_in_pieces_keeps_a_piece_equal_to_all_before_it() {
    // A server that streams the name: the id once, then pieces of the
    // name, the second equal to the first, before the arguments begin;
    // then the whole name once more, after them, which is a repeat.
    let events = streamed_call(&[
        json!({"index": 0, "id": "call_a", "type": "function", "function": {"name": "ab", "arguments": ""}}),
        json!({"index": 0, "function": {"name": "ab"}}),
        json!({"index": 0, "function": {"arguments": "{}"}}),
        json!({"index": 0, "function": {"name": "abab"}}),
    ]);
    assert_eq!(
        events[0],
        ChatEvent::ToolCall {
            id: "call_a".into(),
            name: "abab".into(),
            arguments: "{}".into()
        }
    );
}

#[test]
fn a_server_that_sends_no_usage_still_finishes() {
    let stream = [
        chunk(json!({"content": "Hi"}), None),
        chunk(json!({}), Some("length")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, error) = decode_in_pieces(ProviderKind::OpenAi, &stream, 64);
    assert_eq!(error, None);
    assert_eq!(
        events,
        vec![
            ChatEvent::TextDelta { text: "Hi".into() },
            ChatEvent::Finished {
                reason: StopReason::MaxTokens
            },
        ]
    );
}

#[test]
fn calls_without_ids_or_indexes_get_them() {
    let stream = [
        chunk(
            json!({"tool_calls": [
                {"function": {"name": "a", "arguments": "{}"}},
                {"function": {"name": "b", "arguments": "{\"x\":1}"}},
            ]}),
            Some("tool_calls"),
        ),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, _) = decode_in_pieces(ProviderKind::OpenAi, &stream, 64);
    assert_eq!(
        events[..2],
        [
            ChatEvent::ToolCall {
                id: "call_0".into(),
                name: "a".into(),
                arguments: "{}".into()
            },
            ChatEvent::ToolCall {
                id: "call_1".into(),
                name: "b".into(),
                arguments: "{\"x\":1}".into()
            },
        ]
    );
}

#[test]
fn invalid_call_arguments_are_passed_on_raw() {
    let stream = [
        chunk(json!({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "a", "arguments": "{\"x\": tru"}}]}), Some("tool_calls")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, error) = decode_in_pieces(ProviderKind::OpenAi, &stream, 64);
    assert_eq!(error, None);
    assert_eq!(
        events[0],
        ChatEvent::ToolCall {
            id: "c".into(),
            name: "a".into(),
            arguments: "{\"x\": tru".into()
        }
    );
}

#[test]
fn finish_reasons_map_to_the_vocabulary() {
    assert_eq!(finish_reason("stop"), StopReason::EndTurn);
    assert_eq!(finish_reason("tool_calls"), StopReason::ToolUse);
    assert_eq!(finish_reason("length"), StopReason::MaxTokens);
    assert_eq!(
        finish_reason("content_filter"),
        StopReason::Other("content_filter".into())
    );
}

#[test]
fn an_error_chunk_stops_the_reply() {
    let stream = [
        chunk(json!({"content": "Hi"}), None),
        "data: {\"error\":{\"message\":\"upstream overloaded\",\"code\":502}}\n\n".to_owned(),
    ]
    .concat();
    let (events, error) = decode_in_pieces(ProviderKind::OpenAi, &stream, 64);
    assert_eq!(events.len(), 1);
    assert_eq!(
        error,
        Some(DecodeError::Provider(ProviderComplaint {
            kind: None,
            code: Some("502".into()),
            message: "upstream overloaded".into()
        }))
    );
}

#[test]
fn malformed_chunks_are_refused() {
    for stream in [
        "data: {\"choices\": [\n\n".to_owned(),
        "data: 42\n\n".to_owned(),
        [
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
                Some("tool_calls"),
            ),
            "data: [DONE]\n\n".to_owned(),
        ]
        .concat(),
    ] {
        let (_, error) = decode_in_pieces(ProviderKind::OpenAi, &stream, 64);
        assert!(
            matches!(error, Some(DecodeError::Malformed(_))),
            "{stream}: {error:?}"
        );
    }
}

#[test]
fn a_reply_without_done_is_not_finished() {
    let stream = tool_reply().replace("data: [DONE]\n\n", "");
    let (events, error) = decode_in_pieces(ProviderKind::OpenAi, &stream, 64);
    assert!(matches!(error, Some(DecodeError::Truncated(_))));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ChatEvent::Finished { .. }))
    );
}

#[test]
fn done_without_a_finish_reason_is_a_cut_off_reply() {
    let stream = [
        chunk(json!({"content": "Hi"}), None),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, error) = decode_in_pieces(ProviderKind::OpenAi, &stream, 64);
    assert!(
        matches!(error, Some(DecodeError::Truncated(_))),
        "{error:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ChatEvent::Finished { .. }))
    );
}

#[test]
fn named_events_are_not_chunks_and_are_ignored() {
    let stream = [
        "event: keepalive\ndata: {}\n\n".to_owned(),
        ": comment\n\n".to_owned(),
        chunk(json!({"content": "Hi"}), Some("stop")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, error) = decode_in_pieces(ProviderKind::OpenAi, &stream, 64);
    assert_eq!(error, None);
    assert_eq!(events.len(), 2);
}

#[test]
fn the_request_body_follows_chat_completions() {
    let request = ChatRequest {
        system: Some("Be brief.".into()),
        messages: vec![
            Message::user("What is in notes.md?"),
            Message {
                role: Role::Assistant,
                content: vec![Content::ToolCall {
                    id: "call_a".into(),
                    name: "read_file".into(),
                    arguments: r#"{"path":"notes.md"}"#.into(),
                }],
            },
            Message {
                role: Role::Tool,
                content: vec![Content::ToolResult {
                    call_id: "call_a".into(),
                    content: "no such file".into(),
                    is_error: true,
                }],
            },
            Message::assistant("It is missing."),
        ],
        tools: vec![ToolSpec {
            name: "read_file".into(),
            description: "Reads a file.".into(),
            parameters: json!({"type": "object"}),
        }],
        max_tokens: 100,
        temperature: Some(0.5),
    };
    assert_eq!(
        request_body("smollm2", &request),
        json!({
            "model": "smollm2",
            "max_tokens": 100,
            "stream": true,
            "stream_options": {"include_usage": true},
            "temperature": 0.5,
            "tools": [{"type": "function", "function": {
                "name": "read_file", "description": "Reads a file.", "parameters": {"type": "object"},
            }}],
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is in notes.md?"},
                {"role": "assistant", "content": "", "tool_calls": [{
                    "id": "call_a", "type": "function",
                    "function": {"name": "read_file", "arguments": "{\"path\":\"notes.md\"}"},
                }]},
                {"role": "tool", "tool_call_id": "call_a", "content": "error: no such file"},
                {"role": "assistant", "content": "It is missing."},
            ],
        })
    );
}
