//! The `exec` tool's questions to the edge, on the control socket: a command
//! to run ([`ExecRequest`], `POST /exec/v1/run`) and the wait for the owner's
//! answer (`POST /exec/v1/approvals/<id>/wait`), each answered with an
//! [`ExecAnswer`]. The agent only asks; the edge decides and runs.

use serde::{Deserialize, Serialize};

/// Longest command the agent passes on, in bytes; the edge refuses longer.
pub const MAX_COMMAND_BYTES: usize = 8 * 1024;

/// A command for a session's workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRequest {
    pub session: String,
    pub command: String,
}

/// The edge's answer to an [`ExecRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pinned;

    #[test]
    fn exec_messages_keep_their_wire_shape() {
        pinned::<ExecRequest>(r#"{"session":"web-abc","command":"ls -la"}"#);
        for answer in [
            r#"{"status":"ran","report":{"exit_code":0,"ended":"exited","pids_limit_hit":false,"stdout":"a\n","stderr":"","truncated":false,"duration_ms":12}}"#,
            r#"{"status":"ran","report":{"exit_code":null,"ended":"timeout","pids_limit_hit":true,"stdout":"","stderr":"x","truncated":true,"duration_ms":60000}}"#,
            r#"{"status":"pending","approval":"a1b2"}"#,
            r#"{"status":"refused","reason":"not allowed"}"#,
        ] {
            pinned::<ExecAnswer>(answer);
        }
    }

    #[test]
    fn a_report_without_the_pid_limit_flag_reads_as_not_hit() {
        let answer: ExecAnswer = serde_json::from_str(
            r#"{"status":"ran","report":{"exit_code":1,"ended":"exited","stdout":"","stderr":"","truncated":false,"duration_ms":1}}"#,
        )
        .unwrap();
        let ExecAnswer::Ran { report } = answer else {
            panic!("{answer:?}");
        };
        assert!(!report.pids_limit_hit);
    }
}
