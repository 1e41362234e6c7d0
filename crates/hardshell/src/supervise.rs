//! Runs the workload (the built-in agent) in a shell and keeps it running.
//!
//! The shell (see `hardshell-sandbox`) gives it an environment of its own
//! making — nothing of the edge's, so no `HARDSHELL_MASTER_KEY` or `env:`
//! credential — a root holding only the system, its workspace and its socket
//! directory, and no privilege. When it ends it is restarted in a fresh shell,
//! with a backoff that doubles from 1 s to 30 s and resets once a run lasts a
//! minute; its state is in storage, so nothing is lost. On shutdown it gets
//! SIGTERM, then the whole shell is killed after a grace period.
//!
//! The edge made the socket the agent serves and passes it in (see
//! `hardshell_sandbox::spawn_serving`); the agent's output comes back on a
//! pipe and is logged as the agent's, escaped and bounded ([`agent_log`]):
//! it never reaches the terminal `hardshell up` runs on.

mod agent_log;

use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hardshell_sandbox::{Io, Launcher, ShellPolicy, Stdio};
use tokio::sync::watch;

/// How to start the workload.
#[derive(Debug, Clone)]
pub struct Workload {
    pub launcher: Launcher,
    pub policy: ShellPolicy,
    pub argv: Vec<String>,
    /// The socket the edge reaches the workload on, made by the edge and
    /// given to every run of it.
    pub listener: Arc<UnixListener>,
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
        let (io, output) = match io() {
            Ok(pipe) => pipe,
            Err(e) => {
                tracing::error!(error = %e, "making the agent's output pipe failed");
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
        if let Err(e) = std::thread::Builder::new()
            .name("agent-log".into())
            .spawn(move || agent_log::relay(output))
        {
            tracing::warn!(error = %e, "the agent's output cannot be read; it is dropped");
        }
        let running = match hardshell_sandbox::spawn_serving(
            &workload.launcher,
            &workload.policy,
            &workload.argv,
            io,
            &workload.listener,
        )
        .await
        {
            Ok(running) => running,
            Err(e) => {
                tracing::error!(layer = %e.layer, error = %e, "starting the agent's shell failed");
                if wait_or_stop(backoff, &mut stop).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let pid = running.pid();
        tracing::info!(pid, "agent started in a shell");
        let stopper = running.stopper();
        let ended = running.wait();
        tokio::pin!(ended);
        let report = tokio::select! {
            report = &mut ended => Some(report),
            _ = stop.wait_for(|stop| *stop) => None,
        };
        let Some(report) = report else {
            stopper.terminate();
            match ended.await {
                Ok(report) => tracing::info!(pid, ended = ?report.ended, "agent stopped"),
                Err(e) => tracing::warn!(pid, error = %e, "agent's shell ended badly"),
            }
            return;
        };
        let ran = started.elapsed();
        match report {
            Ok(report) => tracing::warn!(
                pid,
                status = ?report.status,
                ended = ?report.ended,
                ran_secs = ran.as_secs(),
                "agent's shell ended; restarting in a new one"
            ),
            Err(e) => tracing::warn!(pid, error = %e, "agent's shell ended badly; restarting"),
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

/// The agent writes to a pipe the edge reads (both its streams); it reads
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
