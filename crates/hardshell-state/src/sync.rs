//! [`StateSync`]: the local directory kept equal to the remote's current
//! generation while the workload runs.
//!
//! Changes are found by a scan loop, not inotify: every `interval` the tree's
//! metadata is read (one `fstatat` per entry, bounded by `max_files`) and
//! compared with the last published scan. A scan follows nothing and needs no
//! kernel watch per directory, which a hostile workload could exhaust or
//! redirect by swapping a watched directory for a symlink; its cost is bounded
//! by the same limits as the upload. Only files whose stamp changed are read
//! and hashed, and only blobs the remote does not hold are uploaded. The loop
//! itself is in `run.rs`.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use hardshell_storage::{Scope, Version};

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
    /// A manifest whose write failed without a clear answer (it may have
    /// landed), to recognise it as ours on the next compare-and-swap.
    pub(crate) attempted: Option<Manifest>,
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
            attempted: None,
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
        // Twice at most: once more after adopting our own earlier write.
        for _ in 0..2 {
            self.keep_lease().await?;
            let (generation, expected) = match &self.current {
                Some((manifest, version)) => (manifest.generation + 1, Some(version)),
                None => (1, None),
            };
            let manifest = Manifest {
                generation,
                written_at: Utc::now(),
                holder: self.holder.as_str().to_owned(),
                origin: origin.clone(),
                entries: entries.clone(),
            };
            self.check_manifest_size(&manifest)?;
            match self.remote.publish(&manifest, expected).await {
                Ok(version) => {
                    self.attempted = None;
                    self.current = Some((manifest, version));
                    Record { base: generation }.store(&self.options.record)?;
                    return Ok(generation);
                }
                Err(e @ StateError::RemoteChanged { .. }) => {
                    if !self.adopt_own_write().await? {
                        return Err(e);
                    }
                }
                Err(e) => {
                    // The write may have landed with its answer lost.
                    self.attempted = Some(manifest);
                    return Err(e);
                }
            }
        }
        let generation = self.current.as_ref().map_or(0, |(m, _)| m.generation);
        Err(StateError::RemoteChanged { generation })
    }

    /// Whether the remote's current manifest is one this sync wrote earlier
    /// whose answer was lost (a timeout after the write landed): then it is
    /// adopted as current instead of being taken for another writer's.
    async fn adopt_own_write(&mut self) -> Result<bool, StateError> {
        let (Some(attempted), Some((remote, version))) =
            (self.attempted.take(), self.remote.current().await?)
        else {
            return Ok(false);
        };
        // `written_at` and the entries make the attempt unique to this sync.
        let ours = remote.generation == attempted.generation
            && remote.written_at == attempted.written_at
            && remote.holder == attempted.holder
            && remote.entries == attempted.entries;
        if ours {
            Record {
                base: remote.generation,
            }
            .store(&self.options.record)?;
            self.current = Some((remote, version));
        }
        Ok(ours)
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

    /// Releases the lease, if held.
    pub async fn release(mut self) -> Result<(), StateError> {
        match self.lease.take() {
            Some(lease) => lease.release(&self.remote.scope).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
