//! The edge ↔ agent protocol: JSON over HTTP/1.1 on two unix sockets. The
//! edge serves the control socket and is the client of the agent's socket;
//! the agent process the other way round; `hardshell chat` is a client of the
//! edge's chat API. All of them use these types, so the shapes on the wire
//! are written in one place.
//!
//! Invariants: every message keeps its JSON shape (the tests pin each one as
//! text, so a change of the wire shows as a failing test, not as two ends
//! that no longer understand each other); a value with a type is read as it
//! — a session id in a listing or an outcome, a model reference, a closed
//! set — and one that does not parse refuses the whole message (the session
//! of a turn or a command request is still text, which its server parses);
//! and nothing here holds a secret (a key crosses only as its placeholder).
//!
//! [`ModuleCallRequest`] is the agent's call of a module's tool; the lines
//! between the edge and a module's host process are `hardshell-module-wire`'s
//! (re-exported here).
//!
//! [`route`] has both sockets' paths; [`socket`] where the sockets are;
//! [`chat`] the edge's chat API, whose client is `hardshell chat`.
#![forbid(unsafe_code)]

pub mod chat;
mod exec;
mod module;
pub mod route;
mod session;
mod settings;
pub mod socket;
mod switch;
mod turn;

pub use exec::{
    ExecAnswer, ExecEnd, ExecReport, ExecRequest, MAX_COMMAND_BYTES, MAX_FILE_PATH_BYTES,
    SendFileAnswer, SendFileRequest,
};
pub use module::{
    MAX_MODULE_ANSWER_BYTES, MAX_MODULE_ANSWER_LINE_BYTES, MAX_MODULE_ARGUMENTS_BYTES,
    MAX_MODULE_CALL_LINE_BYTES, MAX_MODULE_TOOL_BYTES, MODULE_HOST_READY, ModuleAnswer, ModuleCall,
    ModuleCallRequest, ModuleFailure,
};
pub use route::{AgentRoute, ControlRoute};
pub use session::{SessionId, SessionIdError, SessionSummary, StoredMessage, subject_tag};
pub use settings::{
    AgentSettings, BrowserSettings, ChainEntry, ExecSettings, ModuleToolSettings, SecretHint,
};
pub use switch::SwitchReport;
pub use turn::{
    ToolCallRecord, TurnEnd, TurnEvent, TurnFailure, TurnLine, TurnOutcome, TurnRefusal,
    TurnRequest,
};

/// Asserts that `text` reads as a `T` and writes back as exactly `text`.
#[cfg(test)]
#[track_caller]
fn pinned<T: serde::Serialize + serde::de::DeserializeOwned>(text: &str) {
    let value: T = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => panic!("{text} does not read: {e}"),
    };
    assert_eq!(serde_json::to_string(&value).ok().as_deref(), Some(text));
}
