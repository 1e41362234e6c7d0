//! The walk over every stored line, in storage order, checking each record and
//! each link between neighbouring seqs.
//!
//! Each pair `(seq - 1, seq)` is checked once, when the second of the two is
//! seen. In an intact log the predecessor is simply the previous line; records
//! met out of order wait in two small maps, so memory grows with the damage,
//! not with the log.

use std::collections::HashMap;
use std::sync::Arc;

use super::seqs::SeqSet;
use super::{Finding, FindingKind};
use crate::ChainHash;
use crate::record::Record;

#[derive(Debug, Default)]
pub(super) struct Walk {
    pub findings: Vec<Finding>,
    pub seen: SeqSet,
    /// Lines that carried a readable seq.
    pub records: u64,
    /// The previous record in storage order.
    tail: Option<Link>,
    /// Records passed whose successor has not been seen yet, by their seq.
    awaiting_successor: HashMap<u64, Link>,
    /// Records whose predecessor has not been seen yet, by the predecessor's seq.
    awaiting_predecessor: HashMap<u64, Link>,
    /// The head's claim, checked when its record is met.
    anchor: Option<Anchor>,
}

#[derive(Debug)]
struct Anchor {
    object: Arc<str>,
    seq: u64,
    hash: ChainHash,
}

/// What a link check needs of one record; hashes are `None` for a line too
/// damaged to read them.
#[derive(Debug, Clone)]
struct Link {
    seq: u64,
    hash: Option<ChainHash>,
    prev: Option<ChainHash>,
    object: Arc<str>,
    line: usize,
}

impl Walk {
    /// A walk that also checks that record `seq` hashes to `hash`, as the head
    /// object (`object`) says.
    pub fn anchored(object: &str, seq: u64, hash: ChainHash) -> Walk {
        Walk {
            anchor: Some(Anchor {
                object: object.into(),
                seq,
                hash,
            }),
            ..Walk::default()
        }
    }

    pub fn line(&mut self, object: &Arc<str>, line: usize, bytes: &[u8]) {
        let (record, seq) = match Record::read(bytes) {
            Ok(record) => {
                let seq = record.seq();
                (Some(record), Some(seq))
            }
            Err(bad) => {
                let seq = bad.seq();
                let detail = bad.fault.to_string();
                self.find(FindingKind::Edited, object, seq, Some(line), detail);
                (bad.record.map(|record| *record), seq)
            }
        };
        // A line too damaged to name its seq leaves a gap, reported as one.
        let Some(seq) = seq else { return };
        self.records += 1;
        self.place(Link {
            seq,
            hash: record.as_ref().map(Record::hash),
            prev: record.as_ref().map(Record::prev),
            object: Arc::clone(object),
            line,
        });
    }

    fn place(&mut self, link: Link) {
        if link.seq == 0 {
            // Seqs start at 1: no writer stores a record 0, so it has no place
            // in the chain (and no predecessor to link back to).
            let detail = "seq 0: records start at 1".to_owned();
            self.find_at(FindingKind::Inserted, &link, detail);
            return;
        }
        if self.seen.contains(link.seq) {
            let detail = format!("a second record with seq {}", link.seq);
            self.find_at(FindingKind::Inserted, &link, detail);
            return;
        }
        if let Some(max) = self.seen.max()
            && link.seq < max
        {
            let detail = format!("seq {} is stored after seq {max}", link.seq);
            self.find_at(FindingKind::Reordered, &link, detail);
        }
        self.seen.insert(link.seq);
        self.check_anchor(&link);
        match self.tail.take() {
            Some(tail) if tail.seq.checked_add(1) == Some(link.seq) => self.check(&tail, &link),
            Some(tail) => {
                if !self.seen.contains(tail.seq.saturating_add(1)) {
                    self.awaiting_successor.insert(tail.seq, tail);
                }
                self.link_back(&link);
            }
            None => self.link_back(&link),
        }
        if let Some(successor) = self.awaiting_predecessor.remove(&link.seq) {
            self.check(&link, &successor);
        }
        self.tail = Some(link);
    }

    /// Checks `link` against a predecessor met earlier, or leaves it waiting.
    fn link_back(&mut self, link: &Link) {
        if link.seq == 1 {
            if link.prev.is_some_and(|prev| prev != ChainHash::GENESIS) {
                let detail = "the first record's prev is not 64 zeros".to_owned();
                self.find_at(FindingKind::BrokenLink, link, detail);
            }
            return;
        }
        let before = link.seq - 1;
        if let Some(predecessor) = self.awaiting_successor.remove(&before) {
            self.check(&predecessor, link);
        } else if !self.seen.contains(before) {
            self.awaiting_predecessor.insert(before, link.clone());
        }
    }

    fn check(&mut self, predecessor: &Link, link: &Link) {
        if let (Some(hash), Some(prev)) = (predecessor.hash, link.prev)
            && hash != prev
        {
            let detail = format!(
                "prev is {prev}, but seq {} ({} line {}) hashes to {hash}",
                predecessor.seq, predecessor.object, predecessor.line
            );
            self.find_at(FindingKind::BrokenLink, link, detail);
        }
    }

    fn check_anchor(&mut self, link: &Link) {
        let Some(anchor) = &self.anchor else { return };
        if let Some(hash) = link.hash
            && anchor.seq == link.seq
            && anchor.hash != hash
        {
            let object = Arc::clone(&anchor.object);
            let detail = format!(
                "the head names hash {} for seq {}, but {} line {} hashes to {hash}",
                anchor.hash, anchor.seq, link.object, link.line
            );
            self.find(
                FindingKind::BrokenLink,
                &object,
                Some(link.seq),
                None,
                detail,
            );
        }
    }

    fn find_at(&mut self, kind: FindingKind, link: &Link, detail: String) {
        let object = Arc::clone(&link.object);
        self.find(kind, &object, Some(link.seq), Some(link.line), detail);
    }

    pub fn find(
        &mut self,
        kind: FindingKind,
        object: &str,
        seq: Option<u64>,
        line: Option<usize>,
        detail: String,
    ) {
        self.findings.push(Finding {
            kind,
            object: object.to_owned(),
            seq,
            line,
            detail,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `audit_log` fuzz target: `link_back` computed `seq - 1`.
    #[test]
    fn a_record_numbered_zero_is_reported_not_a_panic() {
        let object: Arc<str> = "edge/segments/00000000000000000001".into();
        let mut walk = Walk::default();
        walk.line(&object, 1, br#"{"seq":0}"#);
        assert!(
            walk.findings
                .iter()
                .any(|f| f.kind == FindingKind::Inserted && f.seq == Some(0)),
            "{:?}",
            walk.findings
        );
        assert_eq!(walk.seen.max(), None);
    }
}
