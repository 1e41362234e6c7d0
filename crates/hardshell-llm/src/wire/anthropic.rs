//! Anthropic's Messages API (`POST /v1/messages`, `anthropic-version: 2023-06-01`),
//! streamed: `message_start`, then per content block `content_block_start`,
//! `content_block_delta`s and `content_block_stop`, then `message_delta` (stop reason,
//! output tokens) and `message_stop`; `ping` and `error` may come at any point, and
//! event types added later are ignored, as Anthropic's versioning policy asks.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{DecodeError, ReportedUsage, json_object, str_at, u64_at};
use crate::error::ProviderComplaint;
use crate::sse::SseEvent;
use crate::types::{ChatEvent, ChatRequest, Content, Role, StopReason, Usage};

/// The `anthropic-version` header value this adapter speaks.
pub const API_VERSION: &str = "2023-06-01";

/// The streaming request body.
pub fn request_body(model: &str, request: &ChatRequest) -> Value {
    let mut body = json!({
        "model": model,
        "max_tokens": request.max_tokens,
        "stream": true,
        "messages": messages(request),
    });
    if let Some(system) = request.system.as_deref().filter(|s| !s.is_empty()) {
        body["system"] = json!(system);
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.parameters,
                })
            })
            .collect();
    }
    body
}

/// Anthropic knows two roles: tool results travel in user turns. Consecutive turns
/// of one role are merged into one, with tool results first, as the API requires.
fn messages(request: &ChatRequest) -> Vec<Value> {
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in &request.messages {
        let role = match message.role {
            Role::Assistant => "assistant",
            Role::User | Role::Tool => "user",
        };
        let blocks = message.content.iter().filter_map(block);
        match turns.last_mut() {
            Some((last, content)) if *last == role => content.extend(blocks),
            _ => turns.push((role, blocks.collect())),
        }
    }
    turns
        .into_iter()
        .filter(|(_, content)| !content.is_empty())
        .map(|(role, mut content)| {
            content.sort_by_key(|block| block["type"] != "tool_result");
            json!({ "role": role, "content": content })
        })
        .collect()
}

fn block(part: &Content) -> Option<Value> {
    Some(match part {
        // The API refuses empty text blocks.
        Content::Text { text } if text.is_empty() => return None,
        Content::Text { text } => json!({ "type": "text", "text": text }),
        Content::ToolCall {
            id,
            name,
            arguments,
        } => {
            // `input` must be an object. Arguments the model once produced as invalid
            // JSON are sent as `{}`: the tool result that follows says what was wrong.
            let input = match serde_json::from_str::<Value>(arguments) {
                Ok(input) if input.is_object() => input,
                _ => json!({}),
            };
            json!({ "type": "tool_use", "id": id, "name": name, "input": input })
        }
        Content::ToolResult {
            call_id,
            content,
            is_error,
        } => json!({
            "type": "tool_result",
            "tool_use_id": call_id,
            "content": content,
            "is_error": is_error,
        }),
    })
}

/// One content block of the reply being streamed.
#[derive(Debug)]
enum Block {
    Text,
    ToolUse {
        id: String,
        name: String,
        input: String,
    },
    /// Thinking, server tools and block types added later: not part of the reply.
    Other,
}

/// Decodes one streamed reply.
#[derive(Debug, Default)]
pub struct Decoder {
    blocks: HashMap<u64, Block>,
    input_tokens: u64,
    output_tokens: u64,
    stop_reason: Option<String>,
    finished: bool,
}

impl Decoder {
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    pub fn decode(
        &mut self,
        event: &SseEvent,
        out: &mut Vec<ChatEvent>,
    ) -> Result<(), DecodeError> {
        if self.finished {
            return Ok(());
        }
        match event.event.as_str() {
            "message_start" => {
                let data = json_object(event)?;
                self.read_usage(data.pointer("/message/usage"));
            }
            "content_block_start" => {
                let data = json_object(event)?;
                let index = block_index(&data)?;
                let block = match str_at(&data, "/content_block/type") {
                    Some("text") => {
                        let text = str_at(&data, "/content_block/text").unwrap_or_default();
                        push_text(out, text);
                        Block::Text
                    }
                    Some("tool_use") => Block::ToolUse {
                        id: required_str(&data, "/content_block/id")?,
                        name: required_str(&data, "/content_block/name")?,
                        input: String::new(),
                    },
                    _ => Block::Other,
                };
                self.blocks.insert(index, block);
            }
            "content_block_delta" => {
                let data = json_object(event)?;
                let index = block_index(&data)?;
                let block = self.blocks.get_mut(&index).ok_or_else(|| {
                    DecodeError::Malformed(format!(
                        "delta for content block {index}, never started"
                    ))
                })?;
                match (block, str_at(&data, "/delta/type")) {
                    (Block::Text, Some("text_delta")) => {
                        push_text(out, &required_str(&data, "/delta/text")?);
                    }
                    (Block::ToolUse { input, .. }, Some("input_json_delta")) => {
                        input.push_str(&required_str(&data, "/delta/partial_json")?);
                    }
                    // Citations, thinking, signatures, and deltas of ignored blocks.
                    _ => {}
                }
            }
            "content_block_stop" => {
                let data = json_object(event)?;
                let index = block_index(&data)?;
                if let Some(Block::ToolUse { id, name, input }) = self.blocks.remove(&index) {
                    // A tool without parameters streams no JSON at all: its input is {}.
                    // Invalid JSON is passed on as it came, for the caller to report.
                    let arguments = if input.is_empty() {
                        "{}".to_owned()
                    } else {
                        input
                    };
                    out.push(ChatEvent::ToolCall {
                        id,
                        name,
                        arguments,
                    });
                }
            }
            "message_delta" => {
                let data = json_object(event)?;
                if let Some(reason) = str_at(&data, "/delta/stop_reason") {
                    self.stop_reason = Some(reason.to_owned());
                }
                self.read_usage(data.get("usage"));
            }
            "message_stop" => {
                self.finished = true;
                out.push(ChatEvent::Usage {
                    usage: Usage {
                        input_tokens: self.input_tokens,
                        output_tokens: self.output_tokens,
                    },
                });
                out.push(ChatEvent::Finished {
                    reason: stop_reason(self.stop_reason.as_deref()),
                });
            }
            "error" => {
                let data = json_object(event)?;
                return Err(DecodeError::Provider(ProviderComplaint::from_json(&data)));
            }
            // `ping`, and event types added later.
            _ => {}
        }
        Ok(())
    }

    fn read_usage(&mut self, usage: Option<&Value>) {
        let reported = usage.map(reported_usage).unwrap_or_default();
        self.input_tokens = reported.input_tokens.unwrap_or(self.input_tokens);
        self.output_tokens = reported.output_tokens.unwrap_or(self.output_tokens);
    }
}

/// A `usage` object as `message_start`, `message_delta` and whole messages carry it.
/// Counts are totals so far: a later report replaces an earlier one. Tokens read
/// from or written to the prompt cache are input too.
pub(crate) fn reported_usage(usage: &Value) -> ReportedUsage {
    let field = |name: &str| usage.get(name).and_then(Value::as_u64);
    ReportedUsage {
        input_tokens: [
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
        ]
        .into_iter()
        .filter_map(field)
        .reduce(u64::saturating_add),
        output_tokens: field("output_tokens"),
    }
}

fn push_text(out: &mut Vec<ChatEvent>, text: &str) {
    if !text.is_empty() {
        out.push(ChatEvent::TextDelta {
            text: text.to_owned(),
        });
    }
}

fn block_index(data: &Value) -> Result<u64, DecodeError> {
    u64_at(data, "/index")
        .ok_or_else(|| DecodeError::Malformed("content block event without an index".into()))
}

fn required_str(data: &Value, pointer: &str) -> Result<String, DecodeError> {
    str_at(data, pointer)
        .map(str::to_owned)
        .ok_or_else(|| DecodeError::Malformed(format!("event without {pointer}")))
}

fn stop_reason(reason: Option<&str>) -> StopReason {
    match reason {
        // `stop_sequence`: hardshell sends no stop sequences, but one that matched
        // still ends a complete reply.
        Some("end_turn" | "stop_sequence") => StopReason::EndTurn,
        Some("tool_use") => StopReason::ToolUse,
        Some("max_tokens") => StopReason::MaxTokens,
        Some(other) => StopReason::Other(other.to_owned()),
        None => StopReason::Other("unspecified".to_owned()),
    }
}

#[cfg(test)]
mod tests;
