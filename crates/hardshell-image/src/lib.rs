//! hardshell's OCI images: parses references, pulls manifests and blobs from a
//! registry (HTTPS only) or a local OCI layout, checks every byte against its
//! sha256 digest as it streams to disk, and unpacks layers safely into a
//! content-addressed, read-only root. Nothing is stored under a digest it does not
//! hash to, and no layer entry is ever written outside its root or through a symlink.

pub mod config;
pub mod credential;
pub mod digest;
pub mod manifest;
pub mod reference;
pub mod unpack;

pub use config::{ExposedPort, ImageConfig, PortProtocol};
pub use credential::RegistryCredential;
pub use digest::Digest;
pub use reference::{ImageRef, ImageSource, ReferenceError};
pub use unpack::{Owner, UnpackLimits};
