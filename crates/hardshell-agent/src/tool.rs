//! Tools the model may call. A tool is a name, a description, a JSON Schema of its
//! arguments and an async `call`; the [`ToolRegistry`] offers them to the model
//! and dispatches its calls by name, so new tools (shell exec, browser, web fetch,
//! modules) plug in without the turn loop knowing them.

mod registry;

use std::future::Future;

use futures::future::BoxFuture;
use hardshell_llm::ToolSpec;
use hardshell_storage::StorageError;

use crate::SessionId;

pub use registry::{DispatchError, ToolRegistry, ToolRegistryError};

/// A tool the model can call.
///
/// Implementations write `async fn call(&self, arguments: serde_json::Value, cx: &ToolContext) -> Result<ToolOutput, ToolError>`.
/// `arguments` is always a JSON object: the registry refuses anything else before
/// the tool sees it. The tool checks the object's shape itself (typically by
/// deserialising it) and answers [`ToolError::InvalidArguments`] when it is wrong.
pub trait Tool: Send + Sync + 'static {
    /// The name, description and argument schema offered to the model. Read once,
    /// at registration.
    fn spec(&self) -> ToolSpec;

    fn call(
        &self,
        arguments: serde_json::Value,
        cx: &ToolContext,
    ) -> impl Future<Output = Result<ToolOutput, ToolError>> + Send;
}

/// What a tool call knows about the turn it runs in.
#[derive(Debug, Clone)]
pub struct ToolContext {
    session: SessionId,
    turn_seq: u64,
    notices: Option<tokio::sync::mpsc::UnboundedSender<Notice>>,
}

/// What a tool may tell the client while it runs. Deliberately not any
/// [`crate::TurnEvent`]: a tool cannot end the turn or speak for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A command waits for the owner's answer.
    ApprovalRequested { id: String, command: String },
    /// The owner answered, or the question expired.
    ApprovalResolved { id: String, approved: bool },
}

impl ToolContext {
    pub fn new(session: SessionId, turn_seq: u64) -> Self {
        Self {
            session,
            turn_seq,
            notices: None,
        }
    }

    /// The same context, with notices going to `notices`.
    pub(crate) fn with_notices(&self, notices: tokio::sync::mpsc::UnboundedSender<Notice>) -> Self {
        Self {
            notices: Some(notices),
            ..self.clone()
        }
    }

    /// Tells the client something while the call runs. Without a listener
    /// (tests, a client that left) the notice is dropped.
    pub fn notify(&self, notice: Notice) {
        if let Some(notices) = &self.notices {
            let _ = notices.send(notice);
        }
    }

    /// The conversation the call belongs to.
    pub fn session(&self) -> &SessionId {
        &self.session
    }

    /// Sequence number of the user message that started this turn; messages of the
    /// session from this one on belong to the turn itself.
    pub fn turn_seq(&self) -> u64 {
        self.turn_seq
    }
}

/// What a successful call gives back to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    pub content: String,
}

impl ToolOutput {
    pub fn text(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
        }
    }

    /// Pretty JSON, which models read more reliably than one long line.
    pub fn json(value: &serde_json::Value) -> Self {
        Self {
            content: serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()),
        }
    }
}

/// Why a call failed. The message goes back to the model as the call's result, so
/// it says what to do differently.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The arguments are valid JSON but not what the tool takes (the model's fault).
    #[error("invalid arguments: {reason}")]
    InvalidArguments { reason: String },
    /// The tool ran and could not do what was asked.
    #[error("{reason}")]
    Failed { reason: String },
    /// Reading or writing the agent's storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The call failed with words that are not hardshell's (a module's own
    /// error): the model reads `text`, the log only `kind`.
    #[error("{text}")]
    Foreign { kind: &'static str, text: String },
}

impl ToolError {
    pub fn invalid_arguments(reason: impl Into<String>) -> Self {
        ToolError::InvalidArguments {
            reason: reason.into(),
        }
    }

    pub fn failed(reason: impl Into<String>) -> Self {
        ToolError::Failed {
            reason: reason.into(),
        }
    }

    /// What the log may say of this error: the whole message, but for
    /// [`ToolError::Foreign`], whose text a module wrote (it may repeat the
    /// call's arguments, or forge a log line), only its kind.
    pub fn logged(&self) -> String {
        match self {
            ToolError::Foreign { kind, .. } => format!("{kind} (its words are not logged)"),
            other => other.to_string(),
        }
    }
}

/// Deserialises a tool's arguments, turning serde's complaint into the message
/// the model gets back.
pub fn parse_arguments<T: serde::de::DeserializeOwned>(
    arguments: serde_json::Value,
) -> Result<T, ToolError> {
    serde_json::from_value(arguments).map_err(|e| ToolError::invalid_arguments(e.to_string()))
}

/// [`Tool`] with its future boxed, so the registry can hold tools of any type.
pub(crate) trait DynTool: Send + Sync {
    fn call_boxed<'a>(
        &'a self,
        arguments: serde_json::Value,
        cx: &'a ToolContext,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolError>>;
}

impl<T: Tool> DynTool for T {
    fn call_boxed<'a>(
        &'a self,
        arguments: serde_json::Value,
        cx: &'a ToolContext,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolError>> {
        Box::pin(self.call(arguments, cx))
    }
}
