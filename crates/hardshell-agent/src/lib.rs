//! hardshell's agent runtime, the workload that runs inside a shell: the turn
//! loop, tools, memory, sessions and the system prompt.
//!
//! Invariants: the agent holds no provider key and no storage credential — it
//! reaches models through a [`Model`] and state through a storage [`Scope`] the
//! edge hands it; a user message is acknowledged ([`TurnEvent::Accepted`]) only
//! once it is durably stored; and no model output, however malformed, makes a
//! turn panic or run past its time limit.
//!
//! The wire types it speaks to the edge are `hardshell-protocol`'s (re-exported
//! as [`protocol`]); [`serve`] is the server side of the agent's unix socket.
//! The process around it (settings, storage and the `exec` tool's way to the
//! edge over the control socket) is the binary's `hardshell agent`.
//!
//! # Public API
//!
//! - [`Agent::new`]`(AgentParts { model, tools, sessions, workspace, clock, time_zone, config })`
//!   and [`Agent::turn`]`(&self, &SessionId, user_text: &str, &mut dyn TurnSink) -> TurnOutcome`.
//!   [`AgentConfig`] holds the limits (steps 8, timeout 120 s, message 32 KiB, …).
//!   The sink receives [`TurnEvent`]s (`Accepted`, `TextDelta`, `ToolStarted`,
//!   `ToolFinished`, then exactly one `Done` or `Failed`); the [`TurnOutcome`]
//!   (with [`TurnEnd`], [`TurnRefusal`], [`TurnFailure`]) is for the audit record.
//! - [`Model`]: `async fn stream(&self, ChatRequest) -> Result<ChatStream, ModelError>`;
//!   [`ModelError::transient`] / [`ModelError::fatal`] say whether the turn may retry.
//! - [`Tool`]: `fn spec(&self) -> ToolSpec` and
//!   `async fn call(&self, serde_json::Value, &ToolContext) -> Result<ToolOutput, ToolError>`;
//!   [`ToolRegistry`]: `register`, `specs`, `dispatch`. Built in ([`builtin`]):
//!   `current_time`, `memory_save`, `memory_search`, added by
//!   [`builtin::register_builtin_tools`]; `exec` ([`builtin::Exec`]) and `browser`
//!   ([`builtin::Browser::new`]`(connector, BrowserSettings, BrowserLimits)`, reaching
//!   browsers through a [`builtin::BrowserConnector`]) when the edge offers them.
//! - [`SessionStore`] over a [`Scope`]: `append(&SessionId, &Message) -> u64` (durable
//!   on return), `history(&SessionId, limit)`, `history_before(&SessionId, seq, limit)`
//!   (a turn's earlier messages, from memory once held), `list()`; ids are [`SessionId`]s
//!   (`web-<random>`, `api-<random>`, `telegram-<sender>`).
//! - [`Memory`] over the same scope: `save(&NoteDraft) -> SavedNote`,
//!   `search(query, limit, current_turn) -> Vec<SearchHit>` (BM25 over notes and
//!   past messages).
//! - [`Workspace`] (`AGENTS.md`, `SOUL.md`, `USER.md`, `MEMORY.md` from a directory)
//!   and [`system_prompt`].
//! - [`Clock`] ([`SystemClock`], [`FixedClock`]) and [`OwnerTimeZone`] (an IANA
//!   name as a label plus a fixed UTC offset; no time zone database).
//!
//! Storage layout under the agent's scope: `sessions/<id>/messages/<seq>`,
//! `sessions/<id>/meta`, `memory/notes/<slug>.md`.
#![forbid(unsafe_code)]

pub mod builtin;
mod chain;
mod circle;
mod clock;
mod history;
mod memory;
mod model;
mod prompt;
pub mod serve;
mod session;
mod tool;
mod turn;

pub use chain::{ChainModel, OnSwitch};
pub use circle::Circle;
pub use clock::{Clock, FixedClock, OwnerTimeZone, SystemClock, TimeZoneError};
pub use hardshell_protocol as protocol;
pub use hardshell_protocol::{SessionId, SessionIdError, SessionSummary, StoredMessage};
pub use hardshell_storage::Scope;
pub use memory::{
    HitSource, MAX_NOTE_BODY_BYTES, MAX_NOTE_FILE_BYTES, MAX_SEARCH_RESULTS, Memory, MemoryError,
    NoteDraft, NoteFile, NoteSummary, Notebook, SavedNote, SearchHit,
};
pub use model::{ChatStream, Model, ModelError};
pub use prompt::{
    DEFAULT_MAX_FILE_BYTES, WORKSPACE_FILES, Workspace, WorkspaceFile, system_prompt,
};
pub use session::{SessionError, SessionStore};
pub use tool::{
    DispatchError, Notice, Tool, ToolContext, ToolError, ToolOutput, ToolRegistry,
    ToolRegistryError, parse_arguments,
};
pub use turn::{
    Agent, AgentConfig, AgentParts, ToolCallRecord, TurnEnd, TurnEvent, TurnFailure, TurnOutcome,
    TurnRefusal, TurnSink,
};
