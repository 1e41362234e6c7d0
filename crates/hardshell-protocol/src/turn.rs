//! `POST /v1/turn` on the agent's socket: a [`TurnRequest`] in, then a stream
//! of [`TurnLine`]s out — what a turn tells the client while it runs
//! ([`TurnEvent`]) and, last, what it leaves for the edge to audit
//! ([`TurnOutcome`]).

use hardshell_llm::{Message, Usage};
use serde::{Deserialize, Serialize};

use crate::SessionId;

/// Start a turn: `text` from the user in `session`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnRequest {
    pub session: String,
    pub text: String,
    /// Earlier messages to store first when the session is new (an OpenAI-style
    /// client sends the whole conversation with every request). Ignored for a
    /// session that already has messages.
    #[serde(default)]
    pub prior: Vec<Message>,
    /// The edge's request id, for correlating logs.
    pub request_id: String,
}

/// One line of a turn's stream (newline-delimited JSON): `Event` lines as the
/// turn goes, then exactly one `Outcome`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "line", rename_all = "snake_case")]
pub enum TurnLine {
    Event { event: TurnEvent },
    Outcome { outcome: TurnOutcome },
}

/// An event for the client, in the order things happen. Every turn emits exactly
/// one terminal event, `Done` or `Failed`, and it is the last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TurnEvent {
    /// The user's message is durably stored as message `seq` of the session.
    Accepted {
        seq: u64,
    },
    /// More of the reply's text.
    TextDelta {
        text: String,
    },
    ToolStarted {
        name: String,
    },
    ToolFinished {
        name: String,
        ok: bool,
    },
    /// A command waits for the owner's yes or no (the `exec` tool in `ask`
    /// mode). The client answers at the edge, which runs it or not. The edge
    /// shows its own record of question `id`, never this `command`: a
    /// compromised agent's word is not what the owner approves.
    ApprovalRequested {
        id: String,
        command: String,
    },
    /// The owner answered, or the question expired.
    ApprovalResolved {
        id: String,
        approved: bool,
    },
    /// The reply is complete and stored.
    Done {
        usage: Usage,
    },
    /// The turn ended early; `message` is for the user.
    Failed {
        message: String,
    },
}

/// How a turn went, for the audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnOutcome {
    pub session: SessionId,
    /// Sequence number of the stored user message; `None` when it was not stored.
    pub user_seq: Option<u64>,
    /// Model calls made (retries not counted).
    pub steps: u32,
    pub tool_calls: Vec<ToolCallRecord>,
    /// Tokens used over all steps.
    pub usage: Usage,
    pub end: TurnEnd,
}

/// One tool call of the turn. `name` is what the model asked for, cut to 64
/// characters (it may name no real tool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallRecord {
    pub name: String,
    pub ok: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "end", rename_all = "snake_case")]
pub enum TurnEnd {
    Completed,
    /// The message was refused before anything was stored.
    Refused(TurnRefusal),
    Failed(TurnFailure),
}

/// Why a user message was refused before it was stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "refusal", rename_all = "snake_case")]
pub enum TurnRefusal {
    #[error("message of {bytes} bytes is over the limit of {limit}")]
    MessageTooLarge { bytes: usize, limit: usize },
    #[error("message is empty")]
    EmptyMessage,
}

/// Why a turn stopped before the model finished its reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "failure", rename_all = "snake_case")]
pub enum TurnFailure {
    #[error("the model called unknown tool {name:?} again after being told")]
    UnknownTool { name: String },
    #[error("the model sent invalid arguments for {tool} again after being told")]
    InvalidArguments { tool: String },
    #[error("the model still wanted tools after {steps} steps")]
    StepLimit { steps: u32 },
    #[error("model: {message}")]
    Model { message: String },
    #[error("the model's reply stream ended without finishing")]
    Truncated,
    #[error("the turn took longer than {limit_secs} s")]
    TimedOut { limit_secs: u64 },
    #[error("storing the user's message: {detail}")]
    StoreMessage { detail: String },
    #[error("storing the reply: {detail}")]
    StoreReply { detail: String },
}

impl TurnRefusal {
    /// What the user is told.
    pub fn user_message(&self) -> String {
        match self {
            TurnRefusal::MessageTooLarge { bytes, limit } => format!(
                "Your message is {bytes} bytes; the limit is {limit}. Please send a shorter one."
            ),
            TurnRefusal::EmptyMessage => "Your message is empty.".to_owned(),
        }
    }
}

impl TurnFailure {
    /// What the user is told: fixed text, except a model failure, whose message the
    /// agent's model implementation wrote for the user.
    pub fn user_message(&self) -> String {
        match self {
            TurnFailure::UnknownTool { .. } => {
                "The assistant kept calling a tool that does not exist, so this reply was stopped."
                    .to_owned()
            }
            TurnFailure::InvalidArguments { .. } => {
                "The assistant kept calling a tool with malformed arguments, so this reply was stopped."
                    .to_owned()
            }
            TurnFailure::StepLimit { steps } => format!(
                "The reply needed more than {steps} steps and was stopped. Try asking for less at once."
            ),
            TurnFailure::Model { message } => message.clone(),
            TurnFailure::Truncated => {
                "The model's reply was cut off. Please try again.".to_owned()
            }
            TurnFailure::TimedOut { limit_secs } => format!(
                "The reply took longer than {limit_secs} seconds and was stopped."
            ),
            TurnFailure::StoreMessage { .. } => {
                "Your message could not be saved. Please send it again.".to_owned()
            }
            TurnFailure::StoreReply { .. } => {
                "The reply could not be saved, so it was stopped. Please try again.".to_owned()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pinned;

    #[test]
    fn a_turn_request_keeps_its_wire_shape() {
        pinned::<TurnRequest>(
            r#"{"session":"web-abc","text":"hi","prior":[{"role":"user","content":[{"type":"text","text":"before"}]},{"role":"assistant","content":[{"type":"text","text":"yes"},{"type":"tool_call","id":"c1","name":"current_time","arguments":"{}"}]},{"role":"tool","content":[{"type":"tool_result","call_id":"c1","content":"noon","is_error":false}]}],"request_id":"r-1"}"#,
        );
        let bare: TurnRequest =
            serde_json::from_str(r#"{"session":"api-x","text":"t","request_id":"r"}"#).unwrap();
        assert!(bare.prior.is_empty());
    }

    #[test]
    fn every_turn_event_keeps_its_wire_shape() {
        for line in [
            r#"{"line":"event","event":{"type":"accepted","seq":3}}"#,
            r#"{"line":"event","event":{"type":"text_delta","text":"Hel"}}"#,
            r#"{"line":"event","event":{"type":"tool_started","name":"exec"}}"#,
            r#"{"line":"event","event":{"type":"tool_finished","name":"exec","ok":true}}"#,
            r#"{"line":"event","event":{"type":"approval_requested","id":"q1","command":"rm -r x"}}"#,
            r#"{"line":"event","event":{"type":"approval_resolved","id":"q1","approved":false}}"#,
            r#"{"line":"event","event":{"type":"done","usage":{"input_tokens":10,"output_tokens":2}}}"#,
            r#"{"line":"event","event":{"type":"failed","message":"stopped"}}"#,
        ] {
            pinned::<TurnLine>(line);
        }
    }

    #[test]
    fn every_turn_outcome_keeps_its_wire_shape() {
        let outcome = |end: &str| {
            format!(
                r#"{{"line":"outcome","outcome":{{"session":"web-abc","user_seq":4,"steps":2,"tool_calls":[{{"name":"exec","ok":false}}],"usage":{{"input_tokens":7,"output_tokens":1}},"end":{end}}}}}"#
            )
        };
        for end in [
            r#"{"end":"completed"}"#,
            r#"{"end":"refused","refusal":"message_too_large","bytes":40000,"limit":32768}"#,
            r#"{"end":"refused","refusal":"empty_message"}"#,
            r#"{"end":"failed","failure":"unknown_tool","name":"nope"}"#,
            r#"{"end":"failed","failure":"invalid_arguments","tool":"exec"}"#,
            r#"{"end":"failed","failure":"step_limit","steps":8}"#,
            r#"{"end":"failed","failure":"model","message":"overloaded"}"#,
            r#"{"end":"failed","failure":"truncated"}"#,
            r#"{"end":"failed","failure":"timed_out","limit_secs":120}"#,
            r#"{"end":"failed","failure":"store_message","detail":"down"}"#,
            r#"{"end":"failed","failure":"store_reply","detail":"down"}"#,
        ] {
            pinned::<TurnLine>(&outcome(end));
        }
        pinned::<TurnLine>(
            r#"{"line":"outcome","outcome":{"session":"api-x","user_seq":null,"steps":0,"tool_calls":[],"usage":{"input_tokens":0,"output_tokens":0},"end":{"end":"refused","refusal":"empty_message"}}}"#,
        );
    }

    #[test]
    fn an_outcome_for_an_invalid_session_id_is_unreadable() {
        let line = r#"{"line":"outcome","outcome":{"session":"web-../x","user_seq":null,"steps":0,"tool_calls":[],"usage":{"input_tokens":0,"output_tokens":0},"end":{"end":"completed"}}}"#;
        assert!(serde_json::from_str::<TurnLine>(line).is_err());
    }
}
