//! [`Tail`]: reads a log's records in order from a seq and follows new ones, for
//! `hardshell audit tail`. Every record it returns has been checked: its hash,
//! its seq (no gaps) and its link to the record before it.

use std::time::Duration;

use hardshell_storage::{ObjectKey, Scope};

use crate::layout::{self, StoredLog};
use crate::record::Record;
use crate::{AuditError, ChainHash, LogId};

/// A reader positioned at a seq. Polls storage; never writes.
#[derive(Debug)]
pub struct Tail {
    log: StoredLog,
    next_seq: u64,
    /// The hash of record `next_seq - 1`, once read.
    last_hash: Option<ChainHash>,
    /// How far into which segment earlier reads got: `(first_seq, bytes)`.
    /// Segments only grow at the end, so a re-read resumes there.
    position: Option<(u64, usize)>,
}

impl Tail {
    /// A reader that returns records from `from_seq` on (1, or 0, for the start).
    pub fn new(scope: &Scope, log_id: &LogId, from_seq: u64) -> Result<Tail, AuditError> {
        Ok(Tail {
            log: StoredLog::new(scope, log_id)?,
            next_seq: from_seq.max(1),
            last_hash: None,
            position: None,
        })
    }

    /// The seq the next record returned will have.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Every record from [`Tail::next_seq`] that is stored now; empty if none.
    /// Errors with [`AuditError::Tampered`] at the first record that breaks the
    /// chain; records before it were returned by earlier calls or not at all.
    pub async fn read(&mut self) -> Result<Vec<Record>, AuditError> {
        let segments = self.log.list_segments().await?;
        let firsts: Vec<(u64, &ObjectKey)> = segments
            .iter()
            .filter_map(|s| s.first_seq.map(|first| (first, &s.key)))
            .collect();
        // The segment holding `next_seq - 1` (its hash is the next record's prev)
        // or `next_seq`, and every one after it.
        let wanted = self.next_seq.saturating_sub(1).max(1);
        let start = firsts
            .iter()
            .rposition(|(first, _)| *first <= wanted)
            .unwrap_or(0);
        let mut records = Vec::new();
        for (first_seq, key) in &firsts[start..] {
            let Some(stored) = self.log.get(key).await? else {
                continue;
            };
            let skip = match self.position {
                Some((at, bytes)) if at == *first_seq && bytes <= stored.value.len() => bytes,
                _ => 0,
            };
            for line in layout::lines(&stored.value[skip..]) {
                if let Some(record) = self.accept(key, line)? {
                    records.push(record);
                }
            }
            self.position = Some((*first_seq, stored.value.len()));
        }
        Ok(records)
    }

    /// Waits until at least one new record is stored, polling every `poll`.
    pub async fn follow(&mut self, poll: Duration) -> Result<Vec<Record>, AuditError> {
        loop {
            let records = self.read().await?;
            if !records.is_empty() {
                return Ok(records);
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Checks one line; returns the record if it is the next one to hand out.
    fn accept(&mut self, key: &ObjectKey, line: &[u8]) -> Result<Option<Record>, AuditError> {
        let tampered = |seq: u64, reason: String| AuditError::Tampered {
            log: self.log.id().to_string(),
            object: self.log.describe(key),
            seq,
            reason,
        };
        let record = match Record::read(line) {
            Ok(record) => record,
            // Damage before the records this reader hands out is `verify`'s to report.
            // (`seq` is whatever the line claims, up to u64::MAX: no `seq + 1`.)
            Err(bad)
                if bad
                    .seq()
                    .is_some_and(|seq| seq < self.next_seq.saturating_sub(1)) =>
            {
                return Ok(None);
            }
            Err(bad) => {
                return Err(tampered(
                    bad.seq().unwrap_or(self.next_seq),
                    bad.fault.to_string(),
                ));
            }
        };
        if record.seq() < self.next_seq {
            if record.seq() + 1 == self.next_seq {
                self.last_hash = Some(record.hash());
            }
            return Ok(None);
        }
        if record.seq() != self.next_seq {
            let reason = format!("expected seq {}: records are missing", self.next_seq);
            return Err(tampered(record.seq(), reason));
        }
        let expected_prev = match self.last_hash {
            Some(hash) => Some(hash),
            None if record.seq() == 1 => Some(ChainHash::GENESIS),
            None => None,
        };
        if expected_prev.is_some_and(|prev| prev != record.prev()) {
            let reason = "does not link to the record before it".to_owned();
            return Err(tampered(record.seq(), reason));
        }
        self.last_hash = Some(record.hash());
        self.next_seq += 1;
        Ok(Some(record))
    }
}
