//! `[shell]`: the sandbox every workload and every tool run lives in, and how
//! much of the machine a shell may use. The seed's `[containers] max_instances`
//! and `memory_mb`, for Linux shells instead of containers.

use serde::{Deserialize, Serialize};

/// `[shell]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Shell {
    /// Shells running at once: the workload's and the tool runs' together. A
    /// tool run beyond it waits for a free one (within its own timeout).
    pub max_instances: u32,
    /// Memory the workload's shell may use, in MiB; past it, the kernel's OOM
    /// killer ends a process in that shell, and the shell is restarted.
    pub memory_mb: u64,
    /// Processes and threads the workload's shell may have at once.
    pub max_pids: u64,
    /// CPU the workload's shell may use, in percent of one core.
    pub cpu_percent: u32,
    /// Size of each shell's private `/tmp`, in MiB (it counts as its memory).
    pub tmp_mb: u64,
    /// Size of each workspace (the agent's, and each session's exec
    /// workspace), in MiB: a file system of its own, so a shell that fills
    /// it stops there and the disk holding the edge's data keeps its room.
    pub workspace_mb: u64,
    /// Files and directories each workspace may hold.
    pub workspace_inodes: u64,
    /// Exec shells kept prepared ahead while the agent runs commands, so a
    /// command does not wait for the kernel to make its shell (0: none, at
    /// most 8). Each is two idle processes in namespaces of their own, made
    /// after a run and ended after five minutes without one: at rest there
    /// are none. They count toward `max_instances` only once running.
    pub pool: u32,
}

impl Default for Shell {
    fn default() -> Self {
        Self {
            max_instances: 4,
            memory_mb: 512,
            max_pids: 256,
            cpu_percent: 100,
            tmp_mb: 64,
            workspace_mb: 1024,
            workspace_inodes: 65536,
            pool: 2,
        }
    }
}
