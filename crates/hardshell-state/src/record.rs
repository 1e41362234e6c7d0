//! The local record: which remote generation the local copy was last equal
//! to. It lives in the caller's data directory, never in the state directory
//! (the workload could forge it there), and is replaced atomically.

use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::StateError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The generation the local directory was restored from or last pushed as.
    pub base: u64,
}

impl Record {
    /// `Ok(None)` when there is none (a new machine, or a restore under way).
    pub(crate) fn load(file: &Path) -> Result<Option<Record>, StateError> {
        match std::fs::read(file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StateError::Record {
                    file: file.to_owned(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Record {
                file: file.to_owned(),
                source,
            }),
        }
    }

    pub(crate) fn store(&self, file: &Path) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(self).map_err(|e| StateError::Record {
            file: file.to_owned(),
            source: std::io::Error::other(e),
        })?;
        write_atomically(file, &bytes).map_err(|source| StateError::Record {
            file: file.to_owned(),
            source,
        })
    }

    /// Forgets the base, before the local copy is rewritten: a crash midway
    /// then leaves a copy with no base, which is never pushed over the remote.
    pub(crate) fn forget(file: &Path) -> Result<(), StateError> {
        match std::fs::remove_file(file) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Record {
                file: file.to_owned(),
                source,
            }),
        }
    }
}

/// Writes `bytes` to a temporary file beside `file`, syncs it, renames it over.
pub(crate) fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = file.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = std::path::PathBuf::from(temporary);
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut out = std::fs::File::create(&temporary)?;
    out.write_all(bytes)?;
    out.sync_all()?;
    std::fs::rename(&temporary, file)
}
