//! Step 9: serving until a signal, then stopping what was started.

use std::sync::Arc;

use anyhow::Context as _;
use hardshell_edge::Edge;
use hardshell_sandbox::volume::Volumes;
use tokio::signal::unix::{Signal, SignalKind, signal};

use super::workload::Running as WorkloadShell;
use super::{AgentShell, RunningChannels};

/// SIGTERM and SIGINT, listened for from the start, and SIGHUP.
pub struct Signals {
    terminate: Signal,
    interrupt: Signal,
    hangup: Signal,
}

/// How serving ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// SIGTERM or SIGINT: stop.
    Stop,
    /// SIGHUP, and the config on disk passed `up --check`: start again with it.
    Reload,
}

/// What decides whether a SIGHUP reloads: the config on disk checked as
/// `up --check` checks it.
pub type ReloadCheck =
    Box<dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> + Send>;

impl Signals {
    /// Before any work: a signal that arrives while starting up (the edge
    /// already listens while the setup link is issued and the agent starts)
    /// is kept and ends the run cleanly once serving begins, instead of
    /// killing the process (or being lost, where the parent ignores SIGINT).
    pub fn install() -> anyhow::Result<Self> {
        let terminate =
            signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        let hangup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
        Ok(Self {
            terminate,
            interrupt,
            hangup,
        })
    }

    /// Waits for SIGTERM or SIGINT, or a SIGHUP whose config passes
    /// `check`; a SIGHUP whose config does not is refused, said, and the
    /// running config kept. Logs it and tells the service manager.
    async fn first(mut self, check: ReloadCheck) -> Ending {
        loop {
            let which = tokio::select! {
                _ = self.terminate.recv() => "SIGTERM",
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.hangup.recv() => "SIGHUP",
            };
            if which != "SIGHUP" {
                tracing::info!(signal = which, "shutting down");
                crate::readiness::stopping();
                return Ending::Stop;
            }
            match check().await {
                Ok(()) => {
                    tracing::info!(
                        signal = which,
                        "reloading: the new config passed up --check; stopping to start again with it"
                    );
                    crate::readiness::reloading();
                    return Ending::Reload;
                }
                Err(e) => tracing::error!(
                    signal = which,
                    error = format!("{e:#}"),
                    "the new config is refused; the running one stays"
                ),
            }
        }
    }
}

/// Serves `edge` until the first of `signals` (a SIGHUP only when `check`
/// passes); then the channels stop (each
/// after the message it is handling, while the edge still drains), the edge
/// drains for up to 10 s and flushes the audit log, the agent or the
/// workload stops (its state synced one last time) and the workspace
/// volumes are unmounted.
pub async fn serve(
    edge: Edge,
    (signals, check): (Signals, ReloadCheck),
    channels: RunningChannels,
    agent: Option<AgentShell>,
    workload: Option<WorkloadShell>,
    volumes: Option<&Arc<Volumes>>,
) -> Ending {
    let (ended, ending) = tokio::sync::oneshot::channel();
    edge.serve(async move {
        let _ = ended.send(signals.first(check).await);
        channels.stop().await;
    })
    .await;
    if let Some(agent) = agent {
        agent.stop().await;
    }
    if let Some(workload) = workload {
        workload.stop().await;
    }
    if let Some(volumes) = volumes {
        let count = volumes.unmount_all();
        tracing::info!(count, "workspace and state volumes unmounted");
    }
    // The edge stops serving only once its shutdown future ran.
    ending.await.unwrap_or(Ending::Stop)
}
