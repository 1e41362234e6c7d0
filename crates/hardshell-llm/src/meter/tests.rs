use super::*;

const ANTHROPIC: &str = "event: message_start\n\
data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":120,\"cache_read_input_tokens\":30,\"output_tokens\":1}}}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"\\n\\nevent: message_delta\\ndata: {\\\"usage\\\":{\\\"output_tokens\\\":1}}\\n\\n\"}}\n\n\
event: message_delta\n\
data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":77}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

const OPENAI: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\\"usage\\\":{\\\"prompt_tokens\\\":1}\"}}]}\n\n\
data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
data: {\"choices\":[],\"usage\":{\"prompt_tokens\":31,\"completion_tokens\":9,\"total_tokens\":40}}\n\n\
data: [DONE]\n\n";

fn meter(kind: ProviderKind, body: &str, piece: usize) -> Option<Usage> {
    let mut meter = UsageMeter::new(kind);
    for bytes in body.as_bytes().chunks(piece) {
        meter.feed(bytes);
    }
    meter.finish()
}

#[test]
fn anthropic_streams_are_metered_however_they_are_split() {
    for piece in [1, 3, 100, ANTHROPIC.len()] {
        assert_eq!(
            meter(ProviderKind::Anthropic, ANTHROPIC, piece),
            Some(Usage {
                input_tokens: 150,
                output_tokens: 77
            }),
            "pieces of {piece}"
        );
    }
}

#[test]
fn openai_streams_are_metered_however_they_are_split() {
    for piece in [1, 7, OPENAI.len()] {
        assert_eq!(
            meter(ProviderKind::OpenAi, OPENAI, piece),
            Some(Usage {
                input_tokens: 31,
                output_tokens: 9
            })
        );
    }
}

#[test]
fn model_text_that_looks_like_usage_is_not_counted() {
    // Both streams above carry fake usage inside the model's text; had it been
    // counted, the Anthropic output would read 1 and the OpenAI input 1.
    let anthropic = meter(ProviderKind::Anthropic, ANTHROPIC, 64).unwrap();
    assert_eq!(anthropic.output_tokens, 77);
    let openai = meter(ProviderKind::OpenAi, OPENAI, 64).unwrap();
    assert_eq!(openai.input_tokens, 31);
}

#[test]
fn a_stream_without_usage_meters_nothing() {
    let stream = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    assert_eq!(meter(ProviderKind::OpenAi, stream, 64), None);
    assert_eq!(meter(ProviderKind::OpenAi, "", 64), None);
}

#[test]
fn a_cut_off_stream_keeps_what_was_reported() {
    let cut = &ANTHROPIC[..ANTHROPIC.find("event: content_block_delta").unwrap()];
    assert_eq!(
        meter(ProviderKind::Anthropic, cut, 64),
        Some(Usage {
            input_tokens: 150,
            output_tokens: 1
        })
    );
}

#[test]
fn whole_json_replies_are_metered() {
    let anthropic = r#" {"id":"msg_1","type":"message","content":[],"usage":{"input_tokens":10,"output_tokens":20}}"#;
    assert_eq!(
        meter(ProviderKind::Anthropic, anthropic, 5),
        Some(Usage {
            input_tokens: 10,
            output_tokens: 20
        })
    );
    let openai = r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#;
    assert_eq!(
        meter(ProviderKind::OpenAi, openai, 5),
        Some(Usage {
            input_tokens: 3,
            output_tokens: 4
        })
    );
}

#[test]
fn a_stream_without_line_breaks_stops_metering_without_growing() {
    let mut meter = UsageMeter::new(ProviderKind::OpenAi);
    meter.feed(OPENAI.as_bytes());
    let garbage = vec![b'x'; 1024 * 1024];
    for _ in 0..(crate::sse::MAX_EVENT_BYTES / garbage.len() + 2) {
        meter.feed(&garbage);
    }
    assert!(matches!(meter.body, Body::GivenUp));
    assert_eq!(meter.finish().map(|u| u.input_tokens), Some(31));
}

#[test]
fn a_stream_without_usage_is_estimated_from_the_bytes() {
    // 20 bytes of generated text in two deltas and 8 of tool arguments.
    let stream = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"0123456789\"}}]}\n\n\
data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"abcdefghij\",\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"q\\\":1}\"}}]}}]}\n\n\
data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    for piece in [1, 7, stream.len()] {
        let mut meter = UsageMeter::new(ProviderKind::OpenAi);
        for bytes in stream.as_bytes().chunks(piece) {
            meter.feed(bytes);
        }
        assert_eq!(
            meter.finish_or_estimate(401),
            Metered {
                usage: Usage {
                    input_tokens: 101,
                    output_tokens: 7
                },
                estimated: true
            }
        );
    }
}

#[test]
fn reported_usage_is_not_estimated() {
    let mut meter = UsageMeter::new(ProviderKind::OpenAi);
    meter.feed(OPENAI.as_bytes());
    assert_eq!(
        meter.finish_or_estimate(1_000_000),
        Metered {
            usage: Usage {
                input_tokens: 31,
                output_tokens: 9
            },
            estimated: false
        }
    );
}

#[test]
fn a_partial_report_is_completed_by_estimate() {
    // Anthropic's stream cut after message_start: input reported, output not.
    let start = &ANTHROPIC[..ANTHROPIC.rfind("event: message_delta").unwrap()];
    let start = start.replace("\"output_tokens\":1", "\"ignored\":1");
    let mut meter = UsageMeter::new(ProviderKind::Anthropic);
    meter.feed(start.as_bytes());
    let metered = meter.finish_or_estimate(10);
    assert!(metered.estimated);
    assert_eq!(metered.usage.input_tokens, 150);
    // The model's text: 60 bytes that look like an event but are only text.
    assert_eq!(metered.usage.output_tokens, 60_u64.div_ceil(4));
}

#[test]
fn whole_replies_without_usage_are_estimated() {
    let openai = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"12345678"}}]}"#;
    let mut meter = UsageMeter::new(ProviderKind::OpenAi);
    meter.feed(openai.as_bytes());
    let metered = meter.finish_or_estimate(0);
    assert_eq!(
        (metered.usage.input_tokens, metered.usage.output_tokens),
        (0, 2)
    );
    let anthropic =
        r#"{"content":[{"type":"text","text":"abcd"},{"type":"tool_use","input":{"a":1}}]}"#;
    let mut meter = UsageMeter::new(ProviderKind::Anthropic);
    meter.feed(anthropic.as_bytes());
    // 4 bytes of text + 7 of `{"a":1}` = 11 bytes: 3 tokens.
    assert_eq!(
        meter.finish_or_estimate(4).usage,
        Usage {
            input_tokens: 1,
            output_tokens: 3
        }
    );
}
