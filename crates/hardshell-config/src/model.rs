//! The typed configuration tree: what `hardshell.toml` may contain.
//!
//! Every struct rejects unknown keys, every field has a default that is safe, and
//! every setting that weakens security lives in [`Dangerous`].

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret_ref::SecretRef;

/// The whole `hardshell.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory for this machine's state: the master key file, the local object
    /// store and lock files. Relative paths are resolved against the directory that
    /// holds the config file.
    pub data_dir: PathBuf,
    /// File holding the master key (64 hex digits, mode 0600). Defaults to
    /// `<data_dir>/master.key`. The environment variable `HARDSHELL_MASTER_KEY`,
    /// when set, takes precedence over any file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key_file: Option<PathBuf>,
    /// The edge: the only process that listens on the network.
    pub edge: Edge,
    /// Where state lives.
    pub storage: Storage,
    /// Log output.
    pub log: Log,
    /// Settings that weaken security. Each one that is on logs a warning at start.
    pub dangerous: Dangerous,
}

/// `[edge]`: the listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Edge {
    /// Address and port to listen on. Only loopback addresses are accepted until an
    /// access method is configured.
    pub listen: SocketAddr,
}

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

/// `[log]`: how log lines are written to standard error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// `"text"` for people, `"json"` for log collectors (one object per line).
    pub format: LogFormat,
    /// Minimum level: `error`, `warn`, `info`, `debug` or `trace`. The environment
    /// variable `RUST_LOG` overrides it.
    pub level: LogLevel,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Minimum log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Normal operation (the default).
    #[default]
    Info,
    /// Detail for troubleshooting.
    Debug,
    /// Everything.
    Trace,
}

/// `[dangerous]`: every setting that weakens a protection. All are off by default,
/// and each one that is on logs a warning whenever hardshell starts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Dangerous {
    /// Store objects without encryption. Anyone who can read the data directory or
    /// the bucket can then read every session, memory note and secret.
    pub unencrypted_storage: bool,
    /// Allow a plain-`http://` S3 endpoint that is not on loopback: credentials are
    /// still signed, but object contents and names cross the network unprotected.
    pub storage_allow_http: bool,
}

impl Dangerous {
    /// `(key, consequence)` for every setting that is on, for the start-up warnings.
    pub fn enabled(&self) -> Vec<(&'static str, &'static str)> {
        let mut on = Vec::new();
        if self.unencrypted_storage {
            on.push((
                "dangerous.unencrypted_storage",
                "objects are stored unencrypted; whoever reads the storage reads everything",
            ));
        }
        if self.storage_allow_http {
            on.push((
                "dangerous.storage_allow_http",
                "the S3 endpoint is plain http off loopback; object traffic is unprotected",
            ));
        }
        on
    }
}

/// The default listen address: loopback only, port 8787.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            master_key_file: None,
            edge: Edge::default(),
            storage: Storage::default(),
            log: Log::default(),
            dangerous: Dangerous::default(),
        }
    }
}

impl Default for Edge {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
        }
    }
}

impl Default for Storage {
    fn default() -> Self {
        Self {
            backend: StorageBackend::File,
            s3: None,
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: LogLevel::Info,
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

impl LogLevel {
    /// The level's name as `tracing` filters spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}
