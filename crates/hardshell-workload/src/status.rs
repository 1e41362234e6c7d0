//! What state the workload is in, decided by its health probes and shown to
//! the owner and the edge.
//!
//! A slow start is not an error: OpenClaw's gateway takes about 20 s to be
//! ready, and until then the workload is [`Status::Starting`]; only a start
//! that outlasts `ready_timeout` is [`Status::StartTimedOut`]. Once ready, a
//! few failed probes in a row make it [`Status::Unhealthy`]; one good probe
//! makes it ready again.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::health::{HealthProbe, Probe};

/// The workload's state as the edge shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// No run of it is going (not started yet, between restarts, stopped).
    Stopped,
    /// A run began at `since` and has not been ready yet.
    Starting { since: Instant },
    /// Its health path answers 2xx.
    Ready,
    /// It was ready; its last `failures` probes failed.
    Unhealthy { failures: u32 },
    /// It was not ready within the start's deadline.
    StartTimedOut,
}

impl Status {
    /// A word for the owner: the status page, logs, `hardshell doctor`.
    pub fn word(self) -> &'static str {
        match self {
            Status::Stopped => "stopped",
            Status::Starting { .. } => "starting",
            Status::Ready => "ready",
            Status::Unhealthy { .. } => "unhealthy",
            Status::StartTimedOut => "not ready in time",
        }
    }
}

/// How often to probe, and when to give up.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Between probes while starting.
    pub starting_every: Duration,
    /// Between probes once ready.
    pub ready_every: Duration,
    /// How long a start may take before it is an error.
    pub ready_timeout: Duration,
    /// Failed probes in a row that make a ready workload unhealthy.
    pub unhealthy_after: u32,
}

impl Timing {
    pub fn new(ready_timeout: Duration) -> Self {
        Timing {
            starting_every: Duration::from_secs(1),
            ready_every: Duration::from_secs(5),
            ready_timeout,
            unhealthy_after: 3,
        }
    }
}

/// Probes the workload through each run and publishes its [`Status`].
#[derive(Debug)]
pub struct Monitor {
    probe: HealthProbe,
    timing: Timing,
    status: watch::Sender<Status>,
}

impl Monitor {
    /// A monitor of a workload about to be started: until its first run
    /// begins it is starting, not stopped.
    pub fn new(probe: HealthProbe, timing: Timing) -> Self {
        let (status, _) = watch::channel(Status::Starting {
            since: Instant::now(),
        });
        Monitor {
            probe,
            timing,
            status,
        }
    }

    /// The workload's status, kept current.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    /// Probes a run from its start; never returns: the supervisor drops it
    /// when the run ends, then calls [`Monitor::stopped`].
    pub async fn watch_run(&self) {
        let since = Instant::now();
        self.status.send_replace(Status::Starting { since });
        let mut failures = 0u32;
        let mut ready_once = false;
        loop {
            let probe = self.probe.probe().await;
            let next = match (probe, ready_once) {
                (Probe::Ready, _) => {
                    ready_once = true;
                    failures = 0;
                    Status::Ready
                }
                (_, false) if since.elapsed() >= self.timing.ready_timeout => Status::StartTimedOut,
                (_, false) => Status::Starting { since },
                (_, true) => {
                    failures = failures.saturating_add(1);
                    if failures >= self.timing.unhealthy_after {
                        Status::Unhealthy { failures }
                    } else {
                        Status::Ready
                    }
                }
            };
            let previous = self.status.send_replace(next);
            if previous.word() != next.word() {
                match (next, probe) {
                    (Status::Ready, _) => tracing::info!(status = next.word(), "workload"),
                    (_, Probe::NotReady(code)) => {
                        tracing::warn!(status = next.word(), health = code.as_u16(), "workload")
                    }
                    (_, probe) => tracing::warn!(status = next.word(), ?probe, "workload"),
                }
            }
            let pause = if ready_once {
                self.timing.ready_every
            } else {
                self.timing.starting_every
            };
            tokio::time::sleep(pause).await;
        }
    }

    /// No run is going.
    pub fn stopped(&self) {
        self.status.send_replace(Status::Stopped);
    }
}
