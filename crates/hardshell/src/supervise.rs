//! Runs a long-lived shell — the built-in agent's, or the workload's
//! (`[workload]`, an image) — and keeps it running.
//!
//! The shell (see `hardshell-sandbox`) gives it an environment of its own
//! making — nothing of the edge's, so no `HARDSHELL_MASTER_KEY` or `env:`
//! credential — a root holding only what its policy names, and no privilege.
//! When it ends it is restarted in a fresh shell, with a backoff that doubles
//! from 1 s to 30 s and resets once a run lasts a minute; its state is in
//! storage, so nothing is lost. On shutdown it gets SIGTERM, then the whole
//! shell is killed after its grace period (the agent's two seconds; the
//! workload's `stop_grace_secs`, since OpenClaw's gateway drains for minutes).
//!
//! The edge made the socket the shell is reached on and passes it in: the
//! agent serves it itself (`hardshell_sandbox::spawn_serving`), the
//! workload's shell relays it to the workload's port
//! (`hardshell_sandbox::spawn_inbound`). Its output comes back on a pipe and
//! is logged as the agent's or the workload's, escaped and bounded
//! ([`agent_log`]): it never reaches the terminal `hardshell up` runs on.

mod agent_log;

use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hardshell_sandbox::{Io, Launcher, ShellPolicy, Stdio};
use hardshell_workload::Monitor;
use tokio::sync::watch;

pub use agent_log::Source;

/// How to start the shell and keep it.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Whose shell: names its log lines.
    pub source: Source,
    pub launcher: Launcher,
    pub policy: ShellPolicy,
    pub argv: Vec<String>,
    /// The socket the edge reaches it on, made by the edge and given to
    /// every run of it.
    pub socket: Reached,
    /// From SIGTERM to killing the whole shell, on shutdown.
    pub stop_grace: Duration,
    /// Told when each run starts and ends, to probe its health.
    pub monitor: Option<Arc<Monitor>>,
}

/// How the edge's socket reaches what runs in the shell.
#[derive(Debug, Clone)]
pub enum Reached {
    /// The program serves the listener itself (the agent).
    Serving(Arc<UnixListener>),
    /// The shell's inbound forwarder relays it to the program's port (the
    /// workload, which never holds the listener).
    Inbound(Arc<UnixListener>),
}

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Keeps `workload` running until `stop` turns true.
pub async fn supervise(workload: Workload, mut stop: watch::Receiver<bool>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        let who = workload.source.word();
        let (io, output) = match io() {
            Ok(pipe) => pipe,
            Err(e) => {
                tracing::error!(error = %e, "making the {who}'s output pipe failed");
                if wait_or_stop(backoff, &mut stop).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        // Reads until every writer is gone: the shell's end, however it ends.
        // A thread of its own: not the runtime's, which waits for its
        // blocking tasks when it shuts down.
        let source = workload.source;
        if let Err(e) = std::thread::Builder::new()
            .name(format!("{who}-log"))
            .spawn(move || agent_log::relay(output, source))
        {
            tracing::warn!(error = %e, "the {who}'s output cannot be read; it is dropped");
        }
        let spawned = match &workload.socket {
            Reached::Serving(listener) => {
                hardshell_sandbox::spawn_serving(
                    &workload.launcher,
                    &workload.policy,
                    &workload.argv,
                    io,
                    listener,
                )
                .await
            }
            Reached::Inbound(listener) => {
                hardshell_sandbox::spawn_inbound(
                    &workload.launcher,
                    &workload.policy,
                    &workload.argv,
                    io,
                    listener,
                )
                .await
            }
        };
        let running = match spawned {
            Ok(running) => running,
            Err(e) => {
                tracing::error!(layer = %e.layer, error = %e, "starting the {who}'s shell failed");
                if wait_or_stop(backoff, &mut stop).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let pid = running.pid();
        tracing::info!(pid, "{who} started in a shell");
        let stopper = running.stopper();
        let ended = running.wait();
        tokio::pin!(ended);
        let health = watch_health(workload.monitor.as_deref());
        tokio::pin!(health);
        let report = tokio::select! {
            report = &mut ended => Some(report),
            _ = stop.wait_for(|stop| *stop) => None,
            () = &mut health => None,
        };
        let Some(report) = report else {
            stopper.terminate_within(workload.stop_grace);
            match ended.await {
                Ok(report) => tracing::info!(pid, ended = ?report.ended, "{who} stopped"),
                Err(e) => tracing::warn!(pid, error = %e, "{who}'s shell ended badly"),
            }
            if let Some(monitor) = &workload.monitor {
                monitor.stopped();
            }
            return;
        };
        if let Some(monitor) = &workload.monitor {
            monitor.stopped();
        }
        let ran = started.elapsed();
        match report {
            Ok(report) => tracing::warn!(
                pid,
                status = ?report.status,
                ended = ?report.ended,
                ran_secs = ran.as_secs(),
                "{who}'s shell ended; restarting in a new one"
            ),
            Err(e) => tracing::warn!(pid, error = %e, "{who}'s shell ended badly; restarting"),
        }
        if ran >= HEALTHY_RUN {
            backoff = FIRST_BACKOFF;
        }
        if wait_or_stop(backoff, &mut stop).await {
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Probes a run's health for as long as it runs (never returns), or waits
/// forever without a monitor.
async fn watch_health(monitor: Option<&Monitor>) {
    match monitor {
        Some(monitor) => monitor.watch_run().await,
        None => std::future::pending().await,
    }
}

/// The shell writes to a pipe the edge reads (both its streams); it reads
/// nothing. Not the edge's own standard error: that is the operator's
/// terminal, which a compromised agent could otherwise write escapes to.
fn io() -> std::io::Result<(Io, std::io::PipeReader)> {
    let (read, write) = std::io::pipe()?;
    let stderr = write.try_clone()?;
    let io = Io {
        stdin: Stdio::Null,
        stdout: Stdio::Fd(write.into()),
        stderr: Stdio::Fd(stderr.into()),
    };
    Ok((io, read))
}

/// Sleeps `delay`; `true` if a stop arrived meanwhile.
async fn wait_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    let stopped = tokio::select! {
        () = tokio::time::sleep(delay) => None,
        _ = stop.wait_for(|stop| *stop) => Some(true),
    };
    stopped.unwrap_or_else(|| *stop.borrow())
}
