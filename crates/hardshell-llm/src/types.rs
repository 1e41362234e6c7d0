//! The conversation vocabulary shared by the agent, the edge and every provider
//! adapter. Provider wire formats are translated to and from these types at the
//! adapters; nothing else speaks a provider's dialect.

use serde::{Deserialize, Serialize};

pub use hardshell_vocabulary::{ModelRef, ModelRefError};

/// Who said something in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
    /// Results of tool calls, sent back to the model.
    Tool,
}

/// One part of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    Text {
        text: String,
    },
    /// The model asks for a tool to run. `arguments` is the raw JSON text the
    /// model produced: it may be invalid, and that is for the caller to find out.
    ToolCall {
        id: String,
        name: String,
        arguments: String,
    },
    /// The outcome of a tool call, answering the call with the same id.
    ToolResult {
        call_id: String,
        content: String,
        is_error: bool,
    },
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Content>,
}

impl Message {
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: vec![Content::Text { text: text.into() }],
        }
    }

    pub fn assistant(text: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: vec![Content::Text { text: text.into() }],
        }
    }

    /// The concatenated text parts.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|part| match part {
                Content::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// A tool the model may call: its name, what it does, and a JSON Schema of its
/// arguments (an object schema).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// One request for a reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub system: Option<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
}

/// Tokens a reply consumed, as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The reply is complete.
    EndTurn,
    /// The model wants tool results before it goes on.
    ToolUse,
    /// The output limit cut the reply short.
    MaxTokens,
    /// Anything else the provider said, verbatim.
    Other(String),
}

/// A streamed reply, event by event. A well-formed stream ends with exactly one
/// `Finished`; a stream that ends without one was truncated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatEvent {
    TextDelta {
        text: String,
    },
    ToolCall {
        id: String,
        name: String,
        arguments: String,
    },
    Usage {
        usage: Usage,
    },
    Finished {
        reason: StopReason,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_with_a_type_tag() {
        let event = ChatEvent::TextDelta { text: "hi".into() };
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"type":"text_delta","text":"hi"}"#
        );
    }
}
