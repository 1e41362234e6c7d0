//! OpenAI's Chat Completions (`POST {base}/chat/completions`), as OpenAI and the
//! servers compatible with it (llama.cpp, Ollama, vLLM, OpenRouter) stream it: `data:`
//! chunks whose `choices[0].delta` carries text and index-keyed pieces of tool calls,
//! a `finish_reason`, a last chunk with `usage` (when asked for with `stream_options`;
//! some servers never send one), and `data: [DONE]`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{DecodeError, ReportedUsage, json_object, str_at, u64_at};
use crate::error::ProviderComplaint;
use crate::sse::SseEvent;
use crate::types::{ChatEvent, ChatRequest, Content, Role, StopReason, Usage};

/// The streaming request body. `max_tokens` rather than OpenAI's newer
/// `max_completion_tokens`: every compatible server understands the former.
pub fn request_body(model: &str, request: &ChatRequest) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = request.system.as_deref().filter(|s| !s.is_empty()) {
        messages.push(json!({ "role": "system", "content": system }));
    }
    for message in &request.messages {
        push_message(&mut messages, message.role, &message.content);
    }
    let mut body = json!({
        "model": model,
        "messages": messages,
        "max_tokens": request.max_tokens,
        "stream": true,
        "stream_options": { "include_usage": true },
    });
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    },
                })
            })
            .collect();
    }
    body
}

/// One message becomes one chat message, plus one `role: "tool"` message per tool
/// result (the format has no other place for them).
fn push_message(messages: &mut Vec<Value>, role: Role, content: &[Content]) {
    let text: String = content
        .iter()
        .filter_map(|part| match part {
            Content::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let calls: Vec<Value> = content
        .iter()
        .filter_map(|part| match part {
            Content::ToolCall {
                id,
                name,
                arguments,
            } => Some(json!({
                "id": id,
                "type": "function",
                "function": { "name": name, "arguments": arguments },
            })),
            _ => None,
        })
        .collect();
    for part in content {
        if let Content::ToolResult {
            call_id,
            content,
            is_error,
        } = part
        {
            // The format has no error flag; the model reads it from the text.
            let content = if *is_error {
                format!("error: {content}")
            } else {
                content.clone()
            };
            messages.push(json!({ "role": "tool", "tool_call_id": call_id, "content": content }));
        }
    }
    match role {
        Role::Assistant if !calls.is_empty() => {
            // Empty text is sent as "", not null: the format allows either
            // beside tool calls, and llama-cpp-python's server refuses null
            // (its request model requires a string), so a turn after a tool
            // call would fail there.
            messages.push(json!({ "role": "assistant", "content": text, "tool_calls": calls }));
        }
        Role::Assistant if !text.is_empty() => {
            messages.push(json!({ "role": "assistant", "content": text }));
        }
        Role::User | Role::Tool if !text.is_empty() => {
            messages.push(json!({ "role": "user", "content": text }));
        }
        _ => {}
    }
}

#[derive(Debug, Default)]
struct PendingCall {
    id: String,
    name: String,
    arguments: String,
}

impl PendingCall {
    /// Whether `name`, in a later chunk of this call, is its whole name
    /// sent again rather than the next piece of it. OpenAI sends the name
    /// once, in the call's first chunk; a server that streams it in pieces
    /// sends them all before the arguments begin, and a piece may equal
    /// everything before it ("ab", then "ab", of "abab"). llama-cpp-python's
    /// server sends the whole name again in every chunk, beside the call's
    /// id and a piece of the arguments (which may be empty). So a name equal
    /// to the one so far is a repeat only once the arguments have begun, or
    /// when the chunk carries the id the call already has.
    fn repeats_name(&self, name: &str, same_id: bool) -> bool {
        self.name == name && (same_id || !self.arguments.is_empty())
    }
}

/// Decodes one streamed reply.
#[derive(Debug, Default)]
pub struct Decoder {
    calls: BTreeMap<u64, PendingCall>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
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
        // Chunks are unnamed events; named ones are not part of the format.
        if event.event != "message" {
            return Ok(());
        }
        if event.data.trim() == "[DONE]" {
            return self.finish(out);
        }
        let chunk = json_object(event)?;
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            let mut complaint = ProviderComplaint::from_json(error);
            if complaint.message.is_empty() {
                complaint.message = error.to_string();
            }
            return Err(DecodeError::Provider(complaint));
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            let reported = reported_usage(usage);
            self.usage = Some(Usage {
                input_tokens: reported.input_tokens.unwrap_or(0),
                output_tokens: reported.output_tokens.unwrap_or(0),
            });
        }
        // hardshell asks for one choice; the usage chunk has none.
        let Some(choice) = chunk.pointer("/choices/0") else {
            return Ok(());
        };
        if let Some(text) = str_at(choice, "/delta/content").filter(|t| !t.is_empty()) {
            out.push(ChatEvent::TextDelta {
                text: text.to_owned(),
            });
        }
        if let Some(calls) = choice
            .pointer("/delta/tool_calls")
            .and_then(Value::as_array)
        {
            for (position, call) in calls.iter().enumerate() {
                // Some servers leave out `index` when they send a call whole.
                let index = u64_at(call, "/index").unwrap_or(position as u64);
                let pending = self.calls.entry(index).or_default();
                let id = str_at(call, "/id").filter(|id| !id.is_empty());
                let same_id = id.is_some_and(|id| id == pending.id);
                if let Some(id) = id {
                    pending.id = id.to_owned();
                }
                if let Some(name) = str_at(call, "/function/name")
                    && !pending.repeats_name(name, same_id)
                {
                    pending.name.push_str(name);
                }
                if let Some(arguments) = str_at(call, "/function/arguments") {
                    pending.arguments.push_str(arguments);
                }
            }
        }
        if let Some(reason) = str_at(choice, "/finish_reason") {
            self.finish_reason = Some(reason.to_owned());
            // The calls are complete now; the usage chunk may still follow.
            self.flush_calls(out)?;
        }
        Ok(())
    }

    fn flush_calls(&mut self, out: &mut Vec<ChatEvent>) -> Result<(), DecodeError> {
        for (index, call) in std::mem::take(&mut self.calls) {
            if call.name.is_empty() {
                return Err(DecodeError::Malformed(format!(
                    "tool call {index} has no function name"
                )));
            }
            out.push(ChatEvent::ToolCall {
                // Some local servers send no call ids; the id only pairs call and result.
                id: if call.id.is_empty() {
                    format!("call_{index}")
                } else {
                    call.id
                },
                name: call.name,
                arguments: call.arguments,
            });
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<ChatEvent>) -> Result<(), DecodeError> {
        self.finished = true;
        // A reply the server cut off (llama.cpp's server does, when another request
        // interrupts it) ends with `[DONE]` but no finish reason: it is not complete.
        let Some(reason) = self.finish_reason.take() else {
            return Err(DecodeError::Truncated(
                "the server ended the reply ([DONE]) without a finish_reason".into(),
            ));
        };
        // Calls not yet flushed (no finish_reason came) are still the model's reply.
        self.flush_calls(out)?;
        if let Some(usage) = self.usage {
            out.push(ChatEvent::Usage { usage });
        }
        out.push(ChatEvent::Finished {
            reason: finish_reason(&reason),
        });
        Ok(())
    }
}

/// A `usage` object, as the last chunk and whole completions carry it.
pub(crate) fn reported_usage(usage: &Value) -> ReportedUsage {
    ReportedUsage {
        input_tokens: u64_at(usage, "/prompt_tokens"),
        output_tokens: u64_at(usage, "/completion_tokens"),
    }
}

fn finish_reason(reason: &str) -> StopReason {
    match reason {
        "stop" => StopReason::EndTurn,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "length" => StopReason::MaxTokens,
        other => StopReason::Other(other.to_owned()),
    }
}

#[cfg(test)]
mod tests;
