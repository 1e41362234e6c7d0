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
        // A run started by a reload begins with them blocked (see
        // `stop_signals_blocked`): one sent meanwhile is pending, and is
        // delivered to the handlers now, not lost or fatal.
        nix::sys::signal::pthread_sigmask(
            nix::sys::signal::SigmaskHow::SIG_UNBLOCK,
            Some(&handled_signals()),
            None,
        )
        .context("unblocking SIGTERM, SIGINT and SIGHUP")?;
        Ok(Self {
            terminate,
            interrupt,
            hangup,
        })
    }

    /// Waits for SIGTERM or SIGINT, or a SIGHUP whose config passes
    /// `check`; a SIGHUP whose config does not is refused, said, and the
    /// running config kept. Logs it and tells the service manager.
    async fn first(&mut self, check: ReloadCheck) -> Ending {
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

fn handled_signals() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(signal);
    }
    set
}

/// Blocks SIGTERM, SIGINT and SIGHUP in this thread, just before a reload's
/// exec: the new image keeps the mask, so a signal sent before it installs
/// its handlers waits for them instead of killing it by default.
pub fn stop_signals_blocked() -> anyhow::Result<()> {
    nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_BLOCK,
        Some(&handled_signals()),
        None,
    )
    .context("blocking SIGTERM, SIGINT and SIGHUP")
}

impl Signals {
    /// Whether SIGTERM or SIGINT came since they were last read: one sent
    /// while a reload stops everything must stop `up`, not be lost in the exec.
    fn stop_pending(&mut self) -> bool {
        use futures::FutureExt as _;
        let terminate = self.terminate.recv().now_or_never().is_some();
        let interrupt = self.interrupt.recv().now_or_never().is_some();
        terminate || interrupt
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
        let mut signals = signals;
        let ending = signals.first(check).await;
        let _ = ended.send((ending, signals));
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
    let Ok((ending, mut signals)) = ending.await else {
        return Ending::Stop;
    };
    if ending == Ending::Reload && signals.stop_pending() {
        tracing::info!("a stop signal came while reloading: stopping instead");
        crate::readiness::stopping();
        return Ending::Stop;
    }
    ending
}
