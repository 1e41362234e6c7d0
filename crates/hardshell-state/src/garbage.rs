//! Deleting blobs no manifest names any more. OpenClaw appends to its session
//! files, so every sync of a grown file stores a new blob and the old one
//! becomes garbage; without collection the bucket only grows.
//!
//! Only the lease holder collects, from inside its sync, so no manifest can be
//! published meanwhile. What is kept: every blob named by the current
//! manifest, the kept generations and every snapshot, and any blob younger
//! than the grace period (an upload whose manifest is not yet published).
//! An operator's `snapshot` copies the current manifest, which is among those
//! kept, so a snapshot taken during a collection names no deleted blob.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use hardshell_storage::ObjectKey;

use crate::StateError;
use crate::sync::StateSync;

impl StateSync {
    /// Deletes unreferenced blobs older than `grace`; returns how many.
    pub async fn collect_garbage(&mut self, grace: Duration) -> Result<usize, StateError> {
        self.keep_lease().await?;
        self.current = self.remote.current().await?;
        let mut named: HashSet<String> = HashSet::new();
        let manifests = self
            .current
            .iter()
            .map(|(m, _)| m.clone())
            .chain(self.remote.generations().await?)
            .chain(
                self.remote
                    .snapshots()
                    .await?
                    .into_iter()
                    .map(|s| s.manifest),
            );
        for manifest in manifests {
            named.extend(manifest.entries.into_iter().filter_map(|e| e.blob));
        }
        // A grace too long to subtract keeps everything.
        let Some(cutoff) = chrono::Duration::from_std(grace)
            .ok()
            .and_then(|grace| Utc::now().checked_sub_signed(grace))
        else {
            return Ok(0);
        };
        let blobs = self.remote.scope.scope(&ObjectKey::parse("blobs")?)?;
        let mut deleted = 0;
        for entry in blobs.list().await? {
            let id = entry.key.as_str();
            if named.contains(id) || entry.last_modified > cutoff {
                continue;
            }
            // Checked before every delete: a lease lost mid-way stops here.
            self.keep_lease().await?;
            blobs.delete(&entry.key).await?;
            // Never again assumed stored: the content is uploaded anew if it returns.
            self.stored.remove(id);
            deleted += 1;
        }
        Ok(deleted)
    }
}
