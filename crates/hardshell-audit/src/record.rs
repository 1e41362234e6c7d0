//! Records: one event with its place in the chain, stored as one JSON line.
//!
//! ```text
//! {"seq":7,"time":"2026-11-24T12:00:00.000000Z","prev":"<64 hex>","event":{...},"hash":"<64 hex>"}
//! ```
//!
//! `hash` is SHA-256 over the record's canonical bytes without `hash`: the same
//! line with `,"hash":"<64 hex>"` removed. `prev` is the previous record's `hash`,
//! 64 zeros for the first record. Field order and formatting are fixed (serde's
//! struct order, compact JSON, one timestamp form), so anyone can check a line
//! with `jq` and `sha256sum`; a line that is not in this form is treated as edited.

use std::fmt;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::AuditEvent;
use crate::event::rfc3339;

/// A SHA-256 link of the chain, written as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChainHash([u8; 32]);

impl ChainHash {
    /// What the first record's `prev` holds.
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A chain hash's text that is not one: read from a record or head.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not 64 lower-case hex digits")]
pub struct ChainHashError {
    text: String,
}

impl TryFrom<String> for ChainHash {
    type Error = ChainHashError;
    fn try_from(text: String) -> Result<Self, ChainHashError> {
        let refused = || ChainHashError { text: text.clone() };
        // Upper case would decode to the same bytes but change the record's bytes.
        if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(refused());
        }
        let mut bytes = [0u8; 32];
        // Cannot fail after the check above; refused the same way if it did.
        hex::decode_to_slice(&text, &mut bytes).map_err(|_| refused())?;
        Ok(ChainHash(bytes))
    }
}

impl From<ChainHash> for String {
    fn from(hash: ChainHash) -> String {
        hex::encode(hash.0)
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({self})")
    }
}

/// One link of the chain. A `Record` from this crate has been checked: its hash
/// matches its content and its line was in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    seq: u64,
    time: DateTime<Utc>,
    prev: ChainHash,
    event: AuditEvent,
    hash: ChainHash,
}

/// A record as written: without `hash` these are the bytes the hash covers, with
/// it the stored line. One struct for both, so the two cannot drift apart.
#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    #[serde(with = "rfc3339")]
    time: &'a DateTime<Utc>,
    prev: ChainHash,
    event: &'a AuditEvent,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<ChainHash>,
}

/// A stored line as read back.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    seq: u64,
    #[serde(with = "rfc3339")]
    time: DateTime<Utc>,
    prev: ChainHash,
    event: AuditEvent,
    hash: ChainHash,
}

/// Why a stored line is not a valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LineFault {
    /// Not a record at all; `seq` if one could still be read from it.
    Malformed { seq: Option<u64>, reason: String },
    /// A record, but its bytes are not the canonical form of its content.
    NotCanonical,
    /// A record whose content does not hash to its `hash`.
    HashMismatch { computed: ChainHash },
}

impl fmt::Display for LineFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineFault::Malformed { reason, .. } => write!(f, "not a valid record: {reason}"),
            LineFault::NotCanonical => f.write_str("bytes are not the record's canonical form"),
            LineFault::HashMismatch { computed } => {
                write!(f, "content hashes to {computed}, not to its stored hash")
            }
        }
    }
}

impl Record {
    /// The record after `prev` (or the first, when `prev` is `None`).
    pub(crate) fn next(
        prev: Option<(u64, ChainHash)>,
        time: DateTime<Utc>,
        event: AuditEvent,
    ) -> Result<Record, serde_json::Error> {
        let (seq, prev) = match prev {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, ChainHash::GENESIS),
        };
        // Stored with microseconds; truncating here keeps the value in memory equal
        // to the one read back.
        let time = time.trunc_subsecs(6);
        let hash = hash_body(seq, &time, prev, &event)?;
        Ok(Record {
            seq,
            time,
            prev,
            event,
            hash,
        })
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn time(&self) -> DateTime<Utc> {
        self.time
    }

    pub fn prev(&self) -> ChainHash {
        self.prev
    }

    pub fn event(&self) -> &AuditEvent {
        &self.event
    }

    pub fn hash(&self) -> ChainHash {
        self.hash
    }

    /// The stored line, newline included.
    pub fn to_line(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut line = serde_json::to_vec(&Body {
            seq: self.seq,
            time: &self.time,
            prev: self.prev,
            event: &self.event,
            hash: Some(self.hash),
        })?;
        line.push(b'\n');
        Ok(line)
    }

    /// Reads one stored line (without its newline) and checks it is a valid
    /// record. On failure it still returns what could be read: the verifier needs
    /// an edited record's `seq` and stored `hash` to report one finding for one
    /// edit instead of a cascade.
    pub(crate) fn read(line: &[u8]) -> Result<Record, BadLine> {
        let malformed = |seq: Option<u64>, reason: String| BadLine {
            record: None,
            fault: LineFault::Malformed { seq, reason },
        };
        let parsed: Line = serde_json::from_slice(line).map_err(|e| {
            let seq = serde_json::from_slice::<serde_json::Value>(line)
                .ok()
                .and_then(|value| value.get("seq")?.as_u64());
            malformed(seq, printable(&e.to_string()))
        })?;
        let record = Record {
            seq: parsed.seq,
            time: parsed.time,
            prev: parsed.prev,
            event: parsed.event,
            hash: parsed.hash,
        };
        let computed = hash_body(record.seq, &record.time, record.prev, &record.event)
            .map_err(|e| malformed(Some(record.seq), e.to_string()))?;
        if computed != record.hash {
            return Err(BadLine {
                record: Some(Box::new(record)),
                fault: LineFault::HashMismatch { computed },
            });
        }
        let canonical = record
            .to_line()
            .map_err(|e| malformed(Some(record.seq), e.to_string()))?;
        if canonical.strip_suffix(b"\n") != Some(line) {
            return Err(BadLine {
                record: Some(Box::new(record)),
                fault: LineFault::NotCanonical,
            });
        }
        Ok(record)
    }
}

/// A stored line that is not a valid record, with whatever could be read of it.
#[derive(Debug)]
pub(crate) struct BadLine {
    /// Boxed: a bad line is rare, and `Result<Record, BadLine>` stays small.
    pub record: Option<Box<Record>>,
    pub fault: LineFault,
}

impl BadLine {
    /// The line's `seq`, if it could be read at all.
    pub(crate) fn seq(&self) -> Option<u64> {
        match (&self.record, &self.fault) {
            (Some(record), _) => Some(record.seq),
            (None, LineFault::Malformed { seq, .. }) => *seq,
            (None, _) => None,
        }
    }
}

/// `text` with its control characters escaped. serde's messages quote what
/// they refused (`unknown variant ...`) verbatim, and whoever edited the line
/// chose that: unescaped, it could add lines or terminal escapes to the report
/// `hardshell audit verify` prints.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn hash_body(
    seq: u64,
    time: &DateTime<Utc>,
    prev: ChainHash,
    event: &AuditEvent,
) -> Result<ChainHash, serde_json::Error> {
    let body = serde_json::to_vec(&Body {
        seq,
        time,
        prev,
        event,
        hash: None,
    })?;
    Ok(ChainHash(Sha256::digest(&body).into()))
}

#[cfg(test)]
mod tests;
