//! [`StateError`]: every way keeping a workload's state can fail, named for the step.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use hardshell_storage::{KeyError, StorageError};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state storage: {0}")]
    Storage(#[from] StorageError),
    #[error("state object key: {0}")]
    Key(#[from] KeyError),
    #[error(
        "the state lease is held by {holder} until {expires_at} (another machine or process owns this workload's state; stop it, or wait for its lease to expire)"
    )]
    LeaseHeld {
        holder: String,
        expires_at: DateTime<Utc>,
    },
    #[error(
        "the state lease was lost to {holder}: nothing more is written from here (was this process paused past the lease?)"
    )]
    LeaseLost { holder: String },
    #[error("no state lease is held: take it before syncing or restoring")]
    NoLease,
    #[error(
        "the remote state changed under a live lease (now generation {generation}); nothing was overwritten"
    )]
    RemoteChanged { generation: u64 },
    #[error(
        "the remote state is at generation {remote} but this machine's copy is based on generation {local}: the remote went back (restored from a backup, or rolled back by someone with access to the bucket); nothing was changed. `hardshell state restore` keeps the local copy as a snapshot and takes the remote's"
    )]
    RemoteBehind { remote: u64, local: u64 },
    #[error("the stored {what} is malformed: {reason}")]
    Malformed { what: String, reason: String },
    #[error("blob {blob} for {path} is missing from the store")]
    MissingBlob { path: String, blob: String },
    #[error("blob for {path} does not match its recorded sha256; nothing was restored")]
    BlobMismatch { path: String },
    #[error(
        "the state directory has more than {limit} files; nothing was published and the previous generation is intact"
    )]
    TooManyFiles { limit: usize },
    #[error(
        "the state directory holds more than {limit} bytes; nothing was published and the previous generation is intact"
    )]
    TooLarge { limit: u64 },
    #[error(
        "{path} is {size} bytes, over the {limit}-byte limit for one file; nothing was published and the previous generation is intact"
    )]
    FileTooLarge { path: String, size: u64, limit: u64 },
    #[error(
        "the state directory's manifest would be {size} bytes, over the {limit}-byte limit (too many or too long names); nothing was published"
    )]
    ManifestTooLarge { size: u64, limit: u64 },
    #[error("the state directory nests deeper than {limit} levels at {path}")]
    TooDeep { path: String, limit: usize },
    #[error("{path} kept changing while it was read; it will be read again")]
    Unsettled { path: String },
    #[error("reading the state directory at {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("writing the state directory at {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("opening the state directory {}: {source}", dir.display())]
    OpenDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("the local record {}: {source}", file.display())]
    Record {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("no snapshot named {name:?} (see `hardshell state ls`)")]
    NoSnapshot { name: String },
    #[error("a snapshot named {name:?} already exists")]
    SnapshotExists { name: String },
    #[error("there is no remote state yet to snapshot or restore")]
    NoRemoteState,
}

impl StateError {
    pub(crate) fn malformed(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        StateError::Malformed {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// rustix's errors as std's, with the path they were about.
pub(crate) fn read_error(path: &str, e: rustix::io::Errno) -> StateError {
    StateError::Read {
        path: shown(path),
        source: e.into(),
    }
}

pub(crate) fn write_error(path: &str, e: impl Into<std::io::Error>) -> StateError {
    StateError::Write {
        path: shown(path),
        source: e.into(),
    }
}

/// A path from the workload's directory, escaped so it cannot forge log lines.
pub(crate) fn shown(path: &str) -> String {
    if path.is_empty() {
        ".".to_owned()
    } else {
        path.escape_debug().to_string()
    }
}
