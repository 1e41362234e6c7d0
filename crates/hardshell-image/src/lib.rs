//! hardshell's OCI images: parses references, pulls manifests and blobs from a
//! registry (HTTPS only) or a local OCI layout, checks every byte against its
//! sha256 digest as it streams to disk, and unpacks layers safely into a
//! content-addressed, read-only root. Nothing is stored under a digest it does not
//! hash to, and no layer entry is ever written outside its root or through a symlink.
//!
//! The API, in the order the caller uses it: [`ImageRef::parse`],
//! [`ImageStore::open`], [`RegistryClient::new`], [`ImageStore::pull`] (→
//! [`PulledImage`]: resolved digest, manifest digest, [`ImageConfig`], root),
//! [`ImageStore::lookup`] (no network), [`ImageStore::list`],
//! [`ImageStore::verify`], [`ImageStore::prune`]. Artifacts that are not
//! images (a module package) come whole and verified from
//! [`RegistryClient::pull_artifact`].

pub mod artifact;
pub mod config;
pub mod credential;
pub mod digest;
mod error;
pub mod manifest;
mod pull;
mod registry;
mod source;
mod store;
pub mod unpack;

pub use artifact::{Artifact, ArtifactError, ArtifactKind};
pub use config::{ExposedPort, ImageConfig, PortProtocol};
pub use credential::RegistryCredential;
pub use digest::{Digest, DigestError, DigestOf};
pub use error::ImageError;
/// The reference grammar is the vocabulary's, so `config check` refuses what a pull would.
pub use hardshell_vocabulary::{ImageRef, ImageRefError, ImageSource};
pub use pull::{PullEvent, PullOptions};
pub use registry::RegistryClient;
pub use store::{ImageStore, PruneReport, PulledImage, StoredImage, VerifyReport};
pub use unpack::{Owner, UnpackLimits};
