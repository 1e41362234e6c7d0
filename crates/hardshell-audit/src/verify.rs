//! [`verify`]: reads a whole log back and reports every place its chain is
//! broken, each with the object, seq and line where it shows.
//!
//! What it detects, given the head and segments it reads:
//! - a record whose content does not hash to its stored hash, or whose line is
//!   not in canonical form ([`FindingKind::Edited`]);
//! - a record whose `prev` is not its predecessor's hash: a record edited with its
//!   hash recomputed, or one forged in place ([`FindingKind::BrokenLink`]);
//! - missing seqs: deleted lines or segments ([`FindingKind::Gap`]);
//! - a seq stored twice ([`FindingKind::Inserted`]);
//! - a seq stored after a higher one ([`FindingKind::Reordered`]);
//! - fewer records than the head names ([`FindingKind::Truncated`]).
//!
//! What it cannot detect: someone holding the master key who rewrites the log
//! from some record on, recomputing every hash and the head, or who rolls back
//! both the head and the trailing segments to an earlier consistent state. Both
//! need an anchor outside storage, e.g. the head hash the writer logs at debug
//! level, or a copy of `head` kept elsewhere.

mod seqs;
mod walk;

use std::fmt;
use std::sync::Arc;

use hardshell_storage::{Scope, StorageError};

use crate::layout::{self, Head, StoredLog};
use crate::{AuditError, LogId};

/// What [`verify`] found.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub log_id: LogId,
    /// Objects under `segments/` read.
    pub segments: usize,
    /// Stored lines that named a seq.
    pub records: u64,
    /// The highest seq stored.
    pub last_seq: Option<u64>,
    pub head: Option<Head>,
    /// Records past the head: normal while a writer is running or after one was
    /// killed between a segment write and a head write (its next `open` catches
    /// the head up), but not covered by the head's truncation check.
    pub unanchored: u64,
    /// Empty when the log is intact. Ordered by seq.
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.findings.is_empty()
    }
}

/// One place the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    /// Where it shows, e.g. `edge/segments/00000000000000000001` or `edge/head`.
    pub object: String,
    /// The first seq affected, when known.
    pub seq: Option<u64>,
    /// 1-based line within `object`, when it is about one line.
    pub line: Option<usize>,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindingKind {
    /// A record's content or form was changed.
    Edited,
    /// Records are missing between others.
    Gap,
    /// A record was added where one with its seq already is.
    Inserted,
    /// A record is stored after one that follows it.
    Reordered,
    /// Trailing records are missing: storage ends before the head.
    Truncated,
    /// A record does not link to the one before it.
    BrokenLink,
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FindingKind::Edited => "edited",
            FindingKind::Gap => "gap",
            FindingKind::Inserted => "inserted",
            FindingKind::Reordered => "reordered",
            FindingKind::Truncated => "truncated",
            FindingKind::BrokenLink => "broken link",
        })
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.object)?;
        if let Some(seq) = self.seq {
            write!(f, " seq {seq}")?;
        }
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// Reads log `log_id` under `scope` and checks every record, link and the head.
/// Errors only when storage cannot be read; damage is reported in the findings.
pub async fn verify(scope: &Scope, log_id: &LogId) -> Result<VerifyReport, AuditError> {
    let log = StoredLog::new(scope, log_id)?;
    let head_object = log.describe(&StoredLog::head_key());
    // The head before the segments: a running writer stores segments first, so in
    // this order a live log never looks truncated.
    let mut head_damaged = false;
    let (head, mut walk) = match log.read_head().await {
        Ok(Some((head, _))) => {
            let walk = walk::Walk::anchored(&head_object, head.seq, head.hash);
            (Some(head), walk)
        }
        Ok(None) => (None, walk::Walk::default()),
        Err(e) if is_damage(&e) => {
            head_damaged = true;
            let mut walk = walk::Walk::default();
            walk.find(FindingKind::Edited, &head_object, None, None, e.to_string());
            (None, walk)
        }
        Err(e) => return Err(e),
    };
    let segments = log.list_segments().await?;
    for entry in &segments {
        let object: Arc<str> = log.describe(&entry.key).into();
        if entry.first_seq.is_none() {
            let detail = "an object under segments/ that is not a segment".to_owned();
            walk.find(FindingKind::Inserted, &object, None, None, detail);
            continue;
        }
        let stored = match log.get(&entry.key).await {
            Ok(Some(stored)) => stored,
            // Removed since listing: its records are reported missing below.
            Ok(None) => continue,
            Err(e) if is_damage(&e) => {
                walk.find(
                    FindingKind::Edited,
                    &object,
                    entry.first_seq,
                    None,
                    e.to_string(),
                );
                continue;
            }
            Err(e) => return Err(e),
        };
        for (index, line) in layout::lines(&stored.value).enumerate() {
            walk.line(&object, index + 1, line);
        }
    }
    report_gaps(&mut walk, &log, &segments);
    let last_seq = walk.seen.max();
    let unanchored = check_head(&mut walk, &head_object, head, head_damaged);
    let mut findings = walk.findings;
    findings.sort_by_key(|f| f.seq.unwrap_or(u64::MAX));
    Ok(VerifyReport {
        log_id: log_id.clone(),
        segments: segments.len(),
        records: walk.records,
        last_seq,
        head,
        unanchored,
        findings,
    })
}

/// Every seq missing below the highest one stored, reported against the segment
/// that should hold it.
fn report_gaps(walk: &mut walk::Walk, log: &StoredLog, segments: &[layout::SegmentEntry]) {
    for missing in walk.seen.missing() {
        let (first, last) = (*missing.start(), *missing.end());
        let holder = segments
            .iter()
            .rfind(|s| s.first_seq.is_some_and(|f| f <= first))
            .map_or_else(
                || log.describe(&StoredLog::segment_key(first)),
                |s| log.describe(&s.key),
            );
        let detail = if first == last {
            format!("record {first} is missing")
        } else {
            format!("records {first} to {last} are missing")
        };
        walk.find(FindingKind::Gap, &holder, Some(first), None, detail);
    }
}

/// Checks that storage reaches the head; returns how many records lie past it.
fn check_head(
    walk: &mut walk::Walk,
    head_object: &str,
    head: Option<Head>,
    head_damaged: bool,
) -> u64 {
    let last_seq = walk.seen.max();
    match head {
        Some(head) => {
            let stored = last_seq.unwrap_or(0);
            if head.seq > stored {
                let detail = format!(
                    "the head names {} records, storage ends at {stored}",
                    head.seq
                );
                walk.find(
                    FindingKind::Truncated,
                    head_object,
                    Some(stored + 1),
                    None,
                    detail,
                );
            }
            walk.seen.count_above(head.seq)
        }
        None => {
            if let Some(last) = last_seq
                && !head_damaged
            {
                let detail = format!("the head is missing, though records up to {last} are stored");
                walk.find(FindingKind::Truncated, head_object, None, None, detail);
            }
            walk.seen.count_above(0)
        }
    }
}

/// Storage returned the object, but it is not what the writer stored.
fn is_damage(e: &AuditError) -> bool {
    matches!(
        e,
        AuditError::Corrupt { .. }
            | AuditError::Storage {
                source: StorageError::Unseal { .. },
                ..
            }
    )
}
