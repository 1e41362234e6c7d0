//! The edge ↔ agent protocol: JSON over HTTP/1.1 on the agent's unix socket.
//! Types only; the edge is the client, `hardshell agent` the server.
//!
//! ```text
//! POST /v1/turn                 TurnRequest  -> 200 application/x-ndjson, one TurnLine per line:
//!                                               Event lines as the turn goes, then exactly one Outcome
//! GET  /v1/sessions             -> Vec<SessionSummary>
//! GET  /v1/sessions/<id>?limit=N -> Vec<StoredMessage>
//! GET  /v1/health               -> 200
//! ```
//!
//! And the agent's questions to the edge, on the control socket:
//!
//! ```text
//! GET  /agent/v1/settings                 -> AgentSettings
//! POST /exec/v1/run          ExecRequest  -> ExecAnswer (Ran, Pending or Refused)
//! POST /exec/v1/approvals/<id>/wait       -> ExecAnswer (Ran or Refused), once the owner answered
//! ```

use hardshell_llm::{Message, ModelRef};
use serde::{Deserialize, Serialize};

use crate::{TurnEvent, TurnOutcome};

/// Start a turn: `text` from the user in `session`.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// One line of a turn's stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "line", rename_all = "snake_case")]
pub enum TurnLine {
    Event { event: TurnEvent },
    Outcome { outcome: TurnOutcome },
}

/// A model provider as the agent sees it: its wire format, reached through the
/// edge at `/llm/<name>` on the control socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderWire {
    Anthropic,
    Openai,
}

/// One entry of the fallback chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChainEntry {
    pub model: ModelRef,
    pub wire: ProviderWire,
    /// The provider's base URL as the agent uses it: plain HTTP, through
    /// the broker (which speaks TLS on where the provider needs it).
    pub base_url: String,
    /// The placeholder the agent sends as its key (`hs-secret:LLM_<NAME>`),
    /// which the broker swaps at the provider's host; never a key.
    #[serde(default)]
    pub key: Option<String>,
}

/// What the agent needs from the config, which it never reads itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentSettings {
    pub chain: Vec<ChainEntry>,
    pub max_steps: u32,
    pub turn_timeout_secs: u64,
    pub max_message_bytes: usize,
    pub max_tokens: u32,
    /// The `exec` tool, when `[exec] approval` is not `deny`.
    #[serde(default)]
    pub exec: Option<ExecSettings>,
    /// The HTTP proxy in the agent's shell that leads to its broker: the
    /// only way to the model providers.
    pub model_proxy: String,
}

/// How the `exec` tool is described to the model. The edge decides what runs;
/// this only lets the model know what to expect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecSettings {
    /// Whether commands outside `allow` are asked about (`true`) or refused.
    pub asks: bool,
    /// Programs that run without asking.
    pub allow: Vec<String>,
    pub timeout_secs: u64,
    /// Hosts a command may reach through the egress broker (`[egress]`);
    /// empty: no network at all.
    #[serde(default)]
    pub egress: Vec<String>,
    /// Of those, the hosts to call with `http://` URLs: the broker speaks
    /// TLS to them itself (and refuses a tunnel).
    #[serde(default)]
    pub tls_hosts: Vec<String>,
    /// Secrets a command may use as `hs-secret:NAME` placeholders, and where.
    #[serde(default)]
    pub secrets: Vec<SecretHint>,
}

/// A secret as the model is told of it: its name and where the broker swaps
/// its placeholder; never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretHint {
    pub name: String,
    pub hosts: Vec<String>,
    /// The only header it works in, if bound to one.
    #[serde(default)]
    pub header: Option<String>,
}

/// A command for a session's workspace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecRequest {
    pub session: String,
    pub command: String,
}

/// The edge's answer to an [`ExecRequest`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ExecAnswer {
    /// It ran (allowed, or approved).
    Ran { report: ExecReport },
    /// The owner is being asked; wait on this approval.
    Pending { approval: String },
    /// It will not run, and why.
    Refused { reason: String },
}

/// How a command's run ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecReport {
    /// The exit code, when it exited on its own.
    pub exit_code: Option<i32>,
    /// `exited`, or why its shell was stopped: `timeout`, `memory`, `pids`,
    /// `signal`.
    pub ended: String,
    /// Some fork was refused at `[exec] max_pids` (a fork bomb), whichever
    /// way the run then ended.
    #[serde(default)]
    pub pids_limit_hit: bool,
    pub stdout: String,
    pub stderr: String,
    /// Whether output past `[exec] max_output_bytes` was cut.
    pub truncated: bool,
    pub duration_ms: u64,
}
