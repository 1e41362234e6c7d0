//! Starting a session's browser: the one thing the pool needs of a shell.
//! The real launcher (`hardshell_shells::BrowserShells`) lives in the crate
//! that starts shells, so this crate, and the edge with it, links no sandbox.

use std::path::Path;

use futures::future::BoxFuture;

/// A session's name: `s<number>`, unique within this process (used in the
/// shell's directory names and in audit records).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    pub(crate) fn new(number: u64) -> Self {
        Self(format!("s{number}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Starts a fresh browser for a session: a new shell, a new profile.
pub trait Launch: Send + Sync + std::fmt::Debug + 'static {
    fn launch(
        &self,
        session: &SessionId,
    ) -> BoxFuture<'static, Result<Box<dyn RunningBrowser>, LaunchError>>;
}

/// A session's browser while it runs.
pub trait RunningBrowser: Send + Sync + std::fmt::Debug {
    /// The unix socket that reaches the browser's DevTools port inside its
    /// shell (see [`crate::chromium::DEVTOOLS_PORT`]).
    fn devtools(&self) -> &Path;
    /// Ends the whole shell (the browser, its renderers, everything) and
    /// returns once its last process has ended, saying how it ended.
    fn stop(self: Box<Self>) -> BoxFuture<'static, BrowserExit>;
}

/// How a session's browser shell ended, for its session's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserExit {
    /// Stopped by the pool at the session's end.
    Stopped,
    /// It had ended on its own before (a crash, or killed from inside).
    Exited,
    /// Its shell ran out of memory (`[browser] memory_mb`).
    OutOfMemory,
    /// The shell could not be waited for; see the log.
    Unknown,
}

/// A cause from the shell's own crate, kept whole for the log without this
/// crate depending on it.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a session's browser did not start.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("the browser's socket directory: {0}")]
    SocketDir(#[source] std::io::Error),
    #[error("the browser's broker socket: {0}")]
    BrokerSocket(#[source] std::io::Error),
    #[error("the browser's DevTools socket: {0}")]
    DevtoolsSocket(#[source] std::io::Error),
    #[error("the pipe for the browser's output: {0}")]
    Pipe(#[source] std::io::Error),
    #[error("starting the browser's shell: {0}")]
    Start(#[source] Cause),
}
