//! The owner's trust decision as one pure function: [`TrustPolicy::verify`]
//! turns a package read from anywhere into a [`Verified`] package, or
//! refuses it. A `Verified` can only come from here, so nothing can accept
//! or load a package that skipped a step. The steps, in order:
//!
//! 1. the manifest is signed, by a key in `[modules] trusted_keys`, and
//!    the signature matches the manifest's exact bytes;
//! 2. the manifest parses and keeps every rule (only now: unsigned text is
//!    not parsed further than its archive);
//! 3. the package's files are exactly those the manifest lists, each of
//!    the digest it lists;
//! 4. the name is in `[modules] allow` (when the list is not empty);
//! 5. the key is official, or `allow_unofficial` is on.

use hardshell_vocabulary::{Digest, ModuleName};

use crate::package::{Package, PackagePath, sha256};
use crate::signature::{KeyId, TrustedKey, verify_manifest};
use crate::{Manifest, ModuleError};

/// `[modules]`, parsed.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    keys: Vec<TrustedKey>,
    allow: Vec<ModuleName>,
    allow_unofficial: bool,
}

/// The key that signed a verified package, as the owner is shown it and
/// the lock records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub key_name: String,
    pub key_id: KeyId,
    /// The key itself, as [`TrustedKey::fingerprint`].
    pub key: Digest,
    pub official: bool,
}

/// A package that passed every step of [`TrustPolicy::verify`]. Its
/// fields are private: it is built there and nowhere else.
#[derive(Debug)]
pub struct Verified {
    package: Package,
    manifest: Manifest,
    manifest_digest: Digest,
    signer: Signer,
}

impl Verified {
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// SHA-256 of the whole package: what the owner accepts.
    pub fn digest(&self) -> Digest {
        self.package.digest
    }

    /// SHA-256 of `module.toml`'s exact bytes.
    pub fn manifest_digest(&self) -> Digest {
        self.manifest_digest
    }

    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The archive's exact bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.package.bytes
    }

    /// A file of the package, e.g. [`crate::ENTRY_POINT`]; every one was
    /// checked against its digest.
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        let path = PackagePath::parse(path).ok()?;
        self.package.files.get(&path).map(Vec::as_slice)
    }
}

impl TrustPolicy {
    /// The policy `[modules]` describes. The config checked each key's form
    /// when it was loaded; a key that still fails here is an error, never
    /// a key skipped.
    pub fn from_config(modules: &hardshell_config::Modules) -> Result<Self, ModuleError> {
        let keys = modules
            .trusted_keys
            .iter()
            .map(|key| TrustedKey::parse(&key.name, &key.key, key.official))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            keys,
            allow: modules.allow.clone(),
            allow_unofficial: modules.allow_unofficial,
        })
    }

    /// Runs every step on `package`, in the order the module docs list.
    pub fn verify(&self, package: Package) -> Result<Verified, ModuleError> {
        let key = verify_manifest(&self.keys, &package.manifest, package.signature.as_deref())?;
        let manifest = Manifest::parse(&package.manifest)?;
        check_files(&manifest, &package)?;
        if !self.allow.is_empty() && !self.allow.contains(&manifest.name) {
            return Err(ModuleError::NotAllowed {
                name: manifest.name,
            });
        }
        if !key.official && !self.allow_unofficial {
            return Err(ModuleError::Unofficial {
                name: manifest.name,
                key_name: key.name.clone(),
            });
        }
        Ok(Verified {
            manifest_digest: sha256(&package.manifest),
            signer: Signer {
                key_name: key.name.clone(),
                key_id: key.id,
                key: key.fingerprint,
                official: key.official,
            },
            manifest,
            package,
        })
    }
}

/// The package holds exactly the listed files, each of its listed digest.
fn check_files(manifest: &Manifest, package: &Package) -> Result<(), ModuleError> {
    if let Some(path) = package
        .files
        .keys()
        .find(|path| !manifest.files.contains_key(*path))
    {
        return Err(ModuleError::UnlistedFile {
            path: path.to_string(),
        });
    }
    for (path, expected) in &manifest.files {
        let Some(content) = package.files.get(path) else {
            return Err(ModuleError::MissingFile {
                path: path.to_string(),
            });
        };
        let actual = sha256(content);
        if actual != *expected {
            return Err(ModuleError::FileDigest {
                path: path.to_string(),
                expected: *expected,
                actual,
            });
        }
    }
    Ok(())
}

/// The name a refused package's manifest claims, if it has one that
/// follows the rule: for the audit record of a refusal, where nothing was
/// verified (so it is what the package says, not who it is).
pub fn claimed_name(manifest: &[u8]) -> Option<ModuleName> {
    #[derive(serde::Deserialize)]
    struct NameOnly {
        name: ModuleName,
    }
    let text = std::str::from_utf8(manifest).ok()?;
    toml::from_str::<NameOnly>(text).ok().map(|only| only.name)
}
