//! Continuing a stored log after a restart: find the last record, check that the
//! last segment is a valid chain and agrees with the head.

use super::{OpenSegment, Stored};
use crate::layout::{self, Head, StoredLog};
use crate::record::{LineFault, Record};
use crate::{AuditError, ChainHash};

pub(super) struct Recovered {
    pub stored: Stored,
}

pub(super) async fn recover(log: &StoredLog) -> Result<Recovered, AuditError> {
    let head = log.read_head().await?;
    let segments = log.list_segments().await?;
    for stray in segments.iter().filter(|s| s.first_seq.is_none()) {
        tracing::warn!(object = %log.describe(&stray.key), "ignoring an object that is not an audit segment");
    }
    let last = segments
        .iter()
        .rev()
        .find_map(|s| s.first_seq.map(|first| (s, first)));
    let (head, head_version) = match head {
        Some((head, version)) => (Some(head), Some(version)),
        None => (None, None),
    };
    let Some((entry, first_seq)) = last else {
        if let Some(head) = head {
            return Err(AuditError::Truncated {
                log: log.id().to_string(),
                head_seq: head.seq,
                stored_seq: 0,
            });
        }
        return Ok(Recovered {
            stored: Stored {
                segment: None,
                durable: None,
                head_version,
                head_seq: None,
            },
        });
    };
    let object = log.describe(&entry.key);
    let corrupt = |reason: String| AuditError::Corrupt {
        log: log.id().to_string(),
        object: object.clone(),
        reason,
    };
    let stored = log
        .get(&entry.key)
        .await?
        .ok_or_else(|| corrupt("it was listed but is gone".to_owned()))?;
    let records = read_chain(&stored.value, first_seq).map_err(|e| corrupt(e.to_string()))?;
    let Some(last) = records.last() else {
        return Err(corrupt("the segment is empty".to_owned()));
    };
    if let Some(head) = head {
        check_head(log, head, &records, last)?;
    }
    Ok(Recovered {
        stored: Stored {
            durable: Some((last.seq(), last.hash())),
            segment: Some(OpenSegment {
                first_seq,
                bytes: stored.value.to_vec(),
                records: records.len() as u64,
                version: Some(stored.version),
            }),
            head_version,
            head_seq: head.map(|h| h.seq),
        },
    })
}

/// Where a segment's chain breaks.
#[derive(Debug, thiserror::Error)]
enum ChainBreak {
    #[error("line {line}: {fault}")]
    BadLine { line: usize, fault: LineFault },
    #[error("line {line} holds seq {seq}, expected {expected}")]
    OutOfSequence {
        line: usize,
        seq: u64,
        expected: u64,
    },
    #[error("seq {seq} does not link to the record before it")]
    Unlinked { seq: u64 },
}

/// Reads a segment whose first record must be `first_seq`, checking every record
/// and every link within it.
fn read_chain(segment: &[u8], first_seq: u64) -> Result<Vec<Record>, ChainBreak> {
    let mut records: Vec<Record> = Vec::new();
    for (index, line) in layout::lines(segment).enumerate() {
        let record = Record::read(line).map_err(|bad| ChainBreak::BadLine {
            line: index + 1,
            fault: bad.fault,
        })?;
        let expected = first_seq + index as u64;
        if record.seq() != expected {
            return Err(ChainBreak::OutOfSequence {
                line: index + 1,
                seq: record.seq(),
                expected,
            });
        }
        // The first record of a later segment links into the previous segment,
        // which `verify` checks; here only links inside this segment are.
        let expected_prev = match records.last() {
            Some(before) => Some(before.hash()),
            None if first_seq == 1 => Some(ChainHash::GENESIS),
            None => None,
        };
        if expected_prev.is_some_and(|prev| prev != record.prev()) {
            return Err(ChainBreak::Unlinked { seq: record.seq() });
        }
        records.push(record);
    }
    Ok(records)
}

fn check_head(
    log: &StoredLog,
    head: Head,
    records: &[Record],
    last: &Record,
) -> Result<(), AuditError> {
    if head.seq > last.seq() {
        return Err(AuditError::Truncated {
            log: log.id().to_string(),
            head_seq: head.seq,
            stored_seq: last.seq(),
        });
    }
    // The head may name a record in an earlier segment (a writer killed right
    // after starting a segment); `verify` checks that one.
    let named = records.iter().find(|r| r.seq() == head.seq);
    if let Some(named) = named
        && named.hash() != head.hash
    {
        return Err(AuditError::Corrupt {
            log: log.id().to_string(),
            object: log.describe(&StoredLog::head_key()),
            reason: format!(
                "it names hash {} for seq {}, but that record's hash is {}",
                head.hash,
                head.seq,
                named.hash()
            ),
        });
    }
    Ok(())
}
