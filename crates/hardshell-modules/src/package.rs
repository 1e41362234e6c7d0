//! Reading a package: one tar archive, held in memory and never extracted
//! to disk by path. Every bound is checked before the bytes it bounds are
//! read: the archive's size, its entry count, each file's size. Only
//! regular files are taken, under names that cannot mean another place.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

use hardshell_vocabulary::Digest;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::ModuleError;
use crate::error::shown;

/// The largest package read: a module's wasm plus its manifest, a little
/// under 64 MiB. The lock keeps the package in the state store, which seals
/// it (adding its envelope) and gives back no object over its own limit:
/// a larger package could be accepted and locked, and then never load.
pub const MAX_PACKAGE_BYTES: u64 =
    hardshell_storage::MAX_OBJECT_BYTES - hardshell_storage::envelope::OVERHEAD as u64;
/// Entries a package may hold, the manifest and its signature included.
pub const MAX_ENTRIES: usize = 64;
/// The largest file in a package.
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;
/// The largest `module.toml`.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
/// The largest `module.toml.minisig` (a real one is about 300 bytes).
pub const MAX_SIGNATURE_BYTES: u64 = 4 * 1024;

/// The manifest's name in a package.
pub const MANIFEST: &str = "module.toml";
/// The manifest's minisign signature's name in a package.
pub const SIGNATURE: &str = "module.toml.minisig";

/// Deepest path in a package, in segments.
const MAX_DEPTH: usize = 4;
/// Longest path in a package, in bytes.
const MAX_PATH_BYTES: usize = 128;

/// A path inside a package: relative, `/`-separated segments of
/// `a-z A-Z 0-9 . _ -`, none of them `.` or `..`, so it names nothing
/// outside the package on any file system, and has one spelling.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackagePath(String);

impl PackagePath {
    /// `text` as a package path, if it follows the rule.
    pub fn parse(text: &str) -> Result<Self, ModuleError> {
        let refused = || ModuleError::EntryName {
            name: text.chars().take(160).collect(),
        };
        if text.is_empty() || text.len() > MAX_PATH_BYTES {
            return Err(refused());
        }
        let segments: Vec<&str> = text.split('/').collect();
        let good_segment = |segment: &&str| {
            !segment.is_empty()
                && *segment != "."
                && *segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        };
        if segments.len() > MAX_DEPTH || !segments.iter().all(good_segment) {
            return Err(refused());
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PackagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PackagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl Serialize for PackagePath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PackagePath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PackagePath::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A package's entries, read and bounded but not yet verified: nothing
/// here is trusted until [`crate::TrustPolicy::verify`] says so. Made only
/// by [`Package::parse`], so its digest, bytes and entries are always of
/// one archive: a [`crate::Verified`] stores and pins the bytes its files
/// were checked from.
pub struct Package {
    /// SHA-256 of the whole archive: what the owner accepts and the lock pins.
    pub(crate) digest: Digest,
    /// The archive's exact bytes, as the store keeps them.
    pub(crate) bytes: Vec<u8>,
    /// `module.toml`'s exact bytes, which the signature covers.
    pub(crate) manifest: Vec<u8>,
    /// `module.toml.minisig`, when there is one.
    pub(crate) signature: Option<Vec<u8>>,
    /// Every other file, by path.
    pub(crate) files: BTreeMap<PackagePath, Vec<u8>>,
}

impl fmt::Debug for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Package")
            .field("digest", &self.digest)
            .field("bytes", &self.bytes.len())
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// SHA-256 of `bytes`, as a digest.
pub fn sha256(bytes: &[u8]) -> Digest {
    Digest::from_sha256(Sha256::digest(bytes).into())
}

impl Package {
    /// Reads the package file at `path`: its size is checked before it is
    /// read, and no more than the limit is read whatever it claims.
    pub fn read_file(path: &Path) -> Result<Self, ModuleError> {
        let failed = |source| ModuleError::ReadPackage {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(failed)?;
        let metadata = file.metadata().map_err(failed)?;
        if !metadata.is_file() {
            return Err(failed(std::io::Error::other("not a regular file")));
        }
        if metadata.len() > MAX_PACKAGE_BYTES {
            return Err(ModuleError::PackageTooLarge {
                size: metadata.len(),
                limit: MAX_PACKAGE_BYTES,
            });
        }
        let mut bytes = Vec::new();
        file.take(MAX_PACKAGE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(failed)?;
        Self::parse(bytes)
    }

    /// SHA-256 of the whole archive.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// `module.toml`'s exact bytes, unverified.
    pub fn manifest(&self) -> &[u8] {
        &self.manifest
    }

    /// `module.toml.minisig`'s bytes, when there is one.
    pub fn signature(&self) -> Option<&[u8]> {
        self.signature.as_deref()
    }

    /// Every other file, by path, unverified.
    pub fn files(&self) -> &BTreeMap<PackagePath, Vec<u8>> {
        &self.files
    }

    /// Reads a package from its bytes.
    pub fn parse(bytes: Vec<u8>) -> Result<Self, ModuleError> {
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if size > MAX_PACKAGE_BYTES {
            return Err(ModuleError::PackageTooLarge {
                size,
                limit: MAX_PACKAGE_BYTES,
            });
        }
        let digest = sha256(&bytes);
        let entries = read_entries(&bytes)?;
        let mut manifest = None;
        let mut signature = None;
        let mut files = BTreeMap::new();
        for (path, content) in entries {
            match path.as_str() {
                MANIFEST => manifest = Some(content),
                SIGNATURE => signature = Some(content),
                _ => {
                    files.insert(path, content);
                }
            }
        }
        Ok(Self {
            digest,
            manifest: manifest.ok_or(ModuleError::MissingManifest)?,
            signature,
            files,
            bytes,
        })
    }
}

/// Every entry of the archive, in order, each checked as it is met.
fn read_entries(bytes: &[u8]) -> Result<Vec<(PackagePath, Vec<u8>)>, ModuleError> {
    // The tar crate's messages quote an entry's raw name and header bytes.
    let archive_error = |e: std::io::Error| ModuleError::Archive {
        detail: shown(&e.to_string(), 300),
    };
    let mut archive = tar::Archive::new(bytes);
    let mut seen = std::collections::BTreeSet::new();
    let mut entries = Vec::new();
    for entry in archive.entries().map_err(archive_error)? {
        let mut entry = entry.map_err(archive_error)?;
        if entries.len() == MAX_ENTRIES {
            return Err(ModuleError::TooManyEntries { limit: MAX_ENTRIES });
        }
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if kind != tar::EntryType::Regular {
            return Err(ModuleError::EntryKind {
                name: raw_name.chars().take(160).collect(),
                kind: format!("{kind:?}").to_lowercase(),
            });
        }
        let path = PackagePath::parse(&raw_name)?;
        if !seen.insert(path.clone()) {
            return Err(ModuleError::DuplicateEntry { name: raw_name });
        }
        let limit = match path.as_str() {
            MANIFEST => MAX_MANIFEST_BYTES,
            SIGNATURE => MAX_SIGNATURE_BYTES,
            _ => MAX_FILE_BYTES,
        };
        let too_large = || ModuleError::EntryTooLarge {
            name: raw_name.clone(),
            limit,
        };
        if entry.size() > limit {
            return Err(too_large());
        }
        let mut content = Vec::new();
        (&mut entry)
            .take(limit + 1)
            .read_to_end(&mut content)
            .map_err(archive_error)?;
        if u64::try_from(content.len()).unwrap_or(u64::MAX) > limit {
            return Err(too_large());
        }
        entries.push((path, content));
    }
    Ok(entries)
}
