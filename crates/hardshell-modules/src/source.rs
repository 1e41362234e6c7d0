//! Where a package comes from. This step reads local files only; an HTTPS
//! URL or an OCI reference is refused with a clear "not yet", never
//! fetched by a stand-in. Every source goes through the same
//! [`crate::TrustPolicy::verify`].

use std::path::PathBuf;

use crate::{ModuleError, Package};

/// A `SOURCE` as the owner gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A package file on this machine.
    File(PathBuf),
}

impl Source {
    /// `text` as a source: a URL scheme or an OCI reference is refused.
    pub fn parse(text: &str) -> Result<Self, ModuleError> {
        let lower = text.to_ascii_lowercase();
        let remote = ["https://", "http://", "oci://", "oci:", "docker://"]
            .iter()
            .any(|scheme| lower.starts_with(scheme));
        if remote || text.is_empty() {
            return Err(ModuleError::SourceNotYet {
                source_text: text.chars().take(200).collect(),
            });
        }
        Ok(Self::File(PathBuf::from(text)))
    }

    /// Reads the package, bounded (see [`Package::read_file`]).
    pub fn read(&self) -> Result<Package, ModuleError> {
        match self {
            Source::File(path) => Package::read_file(path),
        }
    }
}
