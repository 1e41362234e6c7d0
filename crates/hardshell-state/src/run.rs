//! The sync loop: scan, debounce, publish, renew, collect, until shutdown.
//!
//! Crash bound: a write is seen by the next scan (≤ `interval`), published
//! once the tree was quiet for one interval or at most `max_delay` after it
//! was first seen, so with the defaults a write is stored within about
//! 4 s plus the upload.

use std::future::Future;
use std::time::Instant;

use sha2::{Digest as _, Sha256};

use crate::StateError;
use crate::sync::StateSync;
use crate::tree::{Root, Scan};

impl StateSync {
    /// Runs until `shutdown` completes: publishes changes as they settle,
    /// renews the lease, then publishes once more and releases the lease.
    /// Returns early with the error when the lease is lost or the remote
    /// moved on under it (the caller should stop the workload); other errors
    /// (a limit passed, a file that keeps changing, a store outage) are logged
    /// and retried, the previous generation staying intact meanwhile.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), StateError> {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut ticker = tokio::time::interval(self.options.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut debounce = Debounce::default();
        // The same failure every second (a file the workload keeps
        // rewriting, a bound passed) is logged once, not every round.
        let mut last_failure: Option<String> = None;
        let mut collected = Instant::now();
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = ticker.tick() => {}
            }
            if collected.elapsed() >= self.options.collect_every {
                collected = Instant::now();
                match self.collect_garbage(self.options.collect_grace).await {
                    Ok(deleted) => tracing::debug!(deleted, "workload state blobs collected"),
                    Err(e @ (StateError::LeaseLost { .. } | StateError::NoLease)) => return Err(e),
                    Err(e) => tracing::warn!(error = %e, "collecting workload state blobs failed"),
                }
            }
            match self.tick(&mut debounce).await {
                Ok(()) => last_failure = None,
                Err(
                    e @ (StateError::LeaseLost { .. }
                    | StateError::RemoteChanged { .. }
                    | StateError::NoLease),
                ) => {
                    return Err(e);
                }
                Err(e) => {
                    let failure = e.to_string();
                    if last_failure.as_ref() != Some(&failure) {
                        tracing::warn!(error = %failure, "workload state not synced; retrying every round");
                        last_failure = Some(failure);
                    }
                }
            }
        }
        let last = self.sync_once().await;
        let released = self.release().await;
        last?;
        released
    }

    async fn tick(&mut self, debounce: &mut Debounce) -> Result<(), StateError> {
        self.keep_lease().await?;
        // The scan is a few thousand system calls each second: off the
        // async workers, which serve the edge's requests meanwhile.
        let dir = self.options.dir.clone();
        let limits = self.options.limits;
        let scanned = tokio::task::spawn_blocking(move || match Root::open(&dir)? {
            Some(root) => root.scan(&limits).map(|scan| Some(fingerprint(&scan))),
            None => Ok(None),
        })
        .await
        .map_err(|e| StateError::Read {
            path: ".".to_owned(),
            source: std::io::Error::other(e.to_string()),
        })??;
        let Some(seen) = scanned else {
            return Ok(());
        };
        if debounce.published == Some(seen) {
            debounce.pending_since = None;
            return Ok(());
        }
        let quiet = debounce.last_seen == Some(seen);
        debounce.last_seen = Some(seen);
        let first_seen = *debounce.pending_since.get_or_insert_with(Instant::now);
        if !quiet && first_seen.elapsed() < self.options.max_delay {
            return Ok(());
        }
        self.sync_once().await?;
        debounce.published = Some(seen);
        debounce.pending_since = None;
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Debounce {
    /// The scan last published (or found equal to the remote).
    published: Option<[u8; 32]>,
    /// The scan of the previous tick.
    last_seen: Option<[u8; 32]>,
    /// When the current unpublished change was first seen.
    pending_since: Option<Instant>,
}

/// A digest of a scan's metadata: equal digests mean no entry changed.
fn fingerprint(scan: &Scan) -> [u8; 32] {
    let mut hash = Sha256::new();
    for found in &scan.found {
        hash.update(found.path.as_bytes());
        hash.update([0]);
        hash.update(format!(
            "{:?}{}{:?}{:?}",
            found.kind, found.mode, found.stamp, found.target
        ));
        hash.update([0]);
    }
    hash.finalize().into()
}
