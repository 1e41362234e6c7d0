//! The supervisor's half of a shell: start it, write its user map, watch it.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hardshell_sandbox_sys as sys;
use tracing::Instrument;

use crate::cgroup::Cgroup;
use crate::init::{EXEC_FD, HANDOVER_FD, INBOUND_FD, LISTENER_FD, REPORT_FD, Report, STDIN_FD};
use crate::plan::{InitPlan, Passed};
mod prepared;
pub(crate) use prepared::waiting;
pub use prepared::{Prepared, prepare};

use crate::{
    Ended, ExitReport, HOST_ID_WHEN_ROOT, INSIDE_ID, Io, Launcher, Layer, ShellError, ShellPolicy,
    Status, Stdio,
};

/// How long a shell may take to start before it is given up on.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`Running::terminate`] waits after SIGTERM before SIGKILL.
const TERMINATE_GRACE: Duration = Duration::from_secs(2);

/// A started shell.
#[derive(Debug)]
pub struct Running {
    child: tokio::process::Child,
    pid: u32,
    /// Held open for the shell's life: init ends the shell when it closes,
    /// which is when this process dies, however it dies.
    _control: std::io::PipeWriter,
    report: BufReader<std::fs::File>,
    cgroup: Arc<Cgroup>,
    started: Instant,
    wall_clock: Option<Duration>,
    terminated: Arc<AtomicBool>,
    /// `shell{name}`, from start to the end [`Running::wait`] reports: what
    /// is logged about this shell is logged in it.
    span: tracing::Span,
}

/// Starts `argv` in a new shell under `policy`. Returns once the workload's
/// exec succeeded, or with the layer that failed.
pub async fn spawn(
    launcher: &Launcher,
    policy: &ShellPolicy,
    argv: &[String],
    io: Io,
) -> Result<Running, ShellError> {
    spawn_inner(launcher, policy, argv, io, Handed::default()).await
}

/// [`spawn`], the workload given `listener` at [`crate::LISTEN_FD`] (with
/// `LISTEN_FDS=1`). The caller keeps its own copy: a workload started again
/// serves the same socket, and connections made meanwhile wait in its queue.
pub async fn spawn_serving(
    launcher: &Launcher,
    policy: &ShellPolicy,
    argv: &[String],
    io: Io,
    listener: &std::os::unix::net::UnixListener,
) -> Result<Running, ShellError> {
    let handed = Handed {
        listener: Some(listener.as_fd()),
        inbound: None,
    };
    spawn_inner(launcher, policy, argv, io, handed).await
}

/// [`spawn`], with the inbound forwarder: the shell's reaper accepts on
/// `inbound` (a listening unix socket the caller bound, in a directory of
/// its own) and relays each connection to the workload's port
/// ([`crate::Inbound`], which the policy must name) on the shell's
/// `127.0.0.1`. The workload never holds `inbound`. The caller keeps its
/// copy: a workload started again serves the same socket.
pub async fn spawn_inbound(
    launcher: &Launcher,
    policy: &ShellPolicy,
    argv: &[String],
    io: Io,
    inbound: &std::os::unix::net::UnixListener,
) -> Result<Running, ShellError> {
    if policy.inbound.is_none() {
        return Err(ShellError::new(
            Layer::Policy,
            "an inbound listener for a policy without an inbound port",
        ));
    }
    let handed = Handed {
        listener: None,
        inbound: Some(inbound.as_fd()),
    };
    spawn_inner(launcher, policy, argv, io, handed).await
}

/// Descriptors handed to the shell beyond its standard streams.
#[derive(Default, Clone, Copy)]
struct Handed<'a> {
    /// The workload's listener ([`spawn_serving`]).
    listener: Option<std::os::fd::BorrowedFd<'a>>,
    /// The inbound forwarder's ([`spawn_inbound`]), the reaper's.
    inbound: Option<std::os::fd::BorrowedFd<'a>>,
}

async fn spawn_inner(
    launcher: &Launcher,
    policy: &ShellPolicy,
    argv: &[String],
    io: Io,
    handed: Handed<'_>,
) -> Result<Running, ShellError> {
    let started = Instant::now();
    crate::plan::check_policy(policy)?;
    // After the check, so the name is `[a-z0-9-]{1,48}` and no other text.
    let span = tracing::info_span!("shell", name = %policy.name);
    let mut running = spawn_checked(launcher, policy, argv, io, handed)
        .instrument(span)
        .await?;
    // The wall clock and the reported duration count the start too.
    running.started = started;
    tracing::debug!(parent: &running.span, pid = running.pid, "shell started");
    Ok(running)
}

/// [`spawn_inner`] once the policy passed its check.
async fn spawn_checked(
    launcher: &Launcher,
    policy: &ShellPolicy,
    argv: &[String],
    io: Io,
    handed: Handed<'_>,
) -> Result<Running, ShellError> {
    let (host_uid, host_gid) = host_ids();
    give_writable(policy)?;
    let cgroup = Arc::new(Cgroup::create(&policy.name, &policy.limits)?);
    let ids = (host_uid, host_gid);
    let plan = InitPlan {
        policy: policy.clone(),
        argv: argv.to_vec(),
        host_gid,
        passed: match handed.listener {
            Some(_) => Passed::Listener,
            None => Passed::Nothing,
        },
        inbound: handed.inbound.is_some(),
        pooled: false,
    };
    match start(launcher, &plan, io, handed, Mode::Cold, &cgroup, ids).await {
        Ok(launched) => Ok(launched.running(&cgroup, policy.limits.wall_clock)),
        Err(e) => {
            // A shell that failed to start may have forked already: its
            // failure is reported once nothing of it is left either.
            removed(cgroup).await;
            Err(e)
        }
    }
}

/// Checks the workspace is a directory, and gives what the shell's
/// processes must write to them: they are the unprivileged host id.
fn give_writable(policy: &ShellPolicy) -> Result<(), ShellError> {
    if !policy.workspace.is_dir() {
        return Err(ShellError::new(
            Layer::Mounts,
            format!(
                "the workspace {} is not a directory",
                policy.workspace.display()
            ),
        ));
    }
    let (host_uid, host_gid) = host_ids();
    if sys::ids().0 == 0 {
        let writable = std::iter::once(&policy.workspace)
            .chain(policy.binds.iter().filter(|b| b.writable).map(|b| &b.host));
        for path in writable {
            std::os::unix::fs::chown(path, Some(host_uid), Some(host_gid)).map_err(|e| {
                ShellError::new(
                    Layer::Mounts,
                    format!("giving {} to the shell: {e}", path.display()),
                )
            })?;
        }
    }
    Ok(())
}

/// The host uid and gid a shell's processes run as: a dedicated one when
/// the supervisor is root, else its own. Whatever a shell must write or
/// connect to belongs to it.
pub fn host_ids() -> (u32, u32) {
    match sys::ids() {
        (0, _) => (HOST_ID_WHEN_ROOT, HOST_ID_WHEN_ROOT),
        ids => ids,
    }
}

fn supervisor(what: &str) -> impl Fn(std::io::Error) -> ShellError {
    let what = what.to_owned();
    move |e| ShellError::new(Layer::Supervisor, format!("{what}: {e}"))
}

/// What [`start`] is asked to start.
#[derive(Clone, Copy)]
enum Mode<'a> {
    /// A shell that runs its command now.
    Cold,
    /// A shell prepared ahead: its reaper waits for its run on this socket
    /// (see [`prepared`]).
    Pooled(std::os::fd::BorrowedFd<'a>),
}

/// A started init process, before what it runs is known to have started.
struct Launched {
    child: tokio::process::Child,
    pid: u32,
    control: std::io::PipeWriter,
    report: BufReader<std::fs::File>,
    /// Open while the shell's exec pipe is (a pooled shell's, until its
    /// workload's exec).
    exec: Option<std::io::PipeReader>,
}

async fn start(
    launcher: &Launcher,
    plan: &InitPlan,
    io: Io,
    handed: Handed<'_>,
    mode: Mode<'_>,
    cgroup: &Arc<Cgroup>,
    (host_uid, host_gid): (u32, u32),
) -> Result<Launched, ShellError> {
    let (control_read, mut control_write) = std::io::pipe().map_err(supervisor("pipe"))?;
    let (report_read, report_write) = std::io::pipe().map_err(supervisor("pipe"))?;
    let (mut exec_read, exec_write) = std::io::pipe().map_err(supervisor("pipe"))?;
    let stdin = match io.stdin {
        Stdio::Fd(fd) => fd,
        Stdio::Null => {
            OwnedFd::from(std::fs::File::open("/dev/null").map_err(supervisor("/dev/null"))?)
        }
    };
    // Numbered above the targets, so no dup2 onto 3-8 clobbers a source.
    let high = |fd: &dyn AsFd| sys::dup_above(fd.as_fd(), 10).map_err(supervisor("dup"));
    let mut passed = vec![
        (high(&report_write)?, REPORT_FD),
        (high(&exec_write)?, EXEC_FD),
        (high(&stdin)?, STDIN_FD),
    ];
    if let Some(listener) = handed.listener {
        passed.push((high(&listener)?, LISTENER_FD));
    }
    if let Some(inbound) = handed.inbound {
        passed.push((high(&inbound)?, INBOUND_FD));
    }
    if let Mode::Pooled(handover) = mode {
        passed.push((high(&handover)?, HANDOVER_FD));
    }
    drop((report_write, exec_write, stdin));
    let mut command = std::process::Command::new(&launcher.program);
    command
        .args(&launcher.args)
        .env_clear()
        .stdin(control_read)
        .stdout(stdio(io.stdout))
        .stderr(stdio(io.stderr))
        // Not in the edge's process group: a Ctrl-C at the terminal is for
        // the edge, which stops its shells in order.
        .process_group(0);
    sys::pass_fds(
        &mut command,
        passed
            .iter()
            .map(|(fd, target)| (fd.as_raw_fd(), *target))
            .collect(),
    );
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    let child = command.spawn().map_err(|e| {
        ShellError::new(
            Layer::Supervisor,
            format!("starting {}: {e}", launcher.program.display()),
        )
    })?;
    drop(passed);
    drop(command);
    let pid = child
        .id()
        .ok_or_else(|| ShellError::new(Layer::Supervisor, "the init process is gone"))?;
    let joining = cgroup.clone();
    let pooled = matches!(mode, Mode::Pooled(_));
    let plan = serde_json::to_vec(plan).map_err(|e| ShellError::new(Layer::Supervisor, e))?;
    let handshake = tokio::task::spawn_blocking(move || {
        let mut report = BufReader::new(std::fs::File::from(OwnedFd::from(report_read)));
        let mut write_plan = || -> std::io::Result<()> {
            let length = u32::try_from(plan.len()).map_err(std::io::Error::other)?;
            control_write.write_all(&length.to_le_bytes())?;
            control_write.write_all(&plan)
        };
        // A failed write means init is gone; its reason is on the exec pipe.
        let mut unshared = write_plan().is_ok();
        if unshared {
            unshared = matches!(read_report(&mut report), Some(Report::Unshared));
        }
        if unshared {
            write_user_map(pid, host_uid, host_gid)?;
            let _ = control_write.write_all(b"g");
            // While init builds the mount tree: a v1 cgroup move can wait for
            // an RCU grace period (milliseconds), so it is not done in line.
            // Init waits for `c` before it forks anything.
            joining.add(pid)?;
            let _ = control_write.write_all(b"c");
        }
        if pooled && unshared {
            // The exec pipe stays open until the run: the shell is ready
            // once init has forked the reaper and the reaper has pivoted.
            let (mut pid1, mut ready) = (false, false);
            while !(pid1 && ready) {
                match read_report(&mut report) {
                    Some(Report::Pid1(_)) => pid1 = true,
                    Some(Report::Ready) => ready = true,
                    _ => {
                        return Err(failure(&mut exec_read).unwrap_or_else(|| {
                            ShellError::new(
                                Layer::Supervisor,
                                "the shell ended before it was ready",
                            )
                        }));
                    }
                }
            }
            return Ok((report, control_write, Some(exec_read)));
        }
        if let Some(failure) = failure(&mut exec_read) {
            return Err(failure);
        }
        if !unshared {
            return Err(ShellError::new(
                Layer::Supervisor,
                "the init process ended before starting the shell",
            ));
        }
        match read_report(&mut report) {
            Some(Report::Pid1(_)) => Ok((report, control_write, None)),
            _ => Err(ShellError::new(
                Layer::Supervisor,
                "the init process did not report the shell's pid 1",
            )),
        }
    });
    let mut child = child;
    let (report, control, exec) = match started_within(handshake).await {
        Ok(started) => started,
        Err(e) => {
            let _ = child.kill().await;
            return Err(e);
        }
    };
    Ok(Launched {
        child,
        pid,
        control,
        report,
        exec,
    })
}

/// What a blocking step of a start gave, or a [`ShellError`] if it failed
/// or took longer than [`START_TIMEOUT`].
async fn started_within<T>(
    step: tokio::task::JoinHandle<Result<T, ShellError>>,
) -> Result<T, ShellError> {
    match tokio::time::timeout(START_TIMEOUT, step).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(ShellError::new(Layer::Supervisor, e)),
        Err(_) => Err(ShellError::new(
            Layer::Supervisor,
            "the shell did not start within 30 s",
        )),
    }
}

/// Reads the exec pipe to its end (every holder closed it: the workload
/// by its exec, or the shell by ending): the layer that failed, if one did.
fn failure(exec: &mut std::io::PipeReader) -> Option<ShellError> {
    let mut failure = String::new();
    let _ = exec.read_to_string(&mut failure);
    let line = failure.lines().next()?;
    Some(
        serde_json::from_str::<ShellError>(line).unwrap_or_else(|_| {
            ShellError::new(Layer::Supervisor, format!("unreadable failure: {line}"))
        }),
    )
}

impl Launched {
    /// The shell, running from now on.
    fn running(self, cgroup: &Arc<Cgroup>, wall_clock: Option<Duration>) -> Running {
        Running {
            child: self.child,
            pid: self.pid,
            report: self.report,
            _control: self.control,
            cgroup: cgroup.clone(),
            started: Instant::now(),
            wall_clock,
            terminated: Arc::new(AtomicBool::new(false)),
            // Called inside the `shell` span.
            span: tracing::Span::current(),
        }
    }
}

fn stdio(stdio: Stdio) -> std::process::Stdio {
    match stdio {
        Stdio::Null => std::process::Stdio::null(),
        Stdio::Fd(fd) => std::process::Stdio::from(fd),
    }
}

fn read_report(report: &mut impl BufRead) -> Option<Report> {
    let mut line = String::new();
    match report.read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => serde_json::from_str(&line).ok(),
    }
}

/// Inside id 1000 is the host id; nothing else is mapped (host root least of all).
fn write_user_map(pid: u32, host_uid: u32, host_gid: u32) -> Result<(), ShellError> {
    let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
    for (file, text) in [
        ("setgroups", "deny".to_owned()),
        ("uid_map", format!("{INSIDE_ID} {host_uid} 1\n")),
        ("gid_map", format!("{INSIDE_ID} {host_gid} 1\n")),
    ] {
        std::fs::write(proc.join(file), text)
            .map_err(|e| ShellError::new(Layer::UserMap, format!("{file}: {e}")))?;
    }
    Ok(())
}

impl Running {
    /// The host pid of the shell's init process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Asks the workload to stop (SIGTERM); kills the whole shell if it has
    /// not within two seconds.
    pub fn terminate(&self) {
        self.stopper().terminate();
    }

    /// A handle that can [`Stopper::terminate`] the shell while another task
    /// waits for it.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            pid: self.pid,
            terminated: self.terminated.clone(),
        }
    }

    /// Waits for the shell to end (killing it at its wall clock), then says
    /// how and why, and removes its cgroups. The shell's end is its last
    /// process's: this returns only once none is left.
    pub async fn wait(self) -> Result<ExitReport, ShellError> {
        let span = self.span.clone();
        self.wait_in_span().instrument(span).await
    }

    async fn wait_in_span(mut self) -> Result<ExitReport, ShellError> {
        let mut wall_clock_hit = false;
        let waited = match self.wall_clock {
            Some(limit) => {
                let left = limit.saturating_sub(self.started.elapsed());
                match tokio::time::timeout(left, self.child.wait()).await {
                    Ok(status) => status,
                    Err(_) => {
                        wall_clock_hit = true;
                        // Killing init takes the reaper (parent-death signal)
                        // and with it the whole pid namespace.
                        let _ = self.child.start_kill();
                        self.child.wait().await
                    }
                }
            }
            None => self.child.wait().await,
        };
        let terminated = self.terminated.swap(false, Ordering::SeqCst);
        waited.map_err(supervisor("waiting for the shell"))?;
        let duration = self.started.elapsed();
        let mut report = self.report;
        let cgroup = self.cgroup.clone();
        let (status, oom, pids_limit_hit) = tokio::task::spawn_blocking(move || {
            let mut status = None;
            while let Some(line) = read_report(&mut report) {
                if let Report::Exit(exit) = line {
                    status = Some(exit);
                }
            }
            (status, cgroup.oom_kills() > 0, cgroup.pids_limit_hit())
        })
        .await
        .map_err(|e| ShellError::new(Layer::Supervisor, e))?;
        // Init's end is not the shell's: killed, it leaves the reaper and the
        // workload to die after it. The end is reported once none is left,
        // so whoever starts the shell again (the supervisor, for a workload
        // whose state has one owner) never runs two beside each other.
        removed(self.cgroup).await;
        let status = status.unwrap_or(Status::Signaled(sys::SIGKILL));
        let ended = if terminated {
            Ended::Terminated
        } else if wall_clock_hit {
            Ended::WallClock
        } else if oom {
            Ended::OutOfMemory
        } else {
            Ended::Exited
        };
        tracing::debug!(
            ?ended,
            ?status,
            pids_limit_hit,
            duration_ms = duration.as_millis(),
            "shell ended"
        );
        Ok(ExitReport {
            status,
            ended,
            pids_limit_hit,
            duration,
        })
    }
}

/// How often a shell whose process outlived SIGKILL is looked at again.
const LINGER_POLL: Duration = Duration::from_secs(1);

/// Kills what is left of a shell and removes its cgroups, returning only
/// once that is done: once no process of the shell is left. A process the
/// kill cannot end at once (one blocked in the kernel, say) is waited for,
/// however long, with a warning; a shell is never taken for ended beside it.
async fn removed(cgroup: Arc<Cgroup>) {
    let first = cgroup.clone();
    if tokio::task::spawn_blocking(move || first.remove())
        .await
        .unwrap_or(false)
    {
        return;
    }
    tracing::warn!(
        cgroup = %cgroup.path().display(),
        "a process of the shell outlived SIGKILL; its end waits for it, so nothing starts beside it"
    );
    loop {
        tokio::time::sleep(LINGER_POLL).await;
        let again = cgroup.clone();
        if tokio::task::spawn_blocking(move || again.try_remove())
            .await
            .unwrap_or(false)
        {
            tracing::info!(cgroup = %cgroup.path().display(), "the shell's last process is gone");
            return;
        }
    }
}

/// Stops a running shell; see [`Running::stopper`].
#[derive(Debug, Clone)]
pub struct Stopper {
    pid: u32,
    terminated: Arc<AtomicBool>,
}

impl Stopper {
    /// SIGTERM to the workload, SIGKILL to the whole shell two seconds later
    /// if it is still there.
    pub fn terminate(&self) {
        self.terminate_within(TERMINATE_GRACE);
    }

    /// SIGTERM to the workload, SIGKILL to the whole shell `grace` later if it
    /// is still there: a workload that drains on SIGTERM (OpenClaw's gateway,
    /// for minutes) gets what its owner configured, and no more.
    pub fn terminate_within(&self, grace: Duration) {
        self.terminated.store(true, Ordering::SeqCst);
        let Ok(pid) = i32::try_from(self.pid) else {
            return;
        };
        // The init process is the supervisor's child and not yet waited for,
        // so its pid cannot have been reused; it forwards SIGTERM.
        let _ = sys::kill(pid, sys::SIGTERM);
        let terminated = self.terminated.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            if terminated.load(Ordering::SeqCst) {
                // Still unreaped if still running (see above); a reaped pid is
                // only killed if wait() has not run, which it sets below.
                let _ = sys::kill(pid, sys::SIGKILL);
            }
        });
    }
}
