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
        if let Body::Json(buffer) = std::mem::replace(&mut self.body, Body::GivenUp)
            && let Ok(document) = serde_json::from_slice::<Value>(&buffer)
        {
            // Both formats put a whole reply's usage under `usage`.
            self.count(document.get("usage"));
        }
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

#[cfg(test)]
mod tests;
