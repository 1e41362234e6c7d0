//! The shell: Linux kernel isolation for the agent and every tool run.
//!
//! A [`ShellPolicy`] becomes one ordered plan of layers ([`plan`]), applied by
//! the shell's init process (`hardshell shell-init`, see [`init`]); any layer
//! that cannot be applied fails the start with a [`ShellError`] naming it.
//! There is no best-effort mode.
//!
//! The supervisor half (this module) runs in the edge, a multi-threaded
//! process that must not fork and set up namespaces itself. It prepares the
//! cgroups, starts the init program, writes the new user namespace's id maps
//! (which only a process outside it may do), and then watches the shell: wall
//! clock, termination, and why it ended.
//!
//! Processes, from the edge down:
//!
//! ```text
//! edge (supervisor) ── init (host pid ns; enters the new namespaces, builds the root)
//!                        └── reaper (pid 1 of the new pid ns; pivots into the root)
//!                              └── workload (drops every privilege, then execs)
//! ```

mod cgroup;
mod forward;
pub mod init;
mod landlock;
pub mod plan;
mod seccomp;
mod supervisor;
pub mod volume;

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use cgroup::{ShellUsage, running_shells};
pub use supervisor::{
    Prepared, Running, Stopper, host_ids, prepare, spawn, spawn_inbound, spawn_serving,
};

/// The descriptor a workload started with [`spawn_serving`] has its listening
/// socket at; its environment then has `LISTEN_FDS=1` (as systemd's socket
/// activation numbers it).
pub const LISTEN_FD: i32 = 3;

/// In a workload: the listening unix socket its shell passed it (see
/// [`spawn_serving`]), or `None` when none was (`LISTEN_FDS` unset). Call
/// once, at start; a second call fails.
pub fn inherited_listener() -> std::io::Result<Option<std::os::unix::net::UnixListener>> {
    match std::env::var_os("LISTEN_FDS") {
        None => Ok(None),
        Some(count) if count == "1" => {
            hardshell_sandbox_sys::take_inherited_listener(LISTEN_FD).map(Some)
        }
        Some(count) => Err(std::io::Error::other(format!(
            "LISTEN_FDS is {count:?}; a shell passes exactly one listener"
        ))),
    }
}

/// Removes cgroups left by shells whose supervisor was killed before it could
/// clean up (empty, and older than a minute); returns how many. Call at start.
pub fn remove_stale_cgroups() -> usize {
    cgroup::remove_stale()
}

/// Whether moving a process into a cgroup is cheap on this host: some cgroup
/// hierarchy is mounted with `favordynmods`. Without it, each shell's start
/// moves init into its cgroups under a lock that waits a kernel RCU grace
/// period now and then (measured: p99 of a start 20 ms instead of 7), which
/// `favordynmods` trades for slightly dearer forks and exits host-wide. The
/// host's to choose; `hardshell up` says which it has.
pub fn cgroup_moves_are_fast() -> bool {
    std::fs::read_to_string("/proc/self/mounts").is_ok_and(|mounts| favors_dynmods(&mounts))
}

fn favors_dynmods(mounts: &str) -> bool {
    mounts.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        matches!(fields.get(2), Some(&"cgroup" | &"cgroup2"))
            && fields
                .get(3)
                .is_some_and(|options| options.split(',').any(|o| o == "favordynmods"))
    })
}

#[cfg(test)]
#[test]
fn favordynmods_is_read_from_the_mount_options() {
    let plain = "cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0\n";
    assert!(!favors_dynmods(plain));
    assert!(favors_dynmods(&format!(
        "{plain}cgroup /x cgroup rw,relatime,favordynmods,name=x 0 0\n"
    )));
    assert!(favors_dynmods(
        "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate,favordynmods 0 0\n"
    ));
    // Another file system's option of the same name does not count.
    assert!(!favors_dynmods("tmpfs /t tmpfs rw,favordynmods 0 0\n"));
}

/// The Landlock ABI a shell needs whole (6, Linux 6.12: the scopes): a
/// kernel with less does not start one. For `hardshell doctor`.
pub const LANDLOCK_ABI: u32 = 6;

/// The uid and gid a shell's processes have inside it.
pub const INSIDE_ID: u32 = 1000;

/// The host uid and gid a shell's processes have when the supervisor is root:
/// one no account uses, so no host process shares it (a process of the same
/// uid could signal or trace the shell's).
pub const HOST_ID_WHEN_ROOT: u32 = 2_147_000_000;

/// What a shell may see and use.
#[derive(Clone, Serialize, Deserialize)]
pub struct ShellPolicy {
    /// `[a-z0-9-]{1,48}`: names its cgroups (with a random suffix).
    pub name: String,
    /// Host directory bound read-write at `/workspace` (it must exist).
    pub workspace: PathBuf,
    /// Paths relative to the workspace bound read-only over themselves when
    /// they exist (and are not symlinks): the agent's own instructions, `.git`.
    pub protected: Vec<PathBuf>,
    /// What the shell's `/` is made of: the host's system directories, or an
    /// image's root.
    pub root: Root,
    /// Anything else the shell is given on purpose.
    pub binds: Vec<Bind>,
    /// The whole environment: nothing is inherited.
    pub env: Vec<(String, String)>,
    /// Working directory inside the shell.
    pub cwd: PathBuf,
    pub limits: Limits,
    /// The ways out, if any: forwarders on the shell's own loopback, each
    /// relaying to a unix socket bound into the shell by the caller (the
    /// egress broker's; a workload's browser). The workload may connect to
    /// those ports and no others.
    #[serde(default)]
    pub forward: Vec<Forward>,
    /// The way in, if any: the workload may bind this one TCP port (on the
    /// shell's own loopback: its network namespace has nothing else), and a
    /// shell started with [`spawn_inbound`] relays the connections of a
    /// unix listener outside to it.
    #[serde(default)]
    pub inbound: Option<Inbound>,
}

/// The shell's root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Root {
    /// Host system directories bound read-only at the same path on a tmpfs;
    /// a symlink (`/bin -> usr/bin`) is recreated as the same symlink.
    Host(Vec<PathBuf>),
    /// An image's unpacked root directory on the host (readable by the
    /// shell's host id; never a symlink), seen read-only as the whole `/`,
    /// with nothing of the host's system. It is never written: the mount
    /// points the shell needs and the image lacks come from a skeleton
    /// layered over it (a read-only overlayfs; see `plan.rs`).
    Image(PathBuf),
}

/// The workload's own port, reached through the inbound forwarder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbound {
    /// The TCP port the workload listens on, on the shell's `127.0.0.1`.
    pub port: u16,
}

/// The shell's forwarder: `127.0.0.1:port` inside, relayed to the unix
/// socket at `to` (a path inside the shell).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forward {
    pub port: u16,
    pub to: PathBuf,
}

/// A host file or directory bound into the shell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bind {
    pub host: PathBuf,
    pub inside: PathBuf,
    pub writable: bool,
}

/// What a shell may use of the machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Limits {
    pub memory_bytes: u64,
    pub max_pids: u64,
    /// 100 is one core.
    pub cpu_percent: u32,
    /// The whole shell is killed after this long.
    pub wall_clock: Option<Duration>,
    /// Size of the private `/tmp` (and of `/dev/shm`).
    pub tmp_bytes: u64,
    pub file_size_bytes: u64,
    pub open_files: u64,
}

impl Root {
    /// The usual read-only system of the host: programs, libraries and `/etc`.
    pub fn host_system() -> Self {
        Self::Host(
            ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc"]
                .iter()
                .map(PathBuf::from)
                .filter(|path| path.symlink_metadata().is_ok())
                .collect(),
        )
    }
}

impl std::fmt::Debug for ShellPolicy {
    /// Environment values may be credentials one day: names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("ShellPolicy")
            .field("name", &self.name)
            .field("workspace", &self.workspace)
            .field("protected", &self.protected)
            .field("root", &self.root)
            .field("binds", &self.binds)
            .field("env", &names)
            .field("cwd", &self.cwd)
            .field("limits", &self.limits)
            .field("forward", &self.forward)
            .field("inbound", &self.inbound)
            .finish()
    }
}

/// How the init process is started: the `hardshell` binary with
/// `["shell-init"]`, or this crate's `shell-init` program in its tests.
#[derive(Debug, Clone)]
pub struct Launcher {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

/// One of the workload's standard streams.
#[derive(Debug)]
pub enum Stdio {
    Null,
    Fd(OwnedFd),
}

/// The workload's standard streams.
#[derive(Debug)]
pub struct Io {
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
}

impl Io {
    /// Nothing in, nothing out.
    pub fn null() -> Self {
        Self {
            stdin: Stdio::Null,
            stdout: Stdio::Null,
            stderr: Stdio::Null,
        }
    }
}

/// How the workload's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Exited(i32),
    Signaled(i32),
}

/// Why the shell ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The workload ended by itself.
    Exited,
    /// Its wall clock ran out; the whole shell was killed.
    WallClock,
    /// The kernel killed a process for the shell's memory limit.
    OutOfMemory,
    /// [`Running::terminate`] stopped it.
    Terminated,
}

/// How a shell ended, and why.
#[derive(Debug, Clone)]
pub struct ExitReport {
    pub status: Status,
    pub ended: Ended,
    /// Some fork was refused for the shell's process limit.
    pub pids_limit_hit: bool,
    pub duration: Duration,
}

/// The layers of a shell, in the order they are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// The policy itself.
    Policy,
    /// New user, mount, pid, ipc, uts, net and cgroup namespaces.
    Namespaces,
    /// The user namespace's uid and gid maps.
    UserMap,
    /// The root: tmpfs, read-only system, workspace, `/tmp`, `/proc`, `/dev`.
    Mounts,
    /// Descriptors closed, environment replaced, new session.
    Descriptors,
    /// cgroups and rlimits.
    Limits,
    /// Only loopback, and up.
    Network,
    /// Unprivileged ids, every capability set empty, `no_new_privs`.
    Capabilities,
    Landlock,
    Seccomp,
    /// Finding and executing the program.
    Exec,
    /// The supervisor's own work: the init program, pipes, waiting.
    Supervisor,
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Layer::Policy => "policy",
            Layer::Namespaces => "namespaces",
            Layer::UserMap => "user map",
            Layer::Mounts => "mounts",
            Layer::Descriptors => "descriptors",
            Layer::Limits => "limits",
            Layer::Network => "network",
            Layer::Capabilities => "capabilities",
            Layer::Landlock => "landlock",
            Layer::Seccomp => "seccomp",
            Layer::Exec => "exec",
            Layer::Supervisor => "supervisor",
        })
    }
}

/// A shell that could not start (or be watched), naming the layer.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize)]
#[error("shell could not start: layer {layer} failed: {detail}")]
pub struct ShellError {
    pub layer: Layer,
    detail: String,
}

impl ShellError {
    pub(crate) fn new(layer: Layer, detail: impl std::fmt::Display) -> Self {
        Self {
            layer,
            detail: detail.to_string(),
        }
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }
}
