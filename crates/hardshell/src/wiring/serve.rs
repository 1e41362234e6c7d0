//! Step 9: serving until a signal, then stopping what was started.

use std::sync::Arc;

use anyhow::Context as _;
use hardshell_edge::Edge;
use hardshell_sandbox::volume::Volumes;
use tokio::signal::unix::{Signal, SignalKind, signal};

use super::AgentShell;
use super::workload::Running as WorkloadShell;

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

/// Serves `edge` until the first of `signals` (draining for up to 10 s and
/// flushing the audit log), then stops the agent or the workload (its
/// state synced one last time) and unmounts the workspace volumes.
pub async fn serve(
    edge: Edge,
    signals: Signals,
    agent: Option<AgentShell>,
    workload: Option<WorkloadShell>,
    volumes: Option<&Arc<Volumes>>,
) {
    edge.serve(signals.first()).await;
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
