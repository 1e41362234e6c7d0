//! The raw object stores under [`Store`](crate::Store): bytes in, bytes out, with
//! compare-and-swap, and object_store's errors turned into ones an operator can act on.
//!
//! S3-compatible stores do compare-and-swap themselves (`If-None-Match: *`,
//! `If-Match: <etag>`). object_store's local filesystem only does create-if-absent,
//! so [`local`] adds update-if-unchanged under a lock file shared by every process
//! using the same data directory. A [`remote`] store is the edge's storage
//! service on a unix socket: the agent's view of its own state.

mod local;
mod log;
mod objects;
mod remote;
mod s3;

use bytes::Bytes;
use object_store::UpdateVersion;
use object_store::path::Path;

use crate::StorageError;

pub use local::LocalOptions;
pub use remote::{
    LOG_READ_BUDGET, RemoteLog, RemoteObject, RemoteOptions, RemoteWrite, join_frames, split_frames,
};

pub(crate) mod remote_headers {
    pub use super::remote::{EXPECT_HEADER, PATH_PREFIX, VERSION_HEADER, WRITE_HEADER};
}
pub use s3::{RetryOptions, S3Credentials, S3Options};

/// Largest object a get will read into memory. Everything hardshell writes is far
/// smaller; the bound keeps a hostile or corrupted store from exhausting memory.
pub const MAX_OBJECT_BYTES: u64 = 64 * 1024 * 1024;

/// Opaque identity of one stored version of an object, as the store reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    e_tag: Option<String>,
    version: Option<String>,
}

impl Version {
    /// An opaque text form, for carrying a version across the edge's storage
    /// service to a remote store and back.
    pub fn to_token(&self) -> String {
        use base64::Engine as _;
        let json = serde_json::json!({ "e": self.e_tag, "v": self.version });
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
    }

    /// The version a [`Version::to_token`] text names, if it is one.
    pub fn from_token(token: &str) -> Option<Self> {
        use base64::Engine as _;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()?;
        let value: serde_json::Value = serde_json::from_slice(&json).ok()?;
        let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        Some(Self::from_parts(field("e"), field("v")))
    }

    fn from_parts(e_tag: Option<String>, version: Option<String>) -> Self {
        Self { e_tag, version }
    }

    fn to_update(&self) -> UpdateVersion {
        UpdateVersion {
            e_tag: self.e_tag.clone(),
            version: self.version.clone(),
        }
    }
}

pub(crate) enum WriteMode<'a> {
    Overwrite,
    Create,
    Update(&'a Version),
}

pub(crate) struct RawObject {
    pub bytes: Bytes,
    pub version: Version,
}

pub(crate) struct Listed {
    pub path: Path,
    pub size: u64,
    pub last_modified: chrono::DateTime<chrono::Utc>,
    /// The backend's entity tag, where it gives one.
    pub tag: Option<String>,
}

/// Where a [`Store`](crate::Store)'s bytes go.
pub(crate) enum Backend {
    /// A local directory or an S3-compatible bucket, through object_store.
    Objects(objects::Objects),
    /// The edge's storage service on a unix socket: the agent's view of state.
    Remote(remote::Remote),
}

impl Backend {
    pub(crate) fn local(options: &LocalOptions) -> Result<Self, StorageError> {
        objects::Objects::local(options).map(Backend::Objects)
    }

    pub(crate) fn s3(options: &S3Options) -> Result<Self, StorageError> {
        objects::Objects::s3(options).map(Backend::Objects)
    }

    pub(crate) fn remote(options: &RemoteOptions) -> Result<Self, StorageError> {
        remote::Remote::new(options).map(Backend::Remote)
    }

    pub(crate) fn endpoint(&self) -> &str {
        match self {
            Backend::Objects(objects) => objects.endpoint(),
            Backend::Remote(remote) => remote.endpoint(),
        }
    }

    pub(crate) async fn probe(&self) -> Result<(), StorageError> {
        match self {
            Backend::Objects(objects) => objects.probe().await,
            Backend::Remote(remote) => remote.probe().await,
        }
    }

    pub(crate) async fn get(&self, path: &Path) -> Result<Option<RawObject>, StorageError> {
        match self {
            Backend::Objects(objects) => objects.get(path).await,
            Backend::Remote(remote) => remote.get(path).await,
        }
    }

    pub(crate) async fn put(
        &self,
        path: &Path,
        bytes: Bytes,
        mode: WriteMode<'_>,
    ) -> Result<Version, StorageError> {
        match self {
            Backend::Objects(objects) => objects.put(path, bytes, mode).await,
            Backend::Remote(remote) => remote.put(path, bytes, mode).await,
        }
    }

    pub(crate) async fn delete(&self, path: &Path) -> Result<(), StorageError> {
        match self {
            Backend::Objects(objects) => objects.delete(path).await,
            Backend::Remote(remote) => remote.delete(path).await,
        }
    }

    pub(crate) async fn list(&self, prefix: Option<&Path>) -> Result<Vec<Listed>, StorageError> {
        match self {
            Backend::Objects(objects) => objects.list(prefix).await,
            Backend::Remote(remote) => remote.list(prefix).await,
        }
    }

    pub(crate) async fn append_log(
        &self,
        log: &str,
        at: u64,
        record: Bytes,
    ) -> Result<(), StorageError> {
        match self {
            Backend::Objects(objects) => objects.append_log(log, at, record).await,
            Backend::Remote(remote) => remote.append_log(log, at, record).await,
        }
    }

    pub(crate) async fn read_log(
        &self,
        log: &str,
        from: u64,
        max: usize,
        budget: u64,
    ) -> Result<Vec<Bytes>, StorageError> {
        match self {
            Backend::Objects(objects) => objects.read_log(log, from, max, budget).await,
            Backend::Remote(remote) => remote.read_log(log, from, max).await,
        }
    }

    pub(crate) async fn logs(
        &self,
        prefix: Option<&str>,
    ) -> Result<Vec<(String, u64)>, StorageError> {
        match self {
            Backend::Objects(objects) => objects.logs(prefix).await,
            Backend::Remote(remote) => remote.logs(prefix).await,
        }
    }

    pub(crate) async fn delete_log(&self, log: &str) -> Result<(), StorageError> {
        match self {
            Backend::Objects(objects) => objects.delete_log(log).await,
            Backend::Remote(remote) => remote.delete_log(log).await,
        }
    }
}
