//! The image subsystem's errors, one variant per step. No variant carries a
//! credential or a token: they never leave `credential.rs` and the auth headers.

use std::io;
use std::path::PathBuf;

use crate::digest::Digest;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Reference(#[from] hardshell_vocabulary::ImageRefError),
    #[error("building the registry client")]
    Client(#[source] reqwest::Error),
    #[error("reading the extra trusted root certificates")]
    TrustedRoot(#[source] reqwest::Error),
    #[error("request to {url} failed")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("registry answered {status} for {url}")]
    Status { url: String, status: u16 },
    #[error("{what} not found at {url}")]
    NotFound { what: &'static str, url: String },
    #[error("registry {registry} refused the credentials (or needs some) for {repository}")]
    Unauthorized {
        registry: String,
        repository: String,
    },
    #[error(
        "registry {registry} sent an authentication challenge hardshell cannot answer: {reason}"
    )]
    Challenge { registry: String, reason: String },
    #[error("token service {realm} gave no usable token")]
    Token { realm: String },
    #[error("{what} is larger than {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    #[error(
        "{what} does not match its digest: expected {expected}, got {actual}; nothing was stored"
    )]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error(
        "{what} {digest} is {actual} bytes, its descriptor says {expected}; nothing was stored"
    )]
    SizeMismatch {
        what: &'static str,
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error("manifest {digest} refused")]
    Manifest {
        digest: Digest,
        #[source]
        source: crate::manifest::ManifestError,
    },
    #[error("artifact manifest {digest} refused")]
    Artifact {
        digest: Digest,
        #[source]
        source: crate::artifact::ArtifactError,
    },
    #[error("image config {digest} refused")]
    Config {
        digest: Digest,
        #[source]
        source: crate::config::ConfigError,
    },
    #[error("index entry {digest} is itself an index; nested indexes are not followed")]
    NestedIndex { digest: Digest },
    #[error("image is for {got}, this machine runs {want}")]
    Platform { want: String, got: String },
    #[error("layer {digest} refused")]
    Unpack {
        digest: Digest,
        #[source]
        source: crate::unpack::UnpackError,
    },
    #[error("OCI layout {path}: {reason}")]
    Layout { path: PathBuf, reason: String },
    #[error("reference {0} names neither a tag nor a digest")]
    NothingToResolve(String),
    #[error("another hardshell image operation holds the store at {0}")]
    Busy(PathBuf),
    #[error("image store: {step} {path}")]
    Store {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("image store file {path} is damaged")]
    Index {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl ImageError {
    pub(crate) fn store(
        step: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Store { step, path, source }
    }
}
