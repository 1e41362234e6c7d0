//! Step 9: serving until a signal, then stopping what was started.

use std::sync::Arc;

use anyhow::Context as _;
use hardshell_edge::Edge;
use hardshell_sandbox::volume::Volumes;
use tokio::signal::unix::{Signal, SignalKind, signal};

use super::workload::Running as WorkloadShell;
use super::{AgentShell, RunningChannels};

/// SIGTERM and SIGINT, listened for from the start.
pub struct Signals {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    /// Before any work: a signal that arrives while starting up (the edge
    /// already listens while the setup link is issued and the agent starts)
    /// is kept and ends the run cleanly once serving begins, instead of
    /// killing the process (or being lost, where the parent ignores SIGINT).
    pub fn install() -> anyhow::Result<Self> {
        let terminate =
            signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        Ok(Self {
            terminate,
            interrupt,
        })
    }

    /// Waits for the first signal, logs it and tells the service manager.
    async fn first(mut self) {
        let which = tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        };
        tracing::info!(signal = which, "shutting down");
        crate::readiness::stopping();
    }
}

/// Serves `edge` until the first of `signals`; then the channels stop (each
/// after the message it is handling, while the edge still drains), the edge
/// drains for up to 10 s and flushes the audit log, the agent or the
/// workload stops (its state synced one last time) and the workspace
/// volumes are unmounted.
pub async fn serve(
    edge: Edge,
    signals: Signals,
    channels: RunningChannels,
    agent: Option<AgentShell>,
    workload: Option<WorkloadShell>,
    volumes: Option<&Arc<Volumes>>,
) {
    edge.serve(async move {
        signals.first().await;
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
}
