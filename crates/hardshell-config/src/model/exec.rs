//! `[exec]`: the agent's `exec` tool, which runs a command in a fresh shell
//! (sandbox) over the session's workspace, and who decides whether it may.

use serde::{Deserialize, Serialize};

/// `[exec]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Exec {
    /// Who decides whether a command runs:
    /// - `"deny"`: the agent has no `exec` tool;
    /// - `"allowlist"`: a command runs if every program in it is in `allow`
    ///   (after parsing it: `ls; curl x` is two commands, and `curl` is not
    ///   `ls`); anything else is refused;
    /// - `"ask"`: allowed commands run, and the owner is asked about the rest,
    ///   in the chat page or `hardshell chat`.
    pub approval: Approval,
    /// Programs a command may run without asking. A program that runs other
    /// programs (`sh`, `env`, `xargs`, `find -exec`, `python3`) lets a command
    /// run anything, inside the shell.
    pub allow: Vec<String>,
    /// Seconds a command may run before its whole shell is killed.
    pub timeout_secs: u64,
    /// Seconds a command waits for the owner's answer before it is refused.
    pub approval_timeout_secs: u64,
    /// Output kept from a command (standard output and error each), in bytes.
    pub max_output_bytes: usize,
    /// Memory the command's shell may use, in MiB.
    pub memory_mb: u64,
    /// Processes and threads the command's shell may have at once.
    pub max_pids: u64,
}

/// `[exec] approval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// No `exec` tool.
    Deny,
    /// Allowed commands run; the rest are refused.
    Allowlist,
    /// Allowed commands run; the owner is asked about the rest.
    Ask,
}

impl Default for Exec {
    fn default() -> Self {
        Self {
            approval: Approval::Ask,
            allow: [
                "ls", "cat", "head", "tail", "wc", "grep", "sort", "uniq", "cut", "tr", "echo",
                "pwd", "date", "diff", "stat", "file", "du", "mkdir", "touch",
            ]
            .map(str::to_owned)
            .to_vec(),
            timeout_secs: 60,
            approval_timeout_secs: 180,
            max_output_bytes: 64 * 1024,
            memory_mb: 512,
            max_pids: 128,
        }
    }
}
