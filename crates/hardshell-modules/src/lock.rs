//! The lock: the modules the owner accepted, each pinned to the exact
//! package bytes reviewed and a full copy of the capabilities and tools
//! accepted with them. Kept sealed in the state store like the pairings:
//! one object, `modules/lock`, changed only by compare-and-swap, so two
//! `hardshell module` commands (or the CLI and an edge) never lose each
//! other's change; and the accepted packages beside it, content-addressed
//! under `modules/packages/<sha256 hex>.tar`, so a runtime loads exactly
//! the locked bytes and never re-reads the source.

use std::collections::BTreeMap;

use chrono::{DateTime, SubsecRound as _, Utc};
use hardshell_storage::{Modification, ObjectKey, Scope, StorageError};
use hardshell_vocabulary::{Digest, ModuleName};
use serde::{Deserialize, Serialize};

use crate::ModuleError;
use crate::capabilities::Capabilities;
use crate::manifest::Tool;
use crate::package::{Package, sha256};
use crate::policy::{TrustPolicy, Verified};
use crate::signature::KeyId;

/// The lock's object, under the modules scope.
const LOCK: &str = "lock";
/// The accepted packages' folder, under the modules scope.
const PACKAGES: &str = "packages";

/// One accepted module, as `modules.lock` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedModule {
    pub name: ModuleName,
    pub version: semver::Version,
    pub publisher: String,
    /// The trusted key's name in `[modules] trusted_keys` when accepted.
    pub key_name: String,
    pub key_id: KeyId,
    /// SHA-256 of the signing key itself (minisign's encoding): ids are
    /// the key maker's choice, so a key replaced under the same id and
    /// name in `[modules] trusted_keys` is told apart by this.
    pub key: Digest,
    pub official: bool,
    /// Where the owner said the package came from, as given.
    pub source: String,
    /// SHA-256 of the whole package: the bytes accepted.
    pub package: Digest,
    /// SHA-256 of its `module.toml`.
    pub manifest: Digest,
    /// What it may do, as accepted: a full copy, not a reference.
    pub capabilities: Capabilities,
    /// The tools it adds, as accepted.
    pub tools: Vec<Tool>,
    #[serde(with = "chrono::serde::ts_seconds")]
    pub accepted_at: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFile {
    modules: BTreeMap<ModuleName, LockedModule>,
}

/// The owner's yes to one package's exact bytes. Made only by comparing
/// with the package's digest, so a yes to one package cannot add another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceptance {
    digest: Digest,
}

impl Acceptance {
    /// The owner was shown `verified` and answered yes.
    pub fn confirmed(verified: &Verified) -> Self {
        Self {
            digest: verified.digest(),
        }
    }

    /// A script's `--accept sha256:…` (or the bare hex): the digest of the
    /// package it reviewed; refused unless it is this package's.
    pub fn by_digest(verified: &Verified, given: &str) -> Result<Self, ModuleError> {
        let given = given.trim();
        let parsed = Digest::parse(given).or_else(|_| Digest::from_hex(given));
        match parsed {
            Ok(digest) if digest == verified.digest() => Ok(Self { digest }),
            _ => Err(ModuleError::NotAccepted {
                name: verified.manifest().name.clone(),
                detail: format!(
                    "--accept names another package; this one is {}",
                    verified.digest()
                ),
            }),
        }
    }
}

/// A module as [`Modules::load`] hands it to a runtime: verified again,
/// and equal to what the lock accepted.
#[derive(Debug)]
pub struct LoadedModule {
    pub locked: LockedModule,
    pub verified: Verified,
}

/// The accepted modules, in the state store's `modules` scope.
#[derive(Debug, Clone)]
pub struct Modules {
    scope: Scope,
    policy: TrustPolicy,
}

impl Modules {
    /// `scope` is the state store's `modules` scope; `policy` the current
    /// `[modules]`, which every load is checked against again.
    pub fn new(scope: Scope, policy: TrustPolicy) -> Self {
        Self { scope, policy }
    }

    pub fn policy(&self) -> &TrustPolicy {
        &self.policy
    }

    /// Every accepted module, by name.
    pub async fn list(&self) -> Result<Vec<LockedModule>, ModuleError> {
        Ok(self.read().await?.modules.into_values().collect())
    }

    /// The accepted module called `name`, if there is one.
    pub async fn locked(&self, name: &ModuleName) -> Result<Option<LockedModule>, ModuleError> {
        Ok(self.read().await?.modules.remove(name))
    }

    /// Locks a module the lock does not hold yet.
    pub async fn add(
        &self,
        verified: &Verified,
        acceptance: &Acceptance,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<LockedModule, ModuleError> {
        let entry = accepted(verified, acceptance, source, now)?;
        self.store_package(verified).await?;
        let added = self
            .change(|lock| {
                if lock.modules.contains_key(&entry.name) {
                    return Err(ModuleError::AlreadyAdded {
                        name: entry.name.clone(),
                    });
                }
                lock.modules.insert(entry.name.clone(), entry.clone());
                Ok(entry.clone())
            })
            .await;
        if added.is_err() {
            // Not locked: its bytes are not kept either.
            self.forget_package_if_unused(entry.package).await?;
        }
        added
    }

    /// Replaces `reviewed` (the entry the owner compared the package with)
    /// with `verified`. If the lock moved meanwhile, nothing changes: the
    /// owner reviewed a diff against something no longer there.
    pub async fn update(
        &self,
        reviewed: &LockedModule,
        verified: &Verified,
        acceptance: &Acceptance,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<LockedModule, ModuleError> {
        let entry = accepted(verified, acceptance, source, now)?;
        if entry.name != reviewed.name {
            return Err(ModuleError::OtherModule {
                name: reviewed.name.clone(),
                found: entry.name,
            });
        }
        self.store_package(verified).await?;
        let updated = self
            .change(|lock| match lock.modules.get(&entry.name) {
                Some(current) if current == reviewed => {
                    lock.modules.insert(entry.name.clone(), entry.clone());
                    Ok(entry.clone())
                }
                Some(_) => Err(ModuleError::LockMoved {
                    name: entry.name.clone(),
                }),
                None => Err(ModuleError::NotLocked {
                    name: entry.name.clone(),
                }),
            })
            .await;
        if let Err(e) = updated {
            self.forget_package_if_unused(entry.package).await?;
            return Err(e);
        }
        self.forget_package_if_unused(reviewed.package).await?;
        Ok(entry)
    }

    /// Takes `name` out of the lock and deletes its package when no other
    /// entry uses it.
    pub async fn remove(&self, name: &ModuleName) -> Result<LockedModule, ModuleError> {
        let removed = self
            .change(|lock| match lock.modules.remove(name) {
                Some(entry) => Ok(entry),
                None => Err(ModuleError::NotLocked { name: name.clone() }),
            })
            .await?;
        self.forget_package_if_unused(removed.package).await?;
        Ok(removed)
    }

    /// The module `name`, for a runtime: its stored package must be the
    /// locked bytes, pass every step of [`TrustPolicy::verify`] again under
    /// the current `[modules]`, be signed by the same key, and declare
    /// exactly the capabilities and tools accepted. Any difference is an
    /// error; nothing loads silently.
    pub async fn load(&self, name: &ModuleName) -> Result<LoadedModule, ModuleError> {
        let locked = self
            .locked(name)
            .await?
            .ok_or_else(|| ModuleError::NotLocked { name: name.clone() })?;
        let bytes = self.scope.get(&package_key(locked.package)?).await?;
        let Some(bytes) = bytes else {
            return Err(ModuleError::PackageMissing {
                name: name.clone(),
                locked: locked.package,
            });
        };
        let found = sha256(&bytes.value);
        if found != locked.package {
            return Err(ModuleError::PackageChanged {
                name: name.clone(),
                locked: locked.package,
                found,
            });
        }
        let verified = self
            .policy
            .verify(Package::parse(bytes.value.to_vec())?)
            .map_err(|e| match e {
                // A key no longer trusted says so in the lock's words.
                ModuleError::UnknownKey { key_id } => ModuleError::KeyChanged {
                    name: name.clone(),
                    locked_key: locked.key_id.to_string(),
                    detail: format!("key {key_id} is no longer in [modules] trusted_keys"),
                },
                other => other,
            })?;
        matches_lock(&locked, &verified)?;
        Ok(LoadedModule { locked, verified })
    }

    async fn read(&self) -> Result<LockFile, ModuleError> {
        match self.scope.get(&key(LOCK)?).await? {
            Some(stored) => parse_lock(Some(&stored.value)),
            None => Ok(LockFile::default()),
        }
    }

    /// Runs `step` on the lock and writes it back by compare-and-swap;
    /// on a lost race, `step` runs again on the newer lock. An error from
    /// `step` writes nothing.
    async fn change<T>(
        &self,
        mut step: impl FnMut(&mut LockFile) -> Result<T, ModuleError>,
    ) -> Result<T, ModuleError> {
        self.scope
            .modify(&key(LOCK)?, |current| {
                let mut lock = parse_lock(current)?;
                let output = step(&mut lock)?;
                let bytes =
                    serde_json::to_vec_pretty(&lock).map_err(|e| ModuleError::LockUnreadable {
                        detail: e.to_string(),
                    })?;
                Ok(Modification::Write(bytes, output))
            })
            .await
    }

    /// Keeps the package's bytes under its digest. Content-addressed: a
    /// stored object of that name with other bytes (changed behind our
    /// back) is replaced by the verified ones.
    async fn store_package(&self, verified: &Verified) -> Result<(), ModuleError> {
        let key = package_key(verified.digest())?;
        match self.scope.get(&key).await? {
            Some(stored) if stored.value.as_slice() == verified.bytes() => Ok(()),
            _ => {
                self.scope.put(&key, verified.bytes()).await?;
                Ok(())
            }
        }
    }

    /// Deletes a package no entry of the lock names. Not atomic with the
    /// lock: a concurrent add of the same bytes can lose its copy between
    /// the read and the delete. That leaves a locked module whose package
    /// is missing, which [`Modules::load`] refuses; never other bytes.
    async fn forget_package_if_unused(&self, digest: Digest) -> Result<(), ModuleError> {
        let lock = self.read().await?;
        if lock.modules.values().all(|entry| entry.package != digest) {
            self.scope.delete(&package_key(digest)?).await?;
        }
        Ok(())
    }
}

/// The lock entry for `verified`, if `acceptance` is the owner's yes to it.
fn accepted(
    verified: &Verified,
    acceptance: &Acceptance,
    source: &str,
    now: DateTime<Utc>,
) -> Result<LockedModule, ModuleError> {
    let manifest = verified.manifest();
    if acceptance.digest != verified.digest() {
        return Err(ModuleError::NotAccepted {
            name: manifest.name.clone(),
            detail: "the acceptance was given for another package".into(),
        });
    }
    let signer = verified.signer();
    Ok(LockedModule {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        publisher: manifest.publisher.clone(),
        key_name: signer.key_name.clone(),
        key_id: signer.key_id,
        key: signer.key,
        official: signer.official,
        source: source.chars().take(1024).collect(),
        package: verified.digest(),
        manifest: verified.manifest_digest(),
        capabilities: manifest.capabilities.clone(),
        tools: manifest.tools.clone(),
        // Whole seconds, as the lock stores it: the entry returned is
        // equal to the one read back, which an update compares against.
        accepted_at: now.trunc_subsecs(0),
    })
}

/// What the stored package declares is what was accepted.
fn matches_lock(locked: &LockedModule, verified: &Verified) -> Result<(), ModuleError> {
    let name = locked.name.clone();
    let manifest = verified.manifest();
    if manifest.name != locked.name {
        return Err(ModuleError::OtherModule {
            name,
            found: manifest.name.clone(),
        });
    }
    if verified.signer().key_id != locked.key_id {
        return Err(ModuleError::KeyChanged {
            name,
            locked_key: locked.key_id.to_string(),
            detail: format!("it is now signed by {}", verified.signer().key_id),
        });
    }
    if verified.signer().key != locked.key {
        return Err(ModuleError::KeyChanged {
            name,
            locked_key: locked.key_id.to_string(),
            detail: format!(
                "[modules] trusted_keys holds another key under that id ({} instead of the accepted {})",
                verified.signer().key,
                locked.key
            ),
        });
    }
    if verified.manifest_digest() != locked.manifest {
        return Err(ModuleError::AcceptedChanged {
            name,
            what: "manifest bytes",
        });
    }
    if manifest.capabilities != locked.capabilities {
        return Err(ModuleError::AcceptedChanged {
            name,
            what: "capabilities",
        });
    }
    if manifest.tools != locked.tools {
        return Err(ModuleError::AcceptedChanged {
            name,
            what: "tools",
        });
    }
    Ok(())
}

fn parse_lock(bytes: Option<&[u8]>) -> Result<LockFile, ModuleError> {
    match bytes {
        None => Ok(LockFile::default()),
        Some(bytes) => serde_json::from_slice(bytes).map_err(|e| ModuleError::LockUnreadable {
            detail: e.to_string(),
        }),
    }
}

fn key(text: &str) -> Result<ObjectKey, ModuleError> {
    ObjectKey::parse(text).map_err(|e| ModuleError::Store(StorageError::from(e)))
}

fn package_key(digest: Digest) -> Result<ObjectKey, ModuleError> {
    key(&format!("{PACKAGES}/{}.tar", digest.hex()))
}
