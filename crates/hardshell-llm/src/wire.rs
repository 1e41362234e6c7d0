//! The providers' wire formats: how a [`ChatRequest`] becomes a request body, and how
//! a streamed reply's events become [`ChatEvent`]s. Pure: no I/O here, so every
//! byte-level case is tested without a network.

pub mod anthropic;
pub mod openai;

use crate::error::ProviderComplaint;
use crate::sse::SseEvent;
use crate::types::{ChatEvent, ChatRequest};

/// Which wire format a provider speaks (the one set the config and the
/// agent's settings use too).
pub use hardshell_vocabulary::ProviderKind;

/// The request path of `kind`, appended to the provider's base URL.
pub fn chat_path(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Anthropic => "/v1/messages",
        ProviderKind::OpenAi => "/chat/completions",
    }
}

/// The streaming request body for `model` in `kind`'s format.
pub fn request_body(kind: ProviderKind, model: &str, request: &ChatRequest) -> serde_json::Value {
    match kind {
        ProviderKind::Anthropic => anthropic::request_body(model, request),
        ProviderKind::OpenAi => openai::request_body(model, request),
    }
}

/// A decoder for one reply in `kind`'s format.
pub fn decoder(kind: ProviderKind) -> ReplyDecoder {
    match kind {
        ProviderKind::Anthropic => ReplyDecoder::Anthropic(anthropic::Decoder::default()),
        ProviderKind::OpenAi => ReplyDecoder::OpenAi(openai::Decoder::default()),
    }
}

/// Why a reply's events could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// An event that is not the provider's documented format.
    Malformed(String),
    /// The provider reported an error inside the stream.
    Provider(ProviderComplaint),
    /// The stream ended before its end marker.
    Truncated(String),
}

/// Turns one reply's server-sent events into [`ChatEvent`]s. A reply that decodes
/// completely ends with exactly one [`ChatEvent::Finished`].
#[derive(Debug)]
pub enum ReplyDecoder {
    Anthropic(anthropic::Decoder),
    OpenAi(openai::Decoder),
}

impl ReplyDecoder {
    /// Decodes one event, appending what it completes to `out`.
    pub fn decode(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<ChatEvent>,
    ) -> Result<(), DecodeError> {
        match self {
            ReplyDecoder::Anthropic(decoder) => decoder.decode(event, out),
            ReplyDecoder::OpenAi(decoder) => decoder.decode(event, out),
        }
    }

    /// Whether the end marker has been decoded; later events are to be ignored.
    pub fn is_finished(&self) -> bool {
        match self {
            ReplyDecoder::Anthropic(decoder) => decoder.is_finished(),
            ReplyDecoder::OpenAi(decoder) => decoder.is_finished(),
        }
    }
}

/// Token counts as one provider message reported them; either may be missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ReportedUsage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

/// Parses an event's data as a JSON object.
fn json_object(event: &SseEvent) -> Result<serde_json::Value, DecodeError> {
    match serde_json::from_str::<serde_json::Value>(&event.data) {
        Ok(value) if value.is_object() => Ok(value),
        Ok(_) => Err(DecodeError::Malformed(format!(
            "{} event data is not a JSON object",
            event.event
        ))),
        Err(e) => Err(DecodeError::Malformed(format!(
            "{} event data is not JSON: {e}",
            event.event
        ))),
    }
}

fn u64_at(value: &serde_json::Value, pointer: &str) -> Option<u64> {
    value.pointer(pointer).and_then(serde_json::Value::as_u64)
}

fn str_at<'a>(value: &'a serde_json::Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(serde_json::Value::as_str)
}

/// Decodes a whole stream fed in pieces of `piece` bytes: what a reply decodes to,
/// and the error that stopped it, if any.
#[cfg(test)]
pub(crate) fn decode_in_pieces(
    kind: ProviderKind,
    stream: &str,
    piece: usize,
) -> (Vec<ChatEvent>, Option<DecodeError>) {
    let mut parser = crate::sse::SseParser::new();
    let mut decoder = decoder(kind);
    let mut events = Vec::new();
    for bytes in stream.as_bytes().chunks(piece) {
        for event in parser.feed(bytes).unwrap() {
            if let Err(e) = decoder.decode(&event, &mut events) {
                return (events, Some(e));
            }
        }
    }
    if !decoder.is_finished() {
        return (events, Some(DecodeError::Truncated("no end marker".into())));
    }
    (events, None)
}
