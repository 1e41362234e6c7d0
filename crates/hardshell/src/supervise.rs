//! Runs the workload (the built-in agent) as a child process and keeps it running.
//!
//! The child starts with an empty environment plus the few variables it needs, so
//! nothing of the edge's environment — `HARDSHELL_MASTER_KEY`, credentials passed
//! as `env:` references — reaches it. It is restarted when it exits, with a
//! backoff that doubles from 1 s to 30 s and resets once a run lasts a minute.
//! On shutdown it gets SIGTERM, then SIGKILL after a grace period.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// How to start the workload.
#[derive(Debug, Clone)]
pub struct Workload {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// `RUST_LOG` for the child, when the edge has one.
    pub log_filter: Option<String>,
}

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const HEALTHY_RUN: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Keeps `workload` running until `stop` turns true.
pub async fn supervise(workload: Workload, mut stop: watch::Receiver<bool>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        let mut child = match spawn(&workload) {
            Ok(child) => child,
            Err(e) => {
                tracing::error!(program = %workload.program.display(), error = %e, "starting the agent failed");
                if wait_or_stop(backoff, &mut stop).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let pid = child.id();
        tracing::info!(pid, "agent started");
        let exited = tokio::select! {
            status = child.wait() => Some(status),
            _ = stop.wait_for(|stop| *stop) => None,
        };
        let Some(status) = exited else {
            terminate(&mut child).await;
            return;
        };
        let ran = started.elapsed();
        tracing::warn!(pid, status = ?status.ok(), ran_secs = ran.as_secs(), "agent exited; restarting");
        if ran >= HEALTHY_RUN {
            backoff = FIRST_BACKOFF;
        }
        if wait_or_stop(backoff, &mut stop).await {
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn spawn(workload: &Workload) -> std::io::Result<Child> {
    let mut command = Command::new(&workload.program);
    command
        .args(&workload.args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(filter) = &workload.log_filter {
        command.env("RUST_LOG", filter);
    }
    command.spawn()
}

/// Sleeps `delay`; `true` if a stop arrived meanwhile.
async fn wait_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    let stopped = tokio::select! {
        () = tokio::time::sleep(delay) => None,
        _ = stop.wait_for(|stop| *stop) => Some(true),
    };
    stopped.unwrap_or_else(|| *stop.borrow())
}

async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_ok() {
            tracing::info!(pid, "agent stopped");
            return;
        }
        tracing::warn!(pid, "agent ignored SIGTERM; killing it");
    }
    let _ = child.kill().await;
}
