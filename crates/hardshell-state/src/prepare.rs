//! Before the workload starts: make the local copy and the remote agree
//! without losing either. The decision, from the remote's current generation
//! R, the local directory, and the local record's base B:
//!
//! | remote | local            | record   | action                                    |
//! |--------|------------------|----------|-------------------------------------------|
//! | none   | missing or empty | any      | nothing to do ([`Prepared::Fresh`])        |
//! | none   | has files        | any      | pushed as generation 1 (an existing dir adopted) |
//! | R      | missing or empty | any      | R restored (a new machine, a lost disk)   |
//! | R      | equal to R       | any      | recorded as based on R                    |
//! | R      | has changes      | B = R    | pushed as R+1 (changes since the last sync) |
//! | R      | has changes      | B < R or none | local copy stored as a snapshot `set-aside-…`, then R restored |
//! | R      | not equal to R   | B > R    | refused: the remote went back (a rollback by someone with bucket access, a restored backup); `hardshell state restore` decides |
//!
//! So a stale copy (an old disk coming back, a second machine's leftovers, a
//! restore cut short) never overwrites newer remote state, and its content
//! stays reachable as a snapshot instead of being deleted.

use chrono::Utc;

use crate::manifest::{Entry, Manifest};
use crate::record::Record;
use crate::remote::Snapshot;
use crate::sync::StateSync;
use crate::tree::Root;
use crate::{Pushed, StateError};

/// What [`StateSync::restore_if_needed`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// Neither side has state yet.
    Fresh,
    /// The local copy was missing or empty; `generation` was restored.
    Restored { generation: u64, files: usize },
    /// The local copy already equals `generation`.
    UpToDate { generation: u64 },
    /// The local copy had changes on the current base; they are now `generation`.
    Pushed { generation: u64 },
    /// The local copy was stale (based on `local_base`, or of unknown base):
    /// it is kept as the snapshot `snapshot`, and `generation` was restored.
    SetAside {
        snapshot: String,
        local_base: Option<u64>,
        generation: u64,
    },
}

impl StateSync {
    /// Reconciles the local directory with the remote before the workload
    /// starts (see the module's table). Needs the lease.
    pub async fn restore_if_needed(&mut self) -> Result<Prepared, StateError> {
        self.keep_lease().await?;
        let root = self.open_root()?;
        self.current = self.remote.current().await?;
        self.remember_stored();
        let record = Record::load(&self.options.record)?;
        let local_empty = root.is_empty()?;
        let Some((remote, _)) = self.current.clone() else {
            if local_empty {
                return Ok(Prepared::Fresh);
            }
            return match self.sync_once().await? {
                Pushed::Published { generation, .. } => Ok(Prepared::Pushed { generation }),
                Pushed::Unchanged => Ok(Prepared::Fresh),
            };
        };
        if local_empty {
            let files = self.restore_into(&root, &remote).await?;
            return Ok(Prepared::Restored {
                generation: remote.generation,
                files,
            });
        }
        if record.is_some_and(|r| r.base == remote.generation) {
            return match self.sync_once().await? {
                Pushed::Published { generation, .. } => Ok(Prepared::Pushed { generation }),
                Pushed::Unchanged => Ok(Prepared::UpToDate {
                    generation: remote.generation,
                }),
            };
        }
        let scan = root.scan(&self.options.limits)?;
        let (local, _) = self.collect(&root, &scan, false).await?;
        if remote.same_tree(&local) {
            Record {
                base: remote.generation,
            }
            .store(&self.options.record)?;
            return Ok(Prepared::UpToDate {
                generation: remote.generation,
            });
        }
        let local_base = record.map(|r| r.base);
        if let Some(local) = local_base
            && local > remote.generation
        {
            return Err(StateError::RemoteBehind {
                remote: remote.generation,
                local,
            });
        }
        let snapshot = self.set_aside(&root, local_base).await?;
        self.restore_into(&root, &remote).await?;
        Ok(Prepared::SetAside {
            snapshot,
            local_base,
            generation: remote.generation,
        })
    }

    /// The operator's restore: makes `snapshot` (or, with `None`, the current
    /// generation) the current generation and the local copy. Local changes
    /// not yet published are first kept as a `set-aside-…` snapshot.
    pub async fn restore_snapshot(
        &mut self,
        snapshot: Option<&str>,
    ) -> Result<Prepared, StateError> {
        self.keep_lease().await?;
        let root = self.open_root()?;
        self.current = self.remote.current().await?;
        self.remember_stored();
        let Some((current, _)) = self.current.clone() else {
            return Err(StateError::NoRemoteState);
        };
        let wanted = match snapshot {
            Some(name) => self.remote.snapshot(name).await?.manifest,
            None => current.clone(),
        };
        let scan = root.scan(&self.options.limits)?;
        let (local, _) = self.collect(&root, &scan, false).await?;
        let set_aside = if local.is_empty() || current.same_tree(&local) || wanted.same_tree(&local)
        {
            None
        } else {
            let base = Record::load(&self.options.record)?.map(|r| r.base);
            Some((self.set_aside(&root, base).await?, base))
        };
        let target = match snapshot {
            Some(name) => {
                let origin = format!("restore of snapshot {name}");
                self.publish(wanted.entries, Some(origin)).await?;
                // `publish` made it the current generation.
                self.current
                    .clone()
                    .map(|(manifest, _)| manifest)
                    .ok_or(StateError::NoRemoteState)?
            }
            None => current,
        };
        let files = self.restore_into(&root, &target).await?;
        Ok(match set_aside {
            Some((snapshot, local_base)) => Prepared::SetAside {
                snapshot,
                local_base,
                generation: target.generation,
            },
            None => Prepared::Restored {
                generation: target.generation,
                files,
            },
        })
    }

    /// The local directory, made (mode 0700) when missing, and owned by the
    /// shell's ids either way (it may have been made by an earlier run under
    /// other ids, e.g. the operator's CLI).
    fn open_root(&self) -> Result<Root, StateError> {
        let dir = &self.options.dir;
        let failed = |source| StateError::OpenDir {
            dir: dir.clone(),
            source,
        };
        let root = match Root::open(dir)? {
            Some(root) => root,
            None => {
                std::fs::create_dir_all(dir).map_err(failed)?;
                let root =
                    Root::open(dir)?.ok_or_else(|| failed(std::io::ErrorKind::NotFound.into()))?;
                rustix::fs::fchmod(&root.fd, rustix::fs::Mode::from_raw_mode(0o700))
                    .map_err(|e| failed(e.into()))?;
                root
            }
        };
        let owner = self.options.owner;
        rustix::fs::fchown(
            &root.fd,
            Some(rustix::fs::Uid::from_raw(owner.uid)),
            Some(rustix::fs::Gid::from_raw(owner.gid)),
        )
        .map_err(|e| failed(e.into()))?;
        Ok(root)
    }

    /// Uploads the local copy and names it `set-aside-<time>-<holder>`.
    async fn set_aside(&mut self, root: &Root, base: Option<u64>) -> Result<String, StateError> {
        let scan = root.scan(&self.options.limits)?;
        let (entries, _) = self.collect(root, &scan, true).await?;
        let now = Utc::now();
        let name = format!(
            "set-aside-{}-{}",
            now.format("%Y%m%dT%H%M%S%.3fZ"),
            self.holder
        );
        let snapshot = Snapshot {
            name: name.clone(),
            taken_at: now,
            manifest: Manifest {
                generation: base.unwrap_or(0),
                written_at: now,
                holder: self.holder.as_str().to_owned(),
                origin: Some(format!(
                    "local copy set aside (its base: {})",
                    base.map_or_else(|| "unknown".to_owned(), |b| format!("generation {b}"))
                )),
                entries,
            },
        };
        self.check_manifest_size(&snapshot.manifest)?;
        self.remote.put_snapshot(&snapshot).await?;
        tracing::warn!(snapshot = %name, "the local state copy was stale; it is kept as a snapshot and the remote state restored");
        Ok(name)
    }

    /// Replaces the local copy with `manifest`. The record is forgotten first,
    /// so a restore cut short is never taken for local changes.
    async fn restore_into(
        &mut self,
        root: &Root,
        manifest: &Manifest,
    ) -> Result<usize, StateError> {
        Record::forget(&self.options.record)?;
        crate::write::clear(root)?;
        self.known.clear();
        let mut files = 0;
        for entry in &manifest.entries {
            let content = match entry.blob {
                Some(_) => Some(self.remote.get_blob(entry).await?),
                None => None,
            };
            crate::write::write_entry(root, entry, content.as_deref(), self.options.owner)?;
            files += usize::from(content.is_some());
        }
        crate::write::seal_dirs(root, &manifest.entries)?;
        Record {
            base: manifest.generation,
        }
        .store(&self.options.record)?;
        self.learn_restored(root, &manifest.entries)?;
        Ok(files)
    }

    /// Remembers the restored files' stamps, so the first sync reads none of them.
    fn learn_restored(&mut self, root: &Root, entries: &[Entry]) -> Result<(), StateError> {
        let scan = root.scan(&self.options.limits)?;
        for (found, entry) in scan.found.iter().zip(entries) {
            if let (true, Some(sha), Some(blob)) =
                (found.path == entry.path, &entry.sha256, &entry.blob)
            {
                self.known
                    .insert(found.path.clone(), (found.stamp, sha.clone(), blob.clone()));
            }
        }
        Ok(())
    }
}
