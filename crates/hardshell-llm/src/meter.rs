//! [`UsageMeter`]: the tokens a reply consumed, read by the edge from the provider's
//! raw bytes as it relays them. The agent shapes the request but cannot touch the
//! reply between provider and edge, so what the meter counts is what the provider
//! reported. A model's own text cannot pass for usage: it travels JSON-escaped inside
//! `data:` lines, where it can open no event of its own.

use serde_json::Value;

use crate::sse::SseParser;
use crate::types::Usage;
use crate::wire::{ProviderKind, ReportedUsage, anthropic, openai};

/// Largest non-streamed body buffered for metering.
pub const MAX_JSON_BODY_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug)]
pub struct UsageMeter {
    kind: ProviderKind,
    body: Body,
    counted: ReportedUsage,
    /// Bytes of generated text and tool arguments seen, for an estimate when the
    /// provider reports no usage.
    generated_bytes: u64,
}

/// Bytes per token assumed when a provider reports no usage: about right for
/// English with the common tokenizers, and generous for code.
pub const ESTIMATE_BYTES_PER_TOKEN: u64 = 4;

/// A reply's usage as the edge will record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metered {
    pub usage: Usage,
    /// The provider reported no usage (or only part of it) and the missing
    /// counts were estimated from the bytes sent and received.
    pub estimated: bool,
}

/// What the body turned out to be, from its first non-blank byte.
#[derive(Debug)]
enum Body {
    Unknown,
    /// A server-sent event stream.
    Events(SseParser),
    /// A JSON document (a reply asked for without streaming), parsed at the end.
    Json(Vec<u8>),
    /// Past a limit or unparseable: metering stopped; what was counted stays.
    GivenUp,
}

impl UsageMeter {
    pub fn new(kind: ProviderKind) -> Self {
        Self {
            kind,
            body: Body::Unknown,
            counted: ReportedUsage::default(),
            generated_bytes: 0,
        }
    }

    /// Reads the next piece of the body.
    pub fn feed(&mut self, bytes: &[u8]) {
        if let Body::Unknown = self.body {
            match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
                Some(b'{') => self.body = Body::Json(Vec::new()),
                Some(_) => self.body = Body::Events(SseParser::new()),
                None => return,
            }
        }
        match &mut self.body {
            Body::Events(parser) => match parser.feed(bytes) {
                Ok(events) => {
                    for event in events {
                        let Ok(data) = serde_json::from_str::<Value>(&event.data) else {
                            continue; // `[DONE]`, or nothing a usage could be in
                        };
                        let usage = match (self.kind, event.event.as_str()) {
                            (ProviderKind::Anthropic, "message_start") => {
                                data.pointer("/message/usage")
                            }
                            (ProviderKind::Anthropic, "message_delta") => data.get("usage"),
                            (ProviderKind::OpenAi, "message") => data.get("usage"),
                            _ => None,
                        };
                        self.count(usage);
                        self.generated_bytes += generated_in_event(self.kind, &data);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "usage metering stopped: unparseable event stream");
                    self.body = Body::GivenUp;
                }
            },
            Body::Json(buffer) => {
                if buffer.len() + bytes.len() > MAX_JSON_BODY_BYTES {
                    tracing::warn!(
                        "usage metering stopped: reply body over {MAX_JSON_BODY_BYTES} bytes"
                    );
                    self.body = Body::GivenUp;
                } else {
                    buffer.extend_from_slice(bytes);
                }
            }
            Body::Unknown | Body::GivenUp => {}
        }
    }

    /// The usage the provider reported, if it reported any.
    pub fn finish(mut self) -> Option<Usage> {
        self.finish_body();
        self.reported()
    }

    /// The usage the provider reported, with what it left out estimated from
    /// the request's size and the text generated. Some OpenAI-compatible servers
    /// (llama.cpp's Python server among them) never report usage when
    /// streaming; an unmetered reply must not be a free one on a paid model.
    pub fn finish_or_estimate(mut self, request_bytes: usize) -> Metered {
        self.finish_body();
        let estimate = |bytes: u64| bytes.div_ceil(ESTIMATE_BYTES_PER_TOKEN);
        let ReportedUsage {
            input_tokens,
            output_tokens,
        } = self.counted;
        Metered {
            usage: Usage {
                input_tokens: input_tokens
                    .unwrap_or_else(|| estimate(u64::try_from(request_bytes).unwrap_or(u64::MAX))),
                output_tokens: output_tokens.unwrap_or_else(|| estimate(self.generated_bytes)),
            },
            estimated: input_tokens.is_none() || output_tokens.is_none(),
        }
    }

    fn finish_body(&mut self) {
        if let Body::Json(buffer) = std::mem::replace(&mut self.body, Body::GivenUp)
            && let Ok(document) = serde_json::from_slice::<Value>(&buffer)
        {
            // Both formats put a whole reply's usage under `usage`.
            self.count(document.get("usage"));
            self.generated_bytes += generated_in_reply(self.kind, &document);
        }
    }

    fn reported(&self) -> Option<Usage> {
        let ReportedUsage {
            input_tokens,
            output_tokens,
        } = self.counted;
        if input_tokens.is_none() && output_tokens.is_none() {
            return None;
        }
        Some(Usage {
            input_tokens: input_tokens.unwrap_or(0),
            output_tokens: output_tokens.unwrap_or(0),
        })
    }

    /// Counts are totals so far, so a later report replaces an earlier one.
    fn count(&mut self, usage: Option<&Value>) {
        let Some(usage) = usage.filter(|u| u.is_object()) else {
            return;
        };
        let reported = match self.kind {
            ProviderKind::Anthropic => anthropic::reported_usage(usage),
            ProviderKind::OpenAi => openai::reported_usage(usage),
        };
        self.counted.input_tokens = reported.input_tokens.or(self.counted.input_tokens);
        self.counted.output_tokens = reported.output_tokens.or(self.counted.output_tokens);
    }
}

/// Bytes of text and tool arguments generated in one streamed event.
fn generated_in_event(kind: ProviderKind, data: &Value) -> u64 {
    let deltas: Vec<&Value> = match kind {
        ProviderKind::Anthropic => data.get("delta").into_iter().collect(),
        ProviderKind::OpenAi => data
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|choice| choice.get("delta"))
            .collect(),
    };
    deltas.into_iter().map(generated_in).sum()
}

/// Bytes of text and tool arguments in a whole (non-streamed) reply.
fn generated_in_reply(kind: ProviderKind, document: &Value) -> u64 {
    match kind {
        ProviderKind::Anthropic => document
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|block| {
                generated_in(block)
                    + block
                        .get("input")
                        .map_or(0, |input| input.to_string().len() as u64)
            })
            .sum(),
        ProviderKind::OpenAi => document
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|choice| choice.get("message"))
            .map(generated_in)
            .sum(),
    }
}

/// Text-bearing fields of a delta, message or content block, in either format.
fn generated_in(part: &Value) -> u64 {
    let text = |value: Option<&Value>| value.and_then(Value::as_str).map_or(0, |s| s.len() as u64);
    let tool_arguments: u64 = part
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|call| text(call.pointer("/function/arguments")))
        .sum();
    text(part.get("content"))
        + text(part.get("text"))
        + text(part.get("partial_json"))
        + text(part.get("thinking"))
        + tool_arguments
}

#[cfg(test)]
mod tests;
