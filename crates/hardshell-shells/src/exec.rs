//! Tool shells: each `exec` command runs with bash in a fresh shell of its own
//! over its session's workspace (`<data>/workspaces/<session>`, a volume of
//! its own, see `hardshell_sandbox::volume`, mounted at `/workspace`), killed
//! whole at its timeout, with its output cut at a limit.
//! Nothing else of the host is in it: the system directories read-only, no
//! network but its own loopback, no sockets of the edge or the agent (the
//! policy is [`crate::policy`]'s `exec`).

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use hardshell_broker::proxy::Broker;
use hardshell_intercept::TrustFiles;
use hardshell_protocol::{ExecEnd, ExecReport};
use hardshell_sandbox::volume::Volumes;
use hardshell_sandbox::{Ended, Io, Launcher, ShellPolicy, Status, Stdio};
use tokio::sync::Semaphore;

use hardshell_exec::files::{Deposit, FileError, Take, TakenFile};
use hardshell_exec::{ShellRun, ToolShell, ToolShellError};

use crate::listener::RunBroker;
use crate::policy;
use crate::pool::ShellPool;
use crate::workspaces::SessionWorkspaces;

/// Runs commands in real shells (see `hardshell-sandbox`).
#[derive(Debug, Clone)]
pub struct SandboxShell {
    launcher: Arc<Launcher>,
    /// Each session's workspace is a volume, mounted at its first run.
    workspaces: SessionWorkspaces,
    /// Tool shells that may run at once; a run beyond them waits its turn.
    slots: Arc<Semaphore>,
    tmp_bytes: u64,
    /// Where each run's broker socket directory is made, and the broker,
    /// when exec shells have a way out.
    egress: Option<(PathBuf, Arc<Broker>)>,
    /// The egress CA's certificate and bundle, given to every shell with a
    /// way out, so the broker's inspected tunnels are trusted.
    trust: Option<Arc<TrustFiles>>,
    /// Shells prepared ahead (none unless [`SandboxShell::with_pool`]).
    pool: ShellPool,
}

impl SandboxShell {
    /// Tool shells started by `launcher`, over workspaces under `workspaces`
    /// (created, mode 0700), each a volume of `volumes`, at most `at_once` of
    /// them running. Volumes left mounted there by a killed edge are detached.
    pub fn new(
        launcher: Launcher,
        workspaces: PathBuf,
        volumes: Arc<Volumes>,
        at_once: usize,
        tmp_bytes: u64,
    ) -> std::io::Result<Self> {
        let workspaces = SessionWorkspaces::open(workspaces, volumes)?;
        Ok(Self::over(launcher, workspaces, at_once, tmp_bytes))
    }

    /// Tool shells over `workspaces` (shared with the modules granted them).
    pub fn over(
        launcher: Launcher,
        workspaces: SessionWorkspaces,
        at_once: usize,
        tmp_bytes: u64,
    ) -> Self {
        let launcher = Arc::new(launcher);
        Self {
            pool: ShellPool::new(launcher.clone(), 0, Duration::ZERO),
            launcher,
            workspaces,
            slots: Arc::new(Semaphore::new(at_once.max(1))),
            tmp_bytes,
            egress: None,
            trust: None,
        }
    }

    /// Keeps up to `size` shells prepared ahead while commands run, each
    /// ended after `idle` without one (see [`crate::pool`]).
    pub fn with_pool(mut self, size: usize, idle: Duration) -> Self {
        self.pool = ShellPool::new(self.launcher.clone(), size, idle);
        self
    }

    /// The pool of shells prepared ahead.
    pub fn pool(&self) -> &ShellPool {
        &self.pool
    }

    /// Gives each shell a way out: a listener of `broker`'s of its own, in a
    /// directory made under `socket_dir` for the run, which the shell's
    /// forwarder relays to, announced as `HTTP_PROXY`/`HTTPS_PROXY`.
    pub fn with_egress(mut self, socket_dir: PathBuf, broker: Arc<Broker>) -> Self {
        // Runs' directories left by an edge that was killed mid-run.
        for entry in std::fs::read_dir(&socket_dir)
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry.file_name().to_string_lossy().starts_with("run-") {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        self.egress = Some((socket_dir, broker));
        self
    }

    /// Gives each shell with a way out the egress CA to trust (see
    /// [`policy::broker_way_out`]): the broker's inspected routes answer with
    /// its certificates.
    pub fn with_trust(mut self, trust: TrustFiles) -> Self {
        self.trust = Some(Arc::new(trust));
        self
    }

    /// Where `session`'s commands run, on the host.
    pub fn workspace(&self, session: &str) -> PathBuf {
        self.workspaces.path(session)
    }
}

impl ToolShell for SandboxShell {
    fn run(&self, run: ShellRun) -> BoxFuture<'static, Result<ExecReport, ToolShellError>> {
        let this = self.clone();
        Box::pin(async move { this.run_one(run).await })
    }

    fn deposit(&self, file: Deposit) -> BoxFuture<'static, Result<String, FileError>> {
        let this = self.clone();
        Box::pin(async move {
            let workspace = this.mounted(&file.session).await?;
            let owner = hardshell_sandbox::host_ids();
            let Deposit { name, bytes, .. } = file;
            tokio::task::spawn_blocking(move || {
                crate::files::deposit(&workspace, &name, &bytes, owner)
            })
            .await
            .map_err(ToolShellError::Task)?
        })
    }

    fn take(&self, file: Take) -> BoxFuture<'static, Result<TakenFile, FileError>> {
        let this = self.clone();
        Box::pin(async move {
            let workspace = this.mounted(&file.session).await?;
            let Take {
                path, max_bytes, ..
            } = file;
            tokio::task::spawn_blocking(move || crate::files::take(&workspace, &path, max_bytes))
                .await
                .map_err(ToolShellError::Task)?
        })
    }
}

impl SandboxShell {
    /// `session`'s workspace, its volume mounted (at its first use, as a
    /// run mounts it): files go into the volume, never under it.
    async fn mounted(&self, session: &str) -> Result<PathBuf, ToolShellError> {
        self.workspaces.mounted(session).await
    }
}

impl SandboxShell {
    async fn run_one(&self, run: ShellRun) -> Result<ExecReport, ToolShellError> {
        // The session id was checked by the caller; checked again here because
        // it becomes a directory name.
        if !hardshell_exec::is_session_id(&run.session) {
            return Err(ToolShellError::SessionId);
        }
        let _slot = tokio::time::timeout(run.timeout, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| ToolShellError::Busy)?
            .map_err(|_| ToolShellError::ShuttingDown)?;
        let workspace = self.workspace(&run.session);
        let mut policy = policy::exec(workspace, &run, self.tmp_bytes);
        // The run's broker listener, stopped and removed when the run ends.
        let run_broker = match &self.egress {
            Some((socket_dir, broker)) => Some(way_out(
                &mut policy,
                socket_dir,
                broker,
                self.trust.as_deref(),
            )?),
            None => None,
        };
        // The session's volume, mounted at its first run and kept mounted.
        self.workspaces.mounted(&run.session).await?;
        let argv = [
            "/bin/bash".to_owned(),
            "--noprofile".to_owned(),
            "--norc".to_owned(),
            "-c".to_owned(),
            run.command,
        ];
        let limit = run.max_output_bytes;
        let started = match self.pool.take(&policy) {
            Some(prepared) => match self.start(Some(prepared), &policy, &argv, limit).await? {
                // The prepared shell was gone (killed, or its handover
                // failed): the run starts cold, as it would without a pool.
                // A layer that failed would fail there too, and says so.
                Err(e) if e.layer == hardshell_sandbox::Layer::Supervisor => {
                    tracing::warn!(error = %e, "a prepared exec shell failed; starting one cold");
                    self.start(None, &policy, &argv, limit).await?
                }
                started => started,
            },
            None => self.start(None, &policy, &argv, limit).await?,
        };
        let (running, stdout, stderr) = started.map_err(|e| ToolShellError::Start(e.into()))?;
        let report = running
            .wait()
            .await
            .map_err(|e| ToolShellError::Wait(e.into()))?;
        drop(run_broker);
        let (stdout, stdout_cut) = stdout.await?;
        let (stderr, stderr_cut) = stderr.await?;
        let exit_code = match report.status {
            Status::Exited(code) => Some(code),
            Status::Signaled(_) => None,
        };
        Ok(ExecReport {
            exit_code,
            ended: ending(&report),
            pids_limit_hit: report.pids_limit_hit,
            stdout,
            stderr,
            truncated: stdout_cut || stderr_cut,
            duration_ms: duration_ms(report.duration),
        })
    }
}

/// Why a run ended, as the agent and the audit record are told. A command
/// whose forks were refused at `[exec] max_pids` and then exited (a fork bomb
/// ends with bash's 254) ended for its process limit: `pids`, not `exited`.
/// The wall clock and the memory limit, which kill the whole shell, name
/// themselves; whether the pid limit was hit on the way is still reported.
fn ending(report: &hardshell_sandbox::ExitReport) -> ExecEnd {
    match (report.ended, report.status) {
        (Ended::WallClock, _) => ExecEnd::Timeout,
        (Ended::OutOfMemory, _) => ExecEnd::Memory,
        (Ended::Terminated, _) => ExecEnd::Terminated,
        (Ended::Exited, _) if report.pids_limit_hit => ExecEnd::Pids,
        (Ended::Exited, Status::Signaled(_)) => ExecEnd::Signal,
        (Ended::Exited, Status::Exited(_)) => ExecEnd::Exited,
    }
}

impl SandboxShell {
    /// Starts `argv` under `policy`, in `prepared` if given, else in a new
    /// shell; its output read as it comes, up to `limit` bytes a stream.
    async fn start(
        &self,
        prepared: Option<hardshell_sandbox::Prepared>,
        policy: &ShellPolicy,
        argv: &[String],
        limit: usize,
    ) -> Result<Result<Started, hardshell_sandbox::ShellError>, ToolShellError> {
        let (stdout, stdout_writer) = std::io::pipe().map_err(ToolShellError::Pipe)?;
        let (stderr, stderr_writer) = std::io::pipe().map_err(ToolShellError::Pipe)?;
        let io = Io {
            stdin: Stdio::Null,
            stdout: Stdio::Fd(OwnedFd::from(stdout_writer)),
            stderr: Stdio::Fd(OwnedFd::from(stderr_writer)),
        };
        // The readers start first: a command that writes more than a pipe holds
        // must not stall before anyone reads.
        let stdout = tokio::task::spawn_blocking(move || read_capped(stdout, limit));
        let stderr = tokio::task::spawn_blocking(move || read_capped(stderr, limit));
        let running = match prepared {
            Some(prepared) => prepared.run(policy, argv, io).await,
            None => hardshell_sandbox::spawn(&self.launcher, policy, argv, io).await,
        };
        Ok(running.map(|running| (running, stdout, stderr)))
    }
}

/// A started run: the shell, and its output's readers.
type Started = (hardshell_sandbox::Running, Captured, Captured);

/// A stream's text, as read until its end: what was kept, and whether
/// there was more.
type Captured = tokio::task::JoinHandle<(String, bool)>;

/// Gives `policy` its way out: a broker listener of the run's own, bound
/// in (see [`policy::broker_way_out`]).
fn way_out(
    policy: &mut ShellPolicy,
    socket_dir: &Path,
    broker: &Arc<Broker>,
    trust: Option<&TrustFiles>,
) -> Result<RunBroker, ToolShellError> {
    let own =
        RunBroker::start_under(socket_dir, broker.clone()).map_err(ToolShellError::BrokerSocket)?;
    policy::broker_way_out(policy, own.dir.clone(), trust);
    Ok(own)
}

/// Everything the pipe carries until every writer is gone, keeping the first
/// `limit` bytes; `true` if there was more.
fn read_capped(mut pipe: impl Read, limit: usize) -> (String, bool) {
    let mut kept = Vec::new();
    let mut cut = false;
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match pipe.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..n.min(room)]);
                cut |= n > room;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    (String::from_utf8_lossy(&kept).into_owned(), cut)
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn volumes(dir: &tempfile::TempDir) -> Arc<Volumes> {
        let size = hardshell_sandbox::volume::VolumeSize {
            bytes: 16 << 20,
            inodes: 1024,
        };
        Arc::new(Volumes::open(&dir.path().join("volumes"), size).unwrap())
    }

    /// A broker that allows nothing: these tests never reach it.
    fn broker() -> Arc<Broker> {
        let tls = hardshell_broker::proxy::platform_tls().unwrap();
        let guard = hardshell_broker::address::AddressGuard::new(Vec::new());
        Arc::new(Broker::new(
            hardshell_broker::policy::EgressPolicy::default(),
            guard,
            tls,
        ))
    }

    fn launcher_that_starts_nothing() -> Launcher {
        Launcher {
            program: PathBuf::from("/nonexistent"),
            args: Vec::new(),
        }
    }

    #[test]
    fn runs_directories_left_by_a_killed_edge_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let (workspaces, sockets) = (dir.path().join("workspaces"), dir.path().join("exec"));
        std::fs::create_dir_all(sockets.join("run-4242-7")).unwrap();
        std::fs::write(sockets.join("run-4242-7/broker.sock"), b"").unwrap();
        std::fs::create_dir_all(sockets.join("kept")).unwrap();
        let launcher = launcher_that_starts_nothing();
        let _shell = SandboxShell::new(launcher, workspaces, volumes(&dir), 1, 1 << 20)
            .unwrap()
            .with_egress(sockets.clone(), broker());
        assert!(!sockets.join("run-4242-7").exists());
        assert!(sockets.join("kept").is_dir());
    }

    fn report(status: Status, ended: Ended, pids_limit_hit: bool) -> hardshell_sandbox::ExitReport {
        hardshell_sandbox::ExitReport {
            status,
            ended,
            pids_limit_hit,
            duration: Duration::from_millis(1),
        }
    }

    #[test]
    fn a_fork_bomb_that_exits_ended_for_its_process_limit() {
        // What a fork bomb under `max_pids` looks like: bash exits 254 after
        // its forks are refused.
        let bomb = report(Status::Exited(254), Ended::Exited, true);
        assert_eq!(ending(&bomb).as_str(), "pids");
        let signaled = report(Status::Signaled(9), Ended::Exited, true);
        assert_eq!(ending(&signaled).as_str(), "pids");
        // Without the limit hit, an exit is an exit.
        assert_eq!(
            ending(&report(Status::Exited(254), Ended::Exited, false)).as_str(),
            "exited"
        );
        assert_eq!(
            ending(&report(Status::Signaled(9), Ended::Exited, false)).as_str(),
            "signal"
        );
        // The wall clock names itself even when the limit was hit on the way.
        assert_eq!(
            ending(&report(Status::Signaled(9), Ended::WallClock, true)).as_str(),
            "timeout"
        );
    }

    /// The broker is given at construction, so "no broker yet" cannot
    /// happen; what can is a run whose own broker socket cannot be made.
    /// It is refused, never run without its way out.
    #[tokio::test]
    async fn a_run_whose_broker_socket_cannot_be_made_is_refused_not_run_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let sockets = dir.path().join("exec");
        // A file where the runs' directories go: no run directory can be made.
        std::fs::write(&sockets, b"").unwrap();
        let shell = SandboxShell::new(
            // Nothing would start: the refusal must come first.
            launcher_that_starts_nothing(),
            dir.path().join("workspaces"),
            volumes(&dir),
            1,
            1 << 20,
        )
        .unwrap()
        .with_egress(sockets.clone(), broker());
        let error = shell
            .run(ShellRun {
                session: "s-1".into(),
                command: "true".into(),
                timeout: Duration::from_secs(5),
                max_output_bytes: 1024,
                memory_mb: 64,
                max_pids: 16,
            })
            .await
            .unwrap_err();
        assert!(
            matches!(error, ToolShellError::BrokerSocket(_)),
            "{error:?}"
        );
        assert!(
            error.to_string().starts_with("the run's broker socket: "),
            "{error}"
        );
        assert!(sockets.is_file());
    }
}
