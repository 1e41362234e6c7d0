//! `refs.json`: which reference resolved to which digests. Replaced whole by
//! rename, so a reader never sees half of it.

use std::io::Write as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ImageStore;
use crate::digest::Digest;
use crate::error::ImageError;

/// One pulled reference and every digest it keeps alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredImage {
    /// The reference as given, normalised (`docker.io/library/…`).
    pub reference: String,
    pub resolved: Digest,
    pub manifest: Digest,
    pub config: Digest,
    pub layers: Vec<Digest>,
    pub pulled_at: DateTime<Utc>,
}

impl StoredImage {
    /// Every blob this image needs.
    pub fn blobs(&self) -> impl Iterator<Item = &Digest> {
        [&self.resolved, &self.manifest, &self.config]
            .into_iter()
            .chain(&self.layers)
    }
}

impl ImageStore {
    pub(crate) fn read_refs(&self) -> Result<Vec<StoredImage>, ImageError> {
        let path = self.dir.join("refs.json");
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| ImageError::Index { path, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(ImageError::Store {
                step: "read",
                path,
                source: e,
            }),
        }
    }

    pub(crate) fn write_refs(&self, refs: &[StoredImage]) -> Result<(), ImageError> {
        let path = self.dir.join("refs.json");
        let tmp = self.tmp().join("refs.json.new");
        let json = serde_json::to_vec_pretty(refs).map_err(|source| ImageError::Index {
            path: path.clone(),
            source,
        })?;
        let mut file = std::fs::File::create(&tmp).map_err(ImageError::store("create", &tmp))?;
        file.write_all(&json)
            .map_err(ImageError::store("write", &tmp))?;
        file.sync_all().map_err(ImageError::store("sync", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(ImageError::store("rename into place", &path))
    }

    /// Records (or replaces) a reference's entry.
    pub(crate) fn upsert_ref(&self, entry: StoredImage) -> Result<(), ImageError> {
        let mut refs = self.read_refs()?;
        refs.retain(|e| e.reference != entry.reference);
        refs.push(entry);
        refs.sort_by(|a, b| a.reference.cmp(&b.reference));
        self.write_refs(&refs)
    }

    /// Drops a reference's entry, so `prune` may remove what only it kept.
    /// `false` if it was not there.
    pub fn forget(&self, reference: &crate::ImageRef) -> Result<bool, ImageError> {
        let _lock = self.lock()?;
        let mut refs = self.read_refs()?;
        let name = reference.to_string();
        let before = refs.len();
        refs.retain(|e| e.reference != name);
        if refs.len() == before {
            return Ok(false);
        }
        self.write_refs(&refs)?;
        Ok(true)
    }

    /// Every pulled reference, sorted.
    pub fn list(&self) -> Result<Vec<StoredImage>, ImageError> {
        self.read_refs()
    }
}
