//! The manifest: one generation of the state directory as a list of entries.
//! Stored sealed; still parsed as untrusted (a path is checked component by
//! component before anything is written for it).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::StateError;

/// What an entry is. Fifos, devices and sockets are never recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

/// One path of the state directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Relative path, components joined by `/`, no `.` or `..`.
    pub path: String,
    pub kind: Kind,
    /// Permission bits only (`0o777`): set-id and sticky bits are never kept.
    pub mode: u32,
    /// Bytes of a file; 0 otherwise.
    pub size: u64,
    /// Hex sha256 of a file's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The stored blob holding a file's content (see [`crate::remote`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
    /// A symlink's target, kept as written and never followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// One generation of the state directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Grows by one with every published change.
    pub generation: u64,
    pub written_at: DateTime<Utc>,
    /// The lease holder that published it.
    pub holder: String,
    /// What made it, when not a sync (e.g. `restore of snapshot before-upgrade`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Sorted by path, so parents come before their children.
    pub entries: Vec<Entry>,
}

impl Manifest {
    pub fn files(&self) -> usize {
        self.entries.iter().filter(|e| e.kind == Kind::File).count()
    }

    pub fn bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }

    /// Whether two manifests describe the same tree (time and holder aside).
    pub fn same_tree(&self, entries: &[Entry]) -> bool {
        self.entries == entries
    }

    pub(crate) fn to_json(&self) -> Result<Vec<u8>, StateError> {
        serde_json::to_vec(self).map_err(|e| StateError::malformed("manifest", e))
    }

    pub(crate) fn parse(what: &str, bytes: &[u8]) -> Result<Self, StateError> {
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| StateError::malformed(what, e))?;
        for entry in &manifest.entries {
            check_path(&entry.path).map_err(|reason| StateError::malformed(what, reason))?;
            let content_ok = match entry.kind {
                Kind::File => {
                    entry.sha256.as_deref().is_some_and(is_hex_digest)
                        && entry.blob.as_deref().is_some_and(is_hex_digest)
                }
                Kind::Symlink => entry.target.as_deref().is_some_and(|t| !t.contains('\0')),
                Kind::Dir => true,
            };
            if !content_ok {
                return Err(StateError::malformed(
                    what,
                    format!(
                        "entry {} lacks its content",
                        crate::error::shown(&entry.path)
                    ),
                ));
            }
        }
        Ok(manifest)
    }
}

/// A relative path of plain components: no empty, `.`, `..`, NUL or leading `/`.
pub(crate) fn check_path(path: &str) -> Result<(), String> {
    let bad = path.is_empty()
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c.contains('\0'));
    if bad {
        Err(format!(
            "path {} is not plainly relative",
            crate::error::shown(path)
        ))
    } else {
        Ok(())
    }
}

pub(crate) fn is_hex_digest(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_climb_or_are_absolute_are_refused() {
        for bad in ["", "/etc", "a/../b", "..", "a//b", "./a", "a/\0"] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        for good in ["a", "a/b.json", "sessions/x.jsonl", "..a"] {
            assert!(check_path(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn a_manifest_naming_a_climbing_path_is_malformed() {
        let json = br#"{"generation":1,"written_at":"2026-01-01T00:00:00Z","holder":"h",
            "entries":[{"path":"../x","kind":"dir","mode":448,"size":0}]}"#;
        assert!(matches!(
            Manifest::parse("manifest", json),
            Err(StateError::Malformed { .. })
        ));
    }
}
