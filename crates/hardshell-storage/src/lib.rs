//! hardshell's object storage: one interface over a local directory (the embedded
//! default) and S3-compatible buckets (AWS S3, Cloudflare R2, MinIO, SeaweedFS).
//!
//! Invariants: every object is sealed under the master key unless the operator has
//! opened the `[dangerous]` door; a [`Scope`] never reaches outside its key prefix;
//! conditional writes either win atomically or report [`StorageError::Conflict`].
#![forbid(unsafe_code)]

mod backend;
pub mod envelope;
mod error;
mod key;
mod master_key;
pub mod register;
mod store;

pub use backend::{
    LOG_READ_BUDGET, LocalOptions, MAX_OBJECT_BYTES, RemoteLog, RemoteObject, RemoteOptions,
    RemoteWrite, RetryOptions, S3Credentials, S3Options, Version, join_frames, split_frames,
};

/// The wire protocol of a remote store, for the service that serves one.
pub mod remote_protocol {
    pub use crate::backend::remote_headers::{
        EXPECT_HEADER, PATH_PREFIX, VERSION_HEADER, WRITE_HEADER,
    };
}
pub use error::StorageError;
pub use key::{KeyError, MAX_KEY_LEN, MAX_SEGMENT_LEN, ObjectKey};
pub use master_key::{
    KeyId, MASTER_KEY_ENV, MASTER_KEY_LEN, MasterKey, MasterKeyError, MasterKeySource,
};
pub use store::{
    Entry, Location, LogEntry, Modification, Scope, Sealing, Store, VersionCheck, Versioned,
};
