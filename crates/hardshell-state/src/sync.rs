//! [`StateSync`]: the local directory kept equal to the remote's current
//! generation while the workload runs.
//!
//! Changes are found by a scan loop, not inotify: every `interval` the tree's
//! metadata is read (one `fstatat` per entry, bounded by `max_files`) and
//! compared with the last published scan. A scan follows nothing and needs no
//! kernel watch per directory, which a hostile workload could exhaust or
//! redirect by swapping a watched directory for a symlink; its cost is bounded
//! by the same limits as the upload. Only files whose stamp changed are read
//! and hashed, and only blobs the remote does not hold are uploaded.
//!
//! Crash bound: a write is seen by the next scan (≤ `interval`), published
//! once the tree was quiet for one interval or at most `max_delay` after it
//! was first seen, so with the defaults a write is stored within about
//! 4 s plus the upload.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Instant;

use chrono::Utc;
use hardshell_storage::{Scope, Version};
use sha2::{Digest as _, Sha256};

use crate::lease::{Holder, Lease, Mine};
use crate::manifest::{Entry, Kind, Manifest};
use crate::record::Record;
use crate::remote::Remote;
use crate::tree::{Root, Scan, Stamp};
use crate::{StateError, SyncOptions};

/// How often a file that changes while it is read is read again in one round.
const READ_ATTEMPTS: usize = 3;

/// One workload's state: its local directory, its remote scope, its lease.
#[derive(Debug)]
pub struct StateSync {
    pub(crate) remote: Remote,
    pub(crate) holder: Holder,
    pub(crate) options: SyncOptions,
    pub(crate) lease: Option<Lease>,
    /// The remote's current generation as last read or written.
    pub(crate) current: Option<(Manifest, Version)>,
    /// Local files whose content is known: stamp → (sha256, blob id).
    pub(crate) known: HashMap<String, (Stamp, String, String)>,
    /// Blob ids the remote is known to hold.
    pub(crate) stored: HashSet<String>,
    /// What the last scan left out.
    pub(crate) skipped: Skipped,
}

/// Entries a scan left out of the manifest, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Fifos, sockets and devices: never opened, never stored.
    pub special: usize,
    /// Names or symlink targets that are not UTF-8 (the manifest holds text).
    pub unnamed: usize,
}

/// What one [`StateSync::sync_once`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// The local tree equals the current generation.
    Unchanged,
    /// A new generation was published; `uploaded` blobs were sent.
    Published { generation: u64, uploaded: usize },
}

impl StateSync {
    /// Prepares a sync of `options.dir` with the remote layout in `scope`.
    /// Reads nothing local yet and takes no lease.
    pub async fn open(
        scope: Scope,
        holder: Holder,
        options: SyncOptions,
    ) -> Result<StateSync, StateError> {
        Ok(StateSync {
            remote: Remote::open(scope).await?,
            holder,
            options,
            lease: None,
            current: None,
            known: HashMap::new(),
            stored: HashSet::new(),
            skipped: Skipped::default(),
        })
    }

    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// What the last sync left out of the manifest.
    pub fn skipped(&self) -> Skipped {
        self.skipped
    }

    /// Takes the lease: refused ([`StateError::LeaseHeld`]) while another
    /// holder's is live; this holder's own live lease (left by a crash) is
    /// taken over.
    pub async fn take_lease(&mut self) -> Result<(), StateError> {
        self.take(Mine::Retake).await
    }

    /// Takes the lease only when nobody holds it, this holder included: for
    /// the operator's `restore`, which must not run under a live sync of the
    /// same machine.
    pub async fn take_lease_if_idle(&mut self) -> Result<(), StateError> {
        self.take(Mine::Refuse).await
    }

    async fn take(&mut self, mine: Mine) -> Result<(), StateError> {
        let ttl = self.options.lease_ttl;
        let lease = Lease::take(&self.remote.scope, &self.holder, ttl, mine).await?;
        self.lease = Some(lease);
        Ok(())
    }

    /// Publishes the local tree as a new generation if it differs from the
    /// current one. Fails, publishing nothing, past a limit, when a file keeps
    /// changing while read, or when the remote moved on under us.
    pub async fn sync_once(&mut self) -> Result<Pushed, StateError> {
        self.keep_lease().await?;
        let root = Root::open(&self.options.dir)?.ok_or_else(|| StateError::OpenDir {
            dir: self.options.dir.clone(),
            source: std::io::ErrorKind::NotFound.into(),
        })?;
        if self.current.is_none() {
            self.current = self.remote.current().await?;
            self.remember_stored();
        }
        let scan = root.scan(&self.options.limits)?;
        let skipped = Skipped {
            special: scan.skipped_special,
            unnamed: scan.skipped_names,
        };
        if skipped != self.skipped && skipped != Skipped::default() {
            tracing::warn!(
                special_files = skipped.special,
                non_utf8_names = skipped.unnamed,
                "entries of the workload's state directory are not synced"
            );
        }
        self.skipped = skipped;
        let (entries, uploaded) = self.collect(&root, &scan, true).await?;
        if self
            .current
            .as_ref()
            .is_some_and(|(current, _)| current.same_tree(&entries))
        {
            return Ok(Pushed::Unchanged);
        }
        let generation = self.publish(entries, None).await?;
        Ok(Pushed::Published {
            generation,
            uploaded,
        })
    }

    /// Publishes `entries` as the next generation by compare-and-swap, then
    /// records it locally as the base.
    pub(crate) async fn publish(
        &mut self,
        entries: Vec<Entry>,
        origin: Option<String>,
    ) -> Result<u64, StateError> {
        self.keep_lease().await?;
        let (generation, expected) = match &self.current {
            Some((manifest, version)) => (manifest.generation + 1, Some(version)),
            None => (1, None),
        };
        let manifest = Manifest {
            generation,
            written_at: Utc::now(),
            holder: self.holder.as_str().to_owned(),
            origin,
            entries,
        };
        self.check_manifest_size(&manifest)?;
        let version = self.remote.publish(&manifest, expected).await?;
        self.current = Some((manifest, version));
        Record { base: generation }.store(&self.options.record)?;
        Ok(generation)
    }

    pub(crate) fn check_manifest_size(&self, manifest: &Manifest) -> Result<(), StateError> {
        let size = manifest.to_json()?.len() as u64;
        let limit = self.options.limits.max_manifest_bytes;
        if size > limit {
            return Err(StateError::ManifestTooLarge { size, limit });
        }
        Ok(())
    }

    /// Renews the lease when due; refuses when none is held or it lapsed.
    pub(crate) async fn keep_lease(&mut self) -> Result<(), StateError> {
        let lease = self.lease.as_mut().ok_or(StateError::NoLease)?;
        if lease.due_for_renewal() || !lease.covers_writes() {
            lease.renew(&self.remote.scope).await?;
        }
        Ok(())
    }

    pub(crate) fn remember_stored(&mut self) {
        if let Some((manifest, _)) = &self.current {
            self.stored
                .extend(manifest.entries.iter().filter_map(|e| e.blob.clone()));
        }
    }

    /// The manifest entries of a scanned tree, reading only files whose stamp
    /// changed; with `upload`, blobs the remote lacks are stored on the way.
    pub(crate) async fn collect(
        &mut self,
        root: &Root,
        scan: &Scan,
        upload: bool,
    ) -> Result<(Vec<Entry>, usize), StateError> {
        let mut entries = Vec::with_capacity(scan.found.len());
        let mut uploaded = 0;
        for found in &scan.found {
            let mut entry = Entry {
                path: found.path.clone(),
                kind: found.kind,
                mode: found.mode,
                size: found.size,
                sha256: None,
                blob: None,
                target: found.target.clone(),
            };
            if found.kind == Kind::File {
                let (stamp, sha, blob, content) = match self.known.get(&found.path) {
                    Some((stamp, sha, blob)) if *stamp == found.stamp => {
                        (*stamp, sha.clone(), blob.clone(), None)
                    }
                    _ => {
                        let (stamp, content) = self.read_settled(root, &found.path, found.stamp)?;
                        let (sha, blob) = self.remote.digest(&content)?;
                        (stamp, sha, blob, Some(content))
                    }
                };
                if upload && !self.stored.contains(&blob) {
                    let content = match content {
                        Some(content) => content,
                        None => self.read_settled(root, &found.path, stamp)?.1,
                    };
                    self.remote.put_blob(&blob, &content).await?;
                    self.stored.insert(blob.clone());
                    uploaded += 1;
                }
                entry.size = stamp.size();
                entry.sha256 = Some(sha.clone());
                entry.blob = Some(blob.clone());
                self.known.insert(found.path.clone(), (stamp, sha, blob));
            }
            entries.push(entry);
        }
        Ok((entries, uploaded))
    }

    /// A file's content at one consistent version: read again (up to
    /// [`READ_ATTEMPTS`]) when it changed during the read, never torn.
    fn read_settled(
        &self,
        root: &Root,
        path: &str,
        mut stamp: Stamp,
    ) -> Result<(Stamp, Vec<u8>), StateError> {
        let limit = self.options.limits.max_file_bytes;
        for _ in 0..READ_ATTEMPTS {
            if stamp.size() > limit {
                return Err(StateError::FileTooLarge {
                    path: crate::error::shown(path),
                    size: stamp.size(),
                    limit,
                });
            }
            if let Some(content) = root.read_file(path, &stamp)? {
                return Ok((stamp, content));
            }
            match root.stat_file(path)? {
                Some(fresh) => stamp = fresh,
                None => break,
            }
        }
        Err(StateError::Unsettled {
            path: crate::error::shown(path),
        })
    }

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

    /// Releases the lease, if held.
    pub async fn release(mut self) -> Result<(), StateError> {
        match self.lease.take() {
            Some(lease) => lease.release(&self.remote.scope).await,
            None => Ok(()),
        }
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
