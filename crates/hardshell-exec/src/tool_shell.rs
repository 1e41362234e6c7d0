//! Where a command runs: the one thing exec's decisions need of a shell. The
//! real tool shell (`hardshell_shells::SandboxShell`) is in the crate that
//! starts shells; the decisions' own tests use a recording one
//! ([`crate::testing`]).

use std::time::Duration;

use futures::future::BoxFuture;
use hardshell_protocol::ExecReport;

use crate::files::{Deposit, FileError, Take, TakenFile};

/// Runs one command in a fresh shell over a session's workspace, and moves
/// files into and out of that workspace.
pub trait ToolShell: Send + Sync + std::fmt::Debug + 'static {
    fn run(&self, run: ShellRun) -> BoxFuture<'static, Result<ExecReport, ToolShellError>>;

    /// Writes a new file `inbox/<name>` in the session's workspace (numbered
    /// `-2`, `-3`… when the name is taken, never over anything), following
    /// nothing a shell could have planted; returns the name it got.
    fn deposit(&self, file: Deposit) -> BoxFuture<'static, Result<String, FileError>>;

    /// Reads the regular file at `path` (`/workspace/...`) of the session's
    /// workspace, following nothing a shell could have planted, refused past
    /// `max_bytes`.
    fn take(&self, file: Take) -> BoxFuture<'static, Result<TakenFile, FileError>>;
}

/// One command to run, with its limits.
#[derive(Debug, Clone)]
pub struct ShellRun {
    /// A checked session id (see [`crate::is_session_id`]), naming the
    /// workspace.
    pub session: String,
    pub command: String,
    pub timeout: Duration,
    pub max_output_bytes: usize,
    pub memory_mb: u64,
    pub max_pids: u64,
}

/// A cause from the shell's own crate (the sandbox's, the volumes'), kept
/// whole for the log without this crate depending on it.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a command did not run to its end in a tool shell: the step that
/// failed. The agent is told this text.
#[derive(Debug, thiserror::Error)]
pub enum ToolShellError {
    #[error("the session id is not valid")]
    SessionId,
    #[error("every shell stayed busy for the whole timeout")]
    Busy,
    #[error("the tool shells are shutting down")]
    ShuttingDown,
    #[error("the run's broker socket: {0}")]
    BrokerSocket(#[source] std::io::Error),
    #[error(transparent)]
    MountWorkspace(Cause),
    #[error("a pipe: {0}")]
    Pipe(#[source] std::io::Error),
    #[error(transparent)]
    Start(Cause),
    #[error(transparent)]
    Wait(Cause),
    /// A blocking task (the mount, an output reader) panicked or was
    /// cancelled.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}
