//! Runs the workload (the built-in agent) in a shell and keeps it running.
//!
//! The shell (see `hardshell-sandbox`) gives it an environment of its own
//! making — nothing of the edge's, so no `HARDSHELL_MASTER_KEY` or `env:`
//! credential — a root holding only the system, its workspace and its socket
//! directory, and no privilege. When it ends it is restarted in a fresh shell,
//! with a backoff that doubles from 1 s to 30 s and resets once a run lasts a
//! minute; its state is in storage, so nothing is lost. On shutdown it gets
//! SIGTERM, then the whole shell is killed after a grace period.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use hardshell_sandbox::{Io, Launcher, ShellPolicy, Stdio};
use tokio::sync::watch;

/// How to start the workload.
#[derive(Debug, Clone)]
pub struct Workload {
    pub launcher: Launcher,
    pub policy: ShellPolicy,
    pub argv: Vec<String>,
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
        let running = match hardshell_sandbox::spawn(
            &workload.launcher,
            &workload.policy,
            &workload.argv,
            io(),
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

/// The agent logs to the edge's standard error; it reads nothing.
fn io() -> Io {
    let stderr = || match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => Stdio::Fd(fd),
        Err(_) => Stdio::Null,
    };
    Io {
        stdin: Stdio::Null,
        stdout: stderr(),
        stderr: stderr(),
    }
}

/// Sleeps `delay`; `true` if a stop arrived meanwhile.
async fn wait_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    let stopped = tokio::select! {
        () = tokio::time::sleep(delay) => None,
        _ = stop.wait_for(|stop| *stop) => Some(true),
    };
    stopped.unwrap_or_else(|| *stop.borrow())
}
