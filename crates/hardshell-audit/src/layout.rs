//! Where a log lives in storage, and reading it back.
//!
//! ```text
//! <log_id>/head                         {"seq":N,"hash":"<hex>"}: the last record flushed
//! <log_id>/segments/00000000000000000001  JSON lines, records 1..
//! <log_id>/segments/00000000000000004097  JSON lines, records 4097..
//! ```
//!
//! Segment names are the first record's seq, zero-padded to 20 digits (all of
//! `u64`), so listing order is seq order.

use std::fmt;

use hardshell_storage::{Entry, ObjectKey, Scope, StorageError, Version, Versioned};
use serde::{Deserialize, Serialize};

use crate::{AuditError, ChainHash};

/// One audit log's name within its scope, e.g. `edge-1`: a single key segment.
/// Each writing process needs its own.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LogId(ObjectKey);

impl LogId {
    pub fn new(text: &str) -> Result<LogId, AuditError> {
        ObjectKey::segment(text)
            .map(LogId)
            .map_err(|source| AuditError::InvalidLogId {
                log_id: text.chars().take(64).collect(),
                source,
            })
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogId({:?})", self.as_str())
    }
}

/// The head object: the last record the writer flushed. Records past it can
/// exist (a writer stopped between writing a segment and the head); records
/// missing before it were removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    pub seq: u64,
    pub hash: ChainHash,
}

/// A log's objects, reached through the scope given to the writer or reader.
#[derive(Debug, Clone)]
pub(crate) struct StoredLog {
    /// `<scope>/<log_id>`.
    scope: Scope,
    id: LogId,
}

/// One object listed under `segments/`.
#[derive(Debug, Clone)]
pub(crate) struct SegmentEntry {
    /// `segments/<name>`, relative to the log.
    pub key: ObjectKey,
    /// The first seq it should hold; `None` if its name is not a segment name.
    pub first_seq: Option<u64>,
}

impl StoredLog {
    pub fn new(scope: &Scope, id: &LogId) -> Result<StoredLog, AuditError> {
        let scope = scope.scope(&id.0).map_err(|source| AuditError::Storage {
            log: id.to_string(),
            source,
        })?;
        Ok(StoredLog {
            scope,
            id: id.clone(),
        })
    }

    pub fn id(&self) -> &LogId {
        &self.id
    }

    /// An object's key as an operator would look for it: `<log_id>/<key>`.
    pub fn describe(&self, key: &ObjectKey) -> String {
        format!("{}/{}", self.id, key)
    }

    pub fn storage_error(&self, source: StorageError) -> AuditError {
        AuditError::Storage {
            log: self.id.to_string(),
            source,
        }
    }

    pub fn head_key() -> ObjectKey {
        fixed_key("head")
    }

    pub fn segment_key(first_seq: u64) -> ObjectKey {
        fixed_key(&format!("segments/{first_seq:020}"))
    }

    pub async fn read_head(&self) -> Result<Option<(Head, Version)>, AuditError> {
        let key = Self::head_key();
        let Some(stored) = self.get(&key).await? else {
            return Ok(None);
        };
        let head: Head =
            serde_json::from_slice(&stored.value).map_err(|e| AuditError::Corrupt {
                log: self.id.to_string(),
                object: self.describe(&key),
                reason: format!("not a head record: {e}"),
            })?;
        Ok(Some((head, stored.version)))
    }

    pub async fn get(&self, key: &ObjectKey) -> Result<Option<Versioned>, AuditError> {
        self.scope.get(key).await.map_err(|e| self.storage_error(e))
    }

    /// Every object under `segments/`, in key order (which is seq order).
    pub async fn list_segments(&self) -> Result<Vec<SegmentEntry>, AuditError> {
        let listed: Vec<Entry> = self.scope.list().await.map_err(|e| self.storage_error(e))?;
        Ok(listed
            .into_iter()
            .filter(|entry| entry.key.as_str().starts_with("segments/"))
            .map(|entry| SegmentEntry {
                first_seq: parse_segment_name(entry.key.as_str()),
                key: entry.key,
            })
            .collect())
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }
}

/// `segments/` followed by exactly 20 digits.
fn parse_segment_name(key: &str) -> Option<u64> {
    let name = key.strip_prefix("segments/")?;
    if name.len() != 20 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

fn fixed_key(text: &str) -> ObjectKey {
    // Only called with "head" and "segments/<20 digits>", which are always valid
    // keys; a failure here is a bug in this file, not bad input.
    #[allow(clippy::expect_used)]
    ObjectKey::parse(text).expect("audit log layout keys are valid object keys")
}

/// Splits a segment into its lines, without the newlines. A segment always ends
/// with a newline; bytes after the last one are returned as a final line so a
/// cut-off record is reported rather than silently dropped.
pub(crate) fn lines(segment: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = segment.strip_suffix(b"\n").unwrap_or(segment);
    body.split(|b| *b == b'\n').filter(|_| !segment.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_sort_in_seq_order() {
        let a = StoredLog::segment_key(9);
        let b = StoredLog::segment_key(10);
        assert!(a < b);
        assert_eq!(a.as_str(), "segments/00000000000000000009");
        assert_eq!(parse_segment_name(a.as_str()), Some(9));
        assert_eq!(
            parse_segment_name(StoredLog::segment_key(u64::MAX).as_str()),
            Some(u64::MAX)
        );
    }

    #[test]
    fn other_names_under_segments_are_not_segments() {
        for other in [
            "segments/9",
            "segments/0000000000000000000x",
            "segments/a/b",
            "head",
        ] {
            assert_eq!(parse_segment_name(other), None, "{other}");
        }
    }

    #[test]
    fn lines_split_on_newlines_and_keep_a_cut_off_tail() {
        let split: Vec<&[u8]> = lines(b"a\nb\n").collect();
        assert_eq!(split, [b"a".as_slice(), b"b"]);
        let split: Vec<&[u8]> = lines(b"a\nb").collect();
        assert_eq!(split, [b"a".as_slice(), b"b"]);
        assert_eq!(lines(b"").count(), 0);
        let split: Vec<&[u8]> = lines(b"a\n\nb\n").collect();
        assert_eq!(split, [b"a".as_slice(), b"", b"b"]);
    }

    #[test]
    fn log_ids_are_single_segments() {
        assert!(LogId::new("edge-1").is_ok());
        for bad in ["", "a/b", "..", ".hidden", "a b"] {
            assert!(LogId::new(bad).is_err(), "{bad:?}");
        }
    }
}
