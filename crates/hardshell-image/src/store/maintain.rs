//! `verify` and `prune`: re-hash what is stored, compare roots with their
//! records, and remove what no reference keeps.

use std::collections::BTreeSet;
use std::path::Path;

use super::ImageStore;
use super::blobs::hash_file;
use crate::digest::Digest;
use crate::error::ImageError;
use crate::unpack::RootRecord;

/// What `verify` found. Clean when every list is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub blobs_checked: usize,
    pub roots_checked: usize,
    /// Blobs whose content no longer hashes to their name.
    pub bad_blobs: Vec<Digest>,
    /// Blobs a reference needs that are gone.
    pub missing_blobs: Vec<Digest>,
    /// Roots that differ from their record, with the paths that differ (or
    /// `record missing`/`root missing`).
    pub bad_roots: Vec<(Digest, Vec<String>)>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.bad_blobs.is_empty() && self.missing_blobs.is_empty() && self.bad_roots.is_empty()
    }
}

/// What `prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub removed_blobs: Vec<Digest>,
    pub removed_roots: Vec<Digest>,
    /// Leftovers of interrupted pulls in `tmp/`.
    pub removed_temporary: usize,
}

impl ImageStore {
    /// Re-hashes every blob and walks every root against its record.
    pub fn verify(&self) -> Result<VerifyReport, ImageError> {
        let _lock = self.lock()?;
        let mut report = VerifyReport::default();
        for digest in self.stored_blobs()? {
            let path = self.blob_path(&digest);
            let (actual, _) = hash_file(&path).map_err(ImageError::store("read", &path))?;
            report.blobs_checked += 1;
            if actual != digest {
                report.bad_blobs.push(digest);
            }
        }
        let refs = self.read_refs()?;
        let needed: BTreeSet<Digest> = refs.iter().flat_map(|r| r.blobs().copied()).collect();
        report.missing_blobs = needed
            .into_iter()
            .filter(|d| !self.blob_path(d).is_file())
            .collect();
        let manifests: BTreeSet<Digest> = refs
            .iter()
            .map(|r| r.manifest)
            .chain(self.stored_roots()?)
            .collect();
        for manifest in manifests {
            report.roots_checked += 1;
            if let Some(differences) = self.verify_root(&manifest)? {
                report.bad_roots.push((manifest, differences));
            }
        }
        Ok(report)
    }

    fn verify_root(&self, manifest: &Digest) -> Result<Option<Vec<String>>, ImageError> {
        let root = self.root_path(manifest);
        let record_path = self.record_path(manifest);
        let record: RootRecord = match std::fs::read(&record_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| ImageError::Index {
                path: record_path,
                source,
            })?,
            Err(_) => return Ok(Some(vec!["record missing".into()])),
        };
        let dir = match std::fs::File::open(&root) {
            Ok(dir) => dir,
            Err(_) => return Ok(Some(vec!["root missing".into()])),
        };
        let now = RootRecord::of(&dir).map_err(ImageError::store("read root", &root))?;
        let differences = record.differences(&now);
        Ok((!differences.is_empty()).then_some(differences))
    }

    /// Removes every blob and root no reference keeps, and leftovers in `tmp/`.
    pub fn prune(&self) -> Result<PruneReport, ImageError> {
        let _lock = self.lock()?;
        let refs = self.read_refs()?;
        let keep_blobs: BTreeSet<Digest> = refs.iter().flat_map(|r| r.blobs().copied()).collect();
        let keep_roots: BTreeSet<Digest> = refs.iter().map(|r| r.manifest).collect();
        let mut report = PruneReport::default();
        for digest in self.stored_blobs()? {
            if !keep_blobs.contains(&digest) {
                let path = self.blob_path(&digest);
                std::fs::remove_file(&path).map_err(ImageError::store("remove", &path))?;
                report.removed_blobs.push(digest);
            }
        }
        for digest in self.stored_roots()? {
            if !keep_roots.contains(&digest) {
                super::remove_tree(&self.root_path(&digest))?;
                let record = self.record_path(&digest);
                let _ = std::fs::remove_file(&record);
                report.removed_roots.push(digest);
            }
        }
        for name in names(&self.tmp())? {
            super::remove_tree(&self.tmp().join(name))?;
            report.removed_temporary += 1;
        }
        Ok(report)
    }

    fn stored_blobs(&self) -> Result<Vec<Digest>, ImageError> {
        Ok(names(&self.dir.join("blobs/sha256"))?
            .iter()
            .filter_map(|n| Digest::from_hex(n).ok())
            .collect())
    }

    /// Root directories (not their records) present in `roots/`.
    fn stored_roots(&self) -> Result<Vec<Digest>, ImageError> {
        Ok(names(&self.dir.join("roots"))?
            .iter()
            .filter_map(|n| Digest::from_hex(n).ok())
            .collect())
    }
}

fn names(dir: &Path) -> Result<Vec<String>, ImageError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(ImageError::store("list", dir))? {
        let entry = entry.map_err(ImageError::store("list", dir))?;
        if let Some(name) = entry.file_name().to_str() {
            out.push(name.to_owned());
        }
    }
    out.sort();
    Ok(out)
}
