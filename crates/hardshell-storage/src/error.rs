use crate::envelope::EnvelopeError;
use crate::key::KeyError;

/// Everything that can go wrong talking to storage. Each variant says whose fault it
/// is and, through [`StorageError::is_transient`], whether trying again may help.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The caller named a key that is not a plain relative path (caller's fault).
    #[error(transparent)]
    InvalidKey(#[from] KeyError),

    /// A compare-and-swap lost: the object was created, changed or deleted since the
    /// caller read it. Re-read and try again.
    #[error("object {key} changed concurrently (compare-and-swap conflict)")]
    Conflict { key: String },

    /// The object exists but does not open: wrong master key, tampering, truncation,
    /// or something that is not a hardshell envelope at all.
    #[error("object {key}: {source}")]
    Unseal { key: String, source: EnvelopeError },

    /// A protected object is older than the version register says hardshell
    /// last wrote it: someone with write access to the storage put an older
    /// copy back (see `register.rs`). It is refused, never read as current.
    #[error(
        "object {key} was rolled back: it is write {found}, and hardshell last wrote it as write {registered}; someone with write access to the storage put an older copy back. Restore it from a backup, or delete it once you have looked"
    )]
    RolledBack {
        key: String,
        found: u64,
        registered: u64,
    },

    /// A protected object hardshell wrote and never deleted is gone from the
    /// storage: deleted behind hardshell's back (a revocation marker, say).
    #[error(
        "object {key} is missing: hardshell last wrote it as write {registered} and never deleted it, so it was deleted in the storage behind hardshell's back. Restore it from a backup"
    )]
    Vanished { key: String, registered: u64 },

    /// A part of the version register is older than one this machine has
    /// seen: the register itself was rolled back.
    #[error(
        "the version register's part {part} is at change {found}, older than change {seen} this machine has seen: someone with write access to the storage put an older copy of it back. Protected objects are not read until it is restored from a backup"
    )]
    RegisterRolledBack { part: String, found: u64, seen: u64 },

    /// A part of the version register opened but does not decode.
    #[error("the version register's part {part} does not decode: {detail}")]
    RegisterDamaged { part: String, detail: String },

    /// The configured bucket does not exist (operator's fault).
    #[error("bucket {bucket:?} does not exist at {endpoint}")]
    BucketNotFound { bucket: String, endpoint: String },

    /// The object store refused our credentials or their permissions (operator's fault).
    #[error(
        "{endpoint} refused access to {what}: check the credentials and the bucket policy ({detail})"
    )]
    AccessDenied {
        endpoint: String,
        what: String,
        detail: String,
    },

    /// No connection could be made, even after retrying with backoff.
    #[error("object store at {endpoint} is unreachable after retries: {detail}")]
    Unreachable { endpoint: String, detail: String },

    /// The storage configuration cannot be used (operator's fault).
    #[error("storage configuration: {0}")]
    Config(String),

    /// Any other failure from the object store, with the operation and key it hit.
    #[error("{operation} {key} at {endpoint}: {source}")]
    Backend {
        operation: &'static str,
        key: String,
        endpoint: String,
        #[source]
        source: Box<object_store::Error>,
    },

    /// The file system holding the objects is full (no space or no inodes
    /// left): nothing was written, what was stored before is intact, and the
    /// same call succeeds once room is made. Callers refuse new work with it.
    #[error("{operation} {key} at {endpoint}: the disk holding the data is full; free space on it")]
    Full {
        operation: &'static str,
        key: String,
        endpoint: String,
    },

    /// The edge's storage service refused a request (a remote store only).
    #[error("{operation} {key}: the edge's storage service answered {status}")]
    Remote {
        operation: &'static str,
        key: String,
        status: u16,
    },

    /// A log's file holds what no append wrote: a frame length out of bounds.
    /// A frame cut short at its end is not this: a crash leaves that, and
    /// the next append cuts it off.
    #[error("log {log} is damaged: {detail}")]
    LogDamaged { log: String, detail: String },

    /// A blocking storage task panicked or was cancelled (a bug, not input).
    #[error("storage task failed: {0}")]
    Task(String),

    /// The local filesystem failed outside object_store (lock files, directories).
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    /// Whether repeating the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Conflict { .. }
            | StorageError::Unreachable { .. }
            | StorageError::Full { .. }
            | StorageError::Task(_) => true,
            StorageError::Remote { status, .. } => *status >= 500 || *status == 0,
            StorageError::Backend { source, .. } => !matches!(
                **source,
                object_store::Error::NotSupported { .. }
                    | object_store::Error::NotImplemented { .. }
                    | object_store::Error::InvalidPath { .. }
            ),
            StorageError::InvalidKey(_)
            | StorageError::Unseal { .. }
            | StorageError::RolledBack { .. }
            | StorageError::Vanished { .. }
            | StorageError::RegisterRolledBack { .. }
            | StorageError::RegisterDamaged { .. }
            | StorageError::LogDamaged { .. }
            | StorageError::BucketNotFound { .. }
            | StorageError::AccessDenied { .. }
            | StorageError::Config(_)
            | StorageError::Io { .. } => false,
        }
    }

    /// Whether the disk holding the data is full: [`StorageError::Full`], a
    /// local file operation that met `ENOSPC`/`EDQUOT`, or the edge's storage
    /// service answering 507 Insufficient Storage.
    pub fn is_full(&self) -> bool {
        match self {
            StorageError::Full { .. } => true,
            StorageError::Io { source, .. } => is_no_space(source),
            StorageError::Remote { status, .. } => *status == 507,
            _ => false,
        }
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, StorageError::Conflict { .. })
    }
}

/// Whether an I/O error means the file system has no room left.
pub(crate) fn is_no_space(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}
