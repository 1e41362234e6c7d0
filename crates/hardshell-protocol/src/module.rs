//! Between the edge and one module's host process (`hardshell module-host`,
//! in the module's shell): JSON lines on the process's standard streams.
//! The process first writes [`MODULE_HOST_READY`] once its component is
//! compiled; then one [`ModuleCall`] in, one [`ModuleAnswer`] out, in turn. JSON escapes
//! every newline inside a string, so a line is exactly one message; each
//! side reads a line bounded by the `MAX_*` here and refuses a longer one.
//!
//! The host process may be hostile (a module that escaped wasmtime runs
//! it): the edge reads its answer as untrusted text, bounded, and keeps of
//! a failure only its closed [`ModuleFailure`] for the audit log.

use serde::{Deserialize, Serialize};

/// The host process's first line: its component is compiled, and calls
/// are timed from here.
pub const MODULE_HOST_READY: &[u8] = b"ready\n";

/// Longest tool name, in bytes.
pub const MAX_MODULE_TOOL_BYTES: usize = 64;
/// Longest arguments (a JSON object's text), in bytes.
pub const MAX_MODULE_ARGUMENTS_BYTES: usize = 256 * 1024;
/// Longest call line the host process reads.
pub const MAX_MODULE_CALL_LINE_BYTES: usize = 2 * MAX_MODULE_ARGUMENTS_BYTES;
/// Longest answer text the host process passes on (the module host's own
/// bound on what a module answers).
pub const MAX_MODULE_ANSWER_BYTES: usize = 1 << 20;
/// Longest answer line the edge reads: the text, escaped.
pub const MAX_MODULE_ANSWER_LINE_BYTES: usize = 6 * MAX_MODULE_ANSWER_BYTES + 1024;

/// The agent's call of a module's tool (`POST /modules/v1/call`), answered
/// with a [`ModuleAnswer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleCallRequest {
    pub session: String,
    pub module: String,
    pub tool: String,
    /// A JSON object.
    pub arguments: serde_json::Value,
}

/// One tool call, as the host process is given it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleCall {
    pub tool: String,
    /// The arguments, as JSON text (an object).
    pub arguments: String,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModuleAnswer {
    /// The tool's answer, for the model.
    Answered { text: String },
    /// It failed: `message` is for the model (it may hold the module's own
    /// words), `failure` for the audit log.
    Failed {
        failure: ModuleFailure,
        message: String,
    },
}

/// Why a call failed, as the audit log records it: a closed set, never the
/// module's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleFailure {
    /// It ran past its time limit.
    Timeout,
    /// It needed more than its memory limit.
    Memory,
    /// It made a request it was not granted.
    Denied,
    /// It crashed (a trap).
    Trap,
    /// The tool answered with an error of its own.
    Tool,
    /// Its answer was over the limit.
    TooLarge,
    /// The call could not be made: no such tool, arguments too long, the
    /// host could not apply the grants, or the host process failed.
    Refused,
}

impl ModuleFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleFailure::Timeout => "timeout",
            ModuleFailure::Memory => "memory",
            ModuleFailure::Denied => "denied",
            ModuleFailure::Trap => "trap",
            ModuleFailure::Tool => "tool",
            ModuleFailure::TooLarge => "too_large",
            ModuleFailure::Refused => "refused",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pinned;

    #[test]
    fn module_messages_keep_their_wire_shape() {
        pinned::<ModuleCall>(r#"{"tool":"search","arguments":"{\"q\":\"rust\"}"}"#);
        pinned::<ModuleCallRequest>(
            r#"{"session":"web-abc","module":"web-search","tool":"search","arguments":{"q":"rust"}}"#,
        );
        pinned::<ModuleAnswer>(r#"{"status":"answered","text":"three results"}"#);
        pinned::<ModuleAnswer>(
            r#"{"status":"failed","failure":"timeout","message":"ran past 5000 ms"}"#,
        );
        let extra = r#"{"tool":"search","arguments":"{}","workspace":"/etc"}"#;
        assert!(serde_json::from_str::<ModuleCall>(extra).is_err());
    }

    #[test]
    fn every_failure_keeps_its_name() {
        for failure in [
            ModuleFailure::Timeout,
            ModuleFailure::Memory,
            ModuleFailure::Denied,
            ModuleFailure::Trap,
            ModuleFailure::Tool,
            ModuleFailure::TooLarge,
            ModuleFailure::Refused,
        ] {
            let text = format!("\"{}\"", failure.as_str());
            assert_eq!(serde_json::to_string(&failure).unwrap(), text);
        }
    }
}
