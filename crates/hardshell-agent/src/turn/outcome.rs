//! What a turn tells the client while it runs ([`TurnEvent`] through a
//! [`TurnSink`]) and what it leaves for the integrator to audit ([`TurnOutcome`]).

use hardshell_llm::Usage;
use serde::{Deserialize, Serialize};

use crate::SessionId;

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

/// Where a turn's events go. `emit` must not block: a client that has gone away
/// or reads slowly must not stall the turn, whose reply is stored either way.
pub trait TurnSink: Send {
    fn emit(&mut self, event: TurnEvent);
}

impl TurnSink for Vec<TurnEvent> {
    fn emit(&mut self, event: TurnEvent) {
        self.push(event);
    }
}

impl TurnSink for tokio::sync::mpsc::UnboundedSender<TurnEvent> {
    fn emit(&mut self, event: TurnEvent) {
        // A closed channel means the client left; the turn finishes and is stored.
        let _ = self.send(event);
    }
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
    /// [`Model`](crate::Model) implementation wrote for the user.
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
