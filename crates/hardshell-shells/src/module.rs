//! Module shells: each module's host process (`hardshell-module-host`) in
//! a shell of its own ([`crate::policy::module()`]), started at its first
//! call and kept for the next ones, its calls and answers JSON lines on its
//! standard streams ([`hardshell_protocol::ModuleCall`]).
//!
//! The host process is treated as hostile (a module that escaped wasmtime
//! runs it): its answer is read bounded and checked, its output is logged
//! bounded and escaped, and a process that does not answer within the
//! call's deadline, answers what does not read, or dies, is killed with its
//! shell; the next call starts a fresh one. Calls to one module wait for
//! each other: its process runs one call at a time.
//!
//! On the host, under the shells' directory (root's, 0700): `module-host`
//! (the host program's image, as the edge carries it: root's, 0555), `empty/`
//! (every module shell's `/workspace`: root's, 0555) and per module
//! `<name>/component/module.wasm` (root's, 0644, the locked package's
//! component) and `<name>/run-<pid>-<n>/` (its broker socket, while a
//! process runs).

use std::io::BufRead as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hardshell_broker::proxy::Broker;
use hardshell_module_wire::{HostStart, ModuleGrants, WorkspaceGrant};
use hardshell_protocol::{
    MAX_MODULE_ANSWER_BYTES, MAX_MODULE_ANSWER_LINE_BYTES, MAX_MODULE_ARGUMENTS_BYTES,
    MAX_MODULE_TOOL_BYTES, MODULE_HOST_READY, ModuleAnswer, ModuleCall, ModuleFailure,
};
use hardshell_sandbox::{Io, Launcher, Running, Stdio};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::unix::pipe;

use crate::listener::RunBroker;
use crate::policy::{
    self, COMPONENT_DIR, COMPONENT_FILE, GrantedWorkspace, MODULE_HOST_PROGRAM, ModuleShell,
    PROXY_PORT,
};
use crate::workspaces::SessionWorkspaces;

/// How long a fresh host process may take to compile its component and
/// say it is ready.
const START_MARGIN: Duration = Duration::from_secs(30);
/// On top of each call's deadline: the module host ends a call at its
/// deadline itself; past this margin the process is not answering.
const CALL_MARGIN: Duration = Duration::from_secs(2);
/// Longest message of a failure passed on to the model.
const MAX_MESSAGE_BYTES: usize = 4096;
/// Shells of one module granted the workspace that may run at once, one
/// per conversation (each sees that conversation's workspace only). For
/// another, the least recently used idle one is stopped.
pub const MAX_SESSION_SHELLS: usize = 4;
/// Lines of a host process's own output logged per process (at debug).
const LOG_LINES: usize = 50;
/// Longest line logged.
const LOG_LINE_BYTES: usize = 512;

/// What every module shell is given besides its module's own memory.
#[derive(Debug, Clone)]
pub struct ModuleLimits {
    /// 100 is one core.
    pub cpu_percent: u32,
    pub tmp_bytes: u64,
}

/// Starts module shells (see the module).
#[derive(Debug)]
pub struct ModuleShells {
    launcher: Launcher,
    program: PathBuf,
    dir: PathBuf,
    limits: ModuleLimits,
    /// The conversations' workspaces, for modules granted them.
    workspaces: Option<SessionWorkspaces>,
}

/// One module, as its runner starts it.
#[derive(Debug)]
pub struct ModuleSpec<'a> {
    /// The module's name (a `ModuleName`: letters, digits, `-`).
    pub name: &'a str,
    /// The locked package's `module.wasm`.
    pub component: &'a [u8],
    /// What the owner accepted for it, as its host process applies it.
    pub grants: ModuleGrants,
    /// The module's broker: its routes and secrets only.
    pub broker: Arc<Broker>,
}

impl ModuleShells {
    /// Module shells running the module host program whose image is
    /// `host_image` (written under `dir`), started by `launcher`, their
    /// files under `dir` (made afresh: whatever a killed edge left there is
    /// removed first).
    pub fn new(
        launcher: Launcher,
        host_image: &[u8],
        dir: PathBuf,
        limits: ModuleLimits,
    ) -> std::io::Result<Self> {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        // Absolute and without symlinks: shells bind exactly these paths.
        let dir = dir.canonicalize()?;
        let empty = dir.join("empty");
        std::fs::DirBuilder::new().mode(0o555).create(&empty)?;
        std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o555))?;
        let program = dir.join("module-host");
        std::fs::write(&program, host_image)?;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o555))?;
        Ok(Self {
            launcher,
            program,
            dir,
            limits,
            workspaces: None,
        })
    }

    /// Gives modules granted the conversation's workspace that workspace:
    /// without it, their calls are refused.
    pub fn with_workspaces(mut self, workspaces: SessionWorkspaces) -> Self {
        self.workspaces = Some(workspaces);
        self
    }

    /// The runner of one module: its component written where its shell
    /// will find it; no shell starts before its first call.
    pub fn runner(&self, spec: ModuleSpec<'_>) -> std::io::Result<ModuleRunner> {
        let valid = !spec.name.is_empty()
            && spec
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(std::io::Error::other(
                "a module's name is not a module name",
            ));
        }
        let module_dir = self.dir.join(spec.name);
        let component_dir = module_dir.join("component");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&component_dir)?;
        let component = component_dir.join(COMPONENT_FILE);
        std::fs::write(&component, spec.component)?;
        std::fs::set_permissions(&component, std::fs::Permissions::from_mode(0o644))?;
        Ok(ModuleRunner {
            name: spec.name.to_owned(),
            launcher: self.launcher.clone(),
            program: self.program.clone(),
            component_dir,
            module_dir,
            empty: self.dir.join("empty"),
            workspaces: self.workspaces.clone(),
            timeout: Duration::from_millis(spec.grants.timeout_ms),
            grants: spec.grants,
            limits: self.limits.clone(),
            broker: spec.broker,
            shells: std::sync::Mutex::new(Vec::new()),
        })
    }
}

/// Runs one module's calls in its shell (see the module).
#[derive(Debug)]
pub struct ModuleRunner {
    name: String,
    launcher: Launcher,
    program: PathBuf,
    component_dir: PathBuf,
    /// Holds the component's directory and each start's broker directory.
    module_dir: PathBuf,
    /// `/workspace` of a module not granted the conversation's.
    empty: PathBuf,
    workspaces: Option<SessionWorkspaces>,
    grants: ModuleGrants,
    timeout: Duration,
    limits: ModuleLimits,
    broker: Arc<Broker>,
    /// Its shells: one, or one per conversation when it is granted the
    /// workspace (at most [`MAX_SESSION_SHELLS`]).
    shells: std::sync::Mutex<Vec<SessionShell>>,
}

/// One shell of a module, and whose workspace it sees.
#[derive(Debug)]
struct SessionShell {
    /// `None`: the module sees no workspace, and one shell serves every
    /// conversation.
    session: Option<String>,
    used: std::time::Instant,
    process: Arc<tokio::sync::Mutex<Option<HostProcess>>>,
}

impl ModuleRunner {
    /// Runs `tool` with `arguments` (a JSON object's text) for `session`
    /// (an id the caller checked). Every way it can fail is an answer: the
    /// model is told, the edge stays up.
    pub async fn call(&self, session: &str, tool: &str, arguments: &str) -> ModuleAnswer {
        if tool.len() > MAX_MODULE_TOOL_BYTES || arguments.len() > MAX_MODULE_ARGUMENTS_BYTES {
            return refused("the tool name or its arguments are too long");
        }
        let workspace = match self.grants.workspace {
            WorkspaceGrant::None => None,
            WorkspaceGrant::Read | WorkspaceGrant::Write => {
                let Some(workspaces) = &self.workspaces else {
                    return refused(
                        "the module is granted the conversation's workspace, and this edge keeps none",
                    );
                };
                match workspaces.mounted(session).await {
                    Ok(path) => Some((session, path)),
                    Err(e) => {
                        tracing::warn!(module = %self.name, error = %e, "a conversation's workspace could not be mounted for a module");
                        return refused("the conversation's workspace could not be opened");
                    }
                }
            }
        };
        let Some(shell) = self.shell_for(workspace.as_ref().map(|(session, _)| *session)) else {
            return refused(&format!(
                "the module is answering in {MAX_SESSION_SHELLS} other conversations; try again when one is done"
            ));
        };
        let mut process = shell.lock().await;
        if process.is_none() {
            let granted = workspace.as_ref().map(|(_, path)| path.as_path());
            match self.start(granted).await {
                Ok(started) => *process = Some(started),
                Err(e) => {
                    tracing::warn!(module = %self.name, error = %e, "a module's shell did not start");
                    return refused("the module's host could not be started");
                }
            }
        }
        let deadline = self.timeout + CALL_MARGIN;
        let Some(running) = process.as_mut() else {
            return refused("the module's host could not be started");
        };
        let call = ModuleCall {
            tool: tool.to_owned(),
            arguments: arguments.to_owned(),
        };
        match tokio::time::timeout(deadline, running.exchange(&call)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(why)) => {
                tracing::warn!(module = %self.name, why, "a module's host failed; its shell is stopped");
                if let Some(failed) = process.take() {
                    failed.stop();
                }
                refused("the module's host failed and was stopped")
            }
            Err(_elapsed) => {
                tracing::warn!(module = %self.name, "a module's host did not answer in time; its shell is stopped");
                if let Some(stuck) = process.take() {
                    stuck.stop();
                }
                ModuleAnswer::Failed {
                    failure: ModuleFailure::Timeout,
                    message: format!(
                        "the module did not answer within {} ms and was stopped",
                        self.timeout.as_millis()
                    ),
                }
            }
        }
    }

    /// Stops the module's shells, if any run.
    pub async fn stop(&self) {
        let shells: Vec<_> = self
            .shells
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
            .map(|shell| shell.process)
            .collect();
        for shell in shells {
            if let Some(process) = shell.lock().await.take() {
                process.stop();
            }
        }
    }

    /// The shell for `session`'s calls (`None`: the one shell of a module
    /// without a workspace), made room for if need be; `None` when every
    /// shell is busy with a call of another conversation.
    fn shell_for(
        &self,
        session: Option<&str>,
    ) -> Option<Arc<tokio::sync::Mutex<Option<HostProcess>>>> {
        let mut shells = self
            .shells
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = std::time::Instant::now();
        if let Some(shell) = shells
            .iter_mut()
            .find(|shell| shell.session.as_deref() == session)
        {
            shell.used = now;
            return Some(shell.process.clone());
        }
        if shells.len() >= MAX_SESSION_SHELLS {
            let index = least_recently_used_idle(&shells)?;
            let evicted = shells.swap_remove(index);
            // Nobody else holds it (see `least_recently_used_idle`), so the
            // lock is free.
            if let Ok(mut idle) = evicted.process.try_lock()
                && let Some(process) = idle.take()
            {
                process.stop();
            }
        }
        let process = Arc::new(tokio::sync::Mutex::new(None));
        shells.push(SessionShell {
            session: session.map(str::to_owned),
            used: now,
            process: process.clone(),
        });
        Some(process)
    }

    /// Starts a host process, in a shell that sees `workspace` (a
    /// conversation's, on the host) at `/workspace` when the module is
    /// granted it.
    async fn start(&self, workspace: Option<&Path>) -> std::io::Result<HostProcess> {
        // A directory of its own each start: the last process's may still
        // be going away.
        let broker = RunBroker::start_under(&self.module_dir, self.broker.clone())?;
        let policy = policy::module(ModuleShell {
            program: self.program.clone(),
            component_dir: self.component_dir.clone(),
            workspace: self.empty.clone(),
            granted_workspace: workspace.map(|path| GrantedWorkspace {
                host: path.to_path_buf(),
                writable: self.grants.workspace == WorkspaceGrant::Write,
            }),
            broker_dir: broker.dir.clone(),
            module_memory_bytes: u64::from(self.grants.memory_mb) << 20,
            cpu_percent: self.limits.cpu_percent,
            tmp_bytes: self.limits.tmp_bytes,
        });
        let start = HostStart {
            component: PathBuf::from(COMPONENT_DIR).join(COMPONENT_FILE),
            proxy: SocketAddr::from((Ipv4Addr::LOCALHOST, PROXY_PORT)),
            grants: self.grants.clone(),
        };
        let argv = vec![
            MODULE_HOST_PROGRAM.to_owned(),
            serde_json::to_string(&start).map_err(std::io::Error::other)?,
        ];
        let (calls_in, calls) = std::io::pipe()?;
        let (answers, answers_out) = std::io::pipe()?;
        let (log, log_out) = std::io::pipe()?;
        let io = Io {
            stdin: Stdio::Fd(OwnedFd::from(calls_in)),
            stdout: Stdio::Fd(OwnedFd::from(answers_out)),
            stderr: Stdio::Fd(OwnedFd::from(log_out)),
        };
        let name = self.name.clone();
        std::thread::spawn(move || log_output(log, &name));
        let running = hardshell_sandbox::spawn(&self.launcher, &policy, &argv, io)
            .await
            .map_err(std::io::Error::other)?;
        let mut process = HostProcess {
            input: pipe::Sender::from_owned_fd(OwnedFd::from(calls))?,
            output: BufReader::new(pipe::Receiver::from_owned_fd(OwnedFd::from(answers))?),
            running,
            _broker: broker,
        };
        match tokio::time::timeout(START_MARGIN, process.ready()).await {
            Ok(true) => Ok(process),
            Ok(false) | Err(_) => {
                process.stop();
                Err(std::io::Error::other(
                    "its host process did not say it was ready",
                ))
            }
        }
    }
}

/// The least recently used of `shells` that no call holds. A call takes its
/// shell's handle here, under the list's lock, and only then waits for the
/// shell: a handle held outside the list is a call in progress or about to
/// start, whose shell must stay, lest that call start a process outside the
/// list, past the cap and beyond `stop`.
fn least_recently_used_idle(shells: &[SessionShell]) -> Option<usize> {
    shells
        .iter()
        .enumerate()
        .filter(|(_, shell)| Arc::strong_count(&shell.process) == 1)
        .min_by_key(|(_, shell)| shell.used)
        .map(|(index, _)| index)
}

/// A module's running host process and what it holds on the host.
#[derive(Debug)]
struct HostProcess {
    input: pipe::Sender,
    output: BufReader<pipe::Receiver>,
    running: Running,
    _broker: RunBroker,
}

impl HostProcess {
    /// Whether the process's first line is [`MODULE_HOST_READY`].
    async fn ready(&mut self) -> bool {
        let mut line = Vec::new();
        let limit = MODULE_HOST_READY.len() as u64;
        let read = (&mut self.output)
            .take(limit)
            .read_until(b'\n', &mut line)
            .await;
        read.is_ok() && line == MODULE_HOST_READY
    }

    /// Sends `call` and reads its answer; `Err` says why the process can no
    /// longer be trusted to answer the next one.
    async fn exchange(&mut self, call: &ModuleCall) -> Result<ModuleAnswer, &'static str> {
        let mut line = serde_json::to_vec(call).map_err(|_| "the call could not be written")?;
        line.push(b'\n');
        self.input
            .write_all(&line)
            .await
            .map_err(|_| "it no longer reads its calls")?;
        let mut answer = Vec::new();
        let limit = MAX_MODULE_ANSWER_LINE_BYTES as u64 + 1;
        (&mut self.output)
            .take(limit)
            .read_until(b'\n', &mut answer)
            .await
            .map_err(|_| "its answer could not be read")?;
        if answer.last() != Some(&b'\n') {
            return Err("it ended, or its answer was over the limit");
        }
        let answer: ModuleAnswer =
            serde_json::from_slice(&answer).map_err(|_| "its answer does not read")?;
        checked(answer)
    }

    /// Stops the shell; its end is waited for (and its cgroups removed) on
    /// a task of its own, then the broker listener goes.
    fn stop(self) {
        self.running.terminate();
        let HostProcess {
            running, _broker, ..
        } = self;
        tokio::spawn(async move {
            let _ = running.wait().await;
            drop(_broker);
        });
    }
}

/// An answer within its bounds; a failure's message cut to its bound.
fn checked(answer: ModuleAnswer) -> Result<ModuleAnswer, &'static str> {
    match answer {
        ModuleAnswer::Answered { text } if text.len() > MAX_MODULE_ANSWER_BYTES => {
            Err("its answer was over the limit")
        }
        ModuleAnswer::Failed { failure, message } => Ok(ModuleAnswer::Failed {
            failure,
            message: cut(message, MAX_MESSAGE_BYTES),
        }),
        answered => Ok(answered),
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn refused(message: &str) -> ModuleAnswer {
    ModuleAnswer::Failed {
        failure: ModuleFailure::Refused,
        message: message.to_owned(),
    }
}

/// Logs what a host process prints, at debug, escaped and bounded (see
/// [`LOG_LINES`]); reads to the end so the process never blocks on a full
/// pipe.
fn log_output(output: std::io::PipeReader, module: &str) {
    let mut reader = std::io::BufReader::new(output);
    let mut line = Vec::new();
    let mut logged = 0usize;
    loop {
        line.clear();
        match std::io::Read::take(&mut reader, 64 * 1024).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if logged < LOG_LINES => {
                logged += 1;
                let shown = &line[..line.len().min(LOG_LINE_BYTES)];
                let text = String::from_utf8_lossy(shown);
                tracing::debug!(target: "hardshell::module", module, line = %text.trim_end().escape_debug());
            }
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(session: &str, age_secs: u64) -> SessionShell {
        let now = std::time::Instant::now();
        SessionShell {
            session: Some(session.to_owned()),
            used: now
                .checked_sub(Duration::from_secs(age_secs))
                .unwrap_or(now),
            process: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    #[test]
    fn the_shell_made_room_for_is_the_least_recently_used_one_no_call_holds() {
        let shells = [shell("web-a", 30), shell("web-b", 20), shell("web-c", 10)];
        assert_eq!(least_recently_used_idle(&shells), Some(0));
        // A call took web-a's handle and waits for it: it stays.
        let waiting = shells[0].process.clone();
        assert_eq!(least_recently_used_idle(&shells), Some(1));
        let running = shells[1].process.clone();
        let last = shells[2].process.clone();
        assert_eq!(least_recently_used_idle(&shells), None);
        drop((waiting, running, last));
        assert_eq!(least_recently_used_idle(&shells), Some(0));
    }

    #[test]
    fn an_answer_over_its_bound_is_refused_and_a_message_is_cut() {
        let long = "x".repeat(MAX_MODULE_ANSWER_BYTES + 1);
        assert!(checked(ModuleAnswer::Answered { text: long }).is_err());
        let answer = checked(ModuleAnswer::Failed {
            failure: ModuleFailure::Tool,
            message: "é".repeat(MAX_MESSAGE_BYTES),
        });
        let Ok(ModuleAnswer::Failed { message, .. }) = answer else {
            panic!("{answer:?}");
        };
        assert!(message.len() <= MAX_MESSAGE_BYTES && message.starts_with('é'));
    }
}
