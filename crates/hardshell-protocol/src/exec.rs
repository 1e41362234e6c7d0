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

/// Longest path the agent may name for `send_file`, in bytes.
pub const MAX_FILE_PATH_BYTES: usize = 4096;

/// `send_file`: the agent shares a file of its session's workspace with the
/// person it talks to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendFileRequest {
    pub session: String,
    /// As the agent's commands see it: `/workspace/...`.
    pub path: String,
}

/// The edge's answer to a [`SendFileRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SendFileAnswer {
    /// The edge keeps a copy, offered to the session's owner as `name`.
    Shared { name: String, size: u64 },
    /// Not shared, and why.
    Refused { reason: String },
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
    pub ended: ExecEnd,
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

/// How a run ended: on its own, or why its shell was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecEnd {
    /// It exited with its code.
    Exited,
    /// A signal ended it.
    Signal,
    /// It hit `[exec] max_pids` (a fork bomb) and then exited.
    Pids,
    /// The wall clock (`[exec] timeout_secs`) stopped its shell.
    Timeout,
    /// The memory limit stopped its shell.
    Memory,
    /// Its shell was stopped from outside (the edge shutting down).
    Terminated,
}

impl ExecEnd {
    /// As the wire and the audit record spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecEnd::Exited => "exited",
            ExecEnd::Signal => "signal",
            ExecEnd::Pids => "pids",
            ExecEnd::Timeout => "timeout",
            ExecEnd::Memory => "memory",
            ExecEnd::Terminated => "terminated",
        }
    }
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
    fn send_file_messages_keep_their_wire_shape() {
        pinned::<SendFileRequest>(r#"{"session":"web-abc","path":"/workspace/plot.png"}"#);
        pinned::<SendFileAnswer>(r#"{"status":"shared","name":"plot.png","size":12}"#);
        pinned::<SendFileAnswer>(r#"{"status":"refused","reason":"not a regular file"}"#);
        let extra = r#"{"session":"web-abc","path":"/workspace/a","as":"../x"}"#;
        assert!(serde_json::from_str::<SendFileRequest>(extra).is_err());
    }

    #[test]
    fn every_way_a_run_ends_keeps_its_name() {
        for end in [
            ExecEnd::Exited,
            ExecEnd::Signal,
            ExecEnd::Pids,
            ExecEnd::Timeout,
            ExecEnd::Memory,
            ExecEnd::Terminated,
        ] {
            let text = format!("\"{}\"", end.as_str());
            assert_eq!(serde_json::to_string(&end).unwrap(), text);
            pinned::<ExecEnd>(&text);
        }
        assert!(serde_json::from_str::<ExecEnd>(r#""crashed""#).is_err());
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
