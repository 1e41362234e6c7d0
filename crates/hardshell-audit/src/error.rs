use hardshell_storage::{KeyError, StorageError};

/// What can go wrong writing or reading an audit log. Every variant names the log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The caller named a log that is not a single plain key segment.
    #[error("audit log id {log_id:?} is not valid: {source}")]
    InvalidLogId { log_id: String, source: KeyError },

    /// Storage failed; the records stay queued and the next flush retries.
    #[error("audit log {log}: {source}")]
    Storage { log: String, source: StorageError },

    /// A compare-and-swap on the log lost: another writer uses the same log id.
    /// The log stops accepting records rather than overwrite the other writer's.
    #[error(
        "audit log {log}: {object} was changed by another writer; each edge process needs its own log id, and this one has stopped writing"
    )]
    ConcurrentWriter { log: String, object: String },

    /// Storage has been failing long enough that `limit` records are waiting.
    /// New records are refused so memory stays bounded; callers should refuse
    /// the action they wanted to record.
    #[error("audit log {log}: {limit} records are waiting for storage; refusing more")]
    BacklogFull { log: String, limit: usize },

    /// The disk holding the log is full: the last flush could not store the
    /// waiting records, which stay queued and are retried. New records are
    /// refused until a flush succeeds, so nothing runs unaudited meanwhile;
    /// callers refuse the action they wanted to record.
    #[error("audit log {log}: the disk holding it is full; refusing new records until it has room")]
    StorageFull { log: String },

    /// The stored log cannot be continued safely: its last segment or head does
    /// not hold a valid chain. `hardshell audit verify` says what is wrong.
    #[error(
        "audit log {log}: {object} cannot be continued: {reason}; run `hardshell audit verify`"
    )]
    Corrupt {
        log: String,
        object: String,
        reason: String,
    },

    /// The head records more than storage holds: trailing records or segments
    /// were removed.
    #[error(
        "audit log {log}: the head records {head_seq} records but storage holds {stored_seq}; records were removed"
    )]
    Truncated {
        log: String,
        head_seq: u64,
        stored_seq: u64,
    },

    /// A reader found a record that breaks the chain.
    #[error("audit log {log}: {object} seq {seq}: {reason}")]
    Tampered {
        log: String,
        object: String,
        seq: u64,
        reason: String,
    },

    /// A flush was cut off because the async runtime is shutting down; the
    /// records it carried may or may not be stored.
    #[error("audit log {log}: the flush was interrupted by the runtime shutting down")]
    Interrupted { log: String },

    /// An event could not be encoded; no record was made.
    #[error("audit log {log}: encoding a record failed: {source}")]
    Encode {
        log: String,
        source: serde_json::Error,
    },
}

impl AuditError {
    /// Whether retrying (a flush, a read) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            AuditError::Storage { source, .. } => source.is_transient(),
            AuditError::BacklogFull { .. } | AuditError::StorageFull { .. } => true,
            _ => false,
        }
    }
}
