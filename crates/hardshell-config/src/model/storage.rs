//! `[storage]`: where state lives.

use serde::{Deserialize, Serialize};

use crate::secret_ref::SecretRef;

/// `[storage]`: the object store that holds sessions, memory and audit records.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// `"file"` keeps objects under `<data_dir>/objects`; `"s3"` uses the bucket
    /// described in `[storage.s3]`.
    pub backend: StorageBackend,
    /// The S3-compatible bucket; required when `backend = "s3"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3>,
}

/// Which object store holds state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// Files under the data directory (the embedded default).
    #[default]
    File,
    /// An S3-compatible bucket: AWS S3, Cloudflare R2, MinIO, SeaweedFS.
    S3,
}

/// `[storage.s3]`: an S3-compatible bucket.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct S3 {
    /// Base URL of the service, e.g. `https://<account>.r2.cloudflarestorage.com`.
    /// Leave out for AWS S3. Plain `http://` is accepted only on loopback unless
    /// `[dangerous] storage_allow_http` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Bucket name. It must exist; hardshell does not create buckets.
    pub bucket: String,
    /// Signing region: `auto` for R2, `us-east-1` for most self-hosted servers.
    #[serde(default = "default_region")]
    pub region: String,
    /// Address objects as `endpoint/bucket/key` (MinIO, SeaweedFS) instead of
    /// `bucket.endpoint/key` (AWS, R2).
    #[serde(default)]
    pub path_style: bool,
    /// Key prefix inside the bucket, so several instances can share one bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Access key id, as a reference: `secret:NAME` (from `hardshell secret put`)
    /// or `env:NAME` (an environment variable). Never the value itself.
    pub access_key_id: SecretRef,
    /// Secret access key, as a reference like `access_key_id`.
    pub secret_access_key: SecretRef,
    /// Retries of a transient failure (5xx, 429, dropped connection) before giving up.
    #[serde(default = "default_max_retries")]
    pub max_retries: usize,
    /// Seconds after the first attempt beyond which no retry starts.
    #[serde(default = "default_retry_timeout_secs")]
    pub retry_timeout_secs: u64,
}

impl Default for Storage {
    fn default() -> Self {
        Self {
            backend: StorageBackend::File,
            s3: None,
        }
    }
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

fn default_max_retries() -> usize {
    5
}

fn default_retry_timeout_secs() -> u64 {
    30
}
