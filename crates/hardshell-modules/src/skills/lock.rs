//! The skills' lock: the OpenClaw skills the owner accepted, beside the
//! modules' lock in the same sealed scope of the state store. One object,
//! `skills/lock`, changed only by compare-and-swap; each accepted tree kept
//! under `skills/trees/<tree digest hex>.tar` (a plain tar of fixed form),
//! so the workload gets exactly the reviewed bytes and the source is never
//! read again. Every read of a stored tree is checked against the lock's
//! digest: a tree changed in the store is refused, never staged.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, SubsecRound as _, Utc};
use hardshell_storage::{Modification, ObjectKey, Scope, StorageError};
use hardshell_vocabulary::{Digest, ModuleName};
use serde::{Deserialize, Serialize};

use super::{Skill, SkillError, SkillTree, tree};

const LOCK: &str = "skills/lock";
const TREES: &str = "skills/trees";

/// One accepted skill, as the lock records it: with what the owner was
/// shown when accepting it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedSkill {
    pub name: ModuleName,
    /// [`SkillTree::digest`] of the files accepted.
    pub digest: Digest,
    /// Where the owner said it came from, as given.
    pub source: String,
    /// Each file: path, size in bytes, and whether it is executable.
    pub files: Vec<(String, u64, bool)>,
    /// The files shown in full as scripts.
    pub scripts: Vec<String>,
    /// `metadata.openclaw`'s install steps, as shown.
    pub install: Vec<String>,
    /// `metadata.openclaw`'s requirements, as shown.
    pub requirements: Option<String>,
    #[serde(with = "chrono::serde::ts_seconds")]
    pub accepted_at: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFile {
    skills: BTreeMap<ModuleName, LockedSkill>,
}

/// The owner's yes to one skill's exact files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillAcceptance {
    digest: Digest,
}

impl SkillAcceptance {
    /// The owner was shown `skill` and answered yes.
    pub fn confirmed(skill: &Skill) -> Self {
        Self {
            digest: skill.digest(),
        }
    }

    /// A script's `--accept sha256:…`: refused unless it is this skill's
    /// tree digest.
    pub fn by_digest(skill: &Skill, given: &str) -> Result<Self, SkillError> {
        let given = given.trim();
        match Digest::parse(given).or_else(|_| Digest::from_hex(given)) {
            Ok(digest) if digest == skill.digest() => Ok(Self { digest }),
            _ => Err(SkillError::NotAccepted {
                name: skill.name.clone(),
                detail: format!(
                    "--accept names another skill; this one is {}",
                    skill.digest()
                ),
            }),
        }
    }
}

/// What [`Skills::stage`] wrote, and what it left out and why.
#[derive(Debug, Default)]
pub struct StagedSkills {
    pub written: Vec<LockedSkill>,
    pub refused: Vec<(ModuleName, Option<Digest>, SkillError)>,
}

/// The accepted skills, in the state store's `modules` scope.
#[derive(Debug, Clone)]
pub struct Skills {
    scope: Scope,
}

impl Skills {
    /// `scope` is the state store's `modules` scope (the modules' lock's).
    pub fn new(scope: Scope) -> Self {
        Self { scope }
    }

    pub async fn list(&self) -> Result<Vec<LockedSkill>, SkillError> {
        Ok(self.read().await?.skills.into_values().collect())
    }

    pub async fn locked(&self, name: &ModuleName) -> Result<Option<LockedSkill>, SkillError> {
        Ok(self.read().await?.skills.remove(name))
    }

    /// Locks `skill`. `reviewed` is the entry the owner compared it with
    /// (`None`: the owner was told there was none): if the lock holds
    /// something else by now, nothing changes.
    pub async fn add(
        &self,
        skill: &Skill,
        acceptance: &SkillAcceptance,
        reviewed: Option<&LockedSkill>,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<LockedSkill, SkillError> {
        if acceptance.digest != skill.digest() {
            return Err(SkillError::NotAccepted {
                name: skill.name.clone(),
                detail: "the acceptance was given for another skill".into(),
            });
        }
        let entry = entry(skill, source, now);
        self.scope
            .put(&tree_key(skill.digest())?, &skill.tree.to_tar()?)
            .await?;
        let changed = self
            .change(|lock| {
                if lock.skills.get(&entry.name) != reviewed {
                    return Err(SkillError::LockMoved {
                        name: entry.name.clone(),
                    });
                }
                lock.skills.insert(entry.name.clone(), entry.clone());
                Ok(())
            })
            .await;
        match changed {
            Ok(()) => {
                if let Some(previous) = reviewed {
                    self.forget_tree_if_unused(previous.digest).await?;
                }
                Ok(entry)
            }
            Err(e) => {
                self.forget_tree_if_unused(entry.digest).await?;
                Err(e)
            }
        }
    }

    /// Takes `name` out of the lock, and its stored tree with it.
    pub async fn remove(&self, name: &ModuleName) -> Result<LockedSkill, SkillError> {
        let removed = self
            .change(|lock| {
                lock.skills
                    .remove(name)
                    .ok_or_else(|| SkillError::NotLocked { name: name.clone() })
            })
            .await?;
        self.forget_tree_if_unused(removed.digest).await?;
        Ok(removed)
    }

    /// The stored files of `locked`, if their digest is still the locked one.
    pub async fn load(&self, locked: &LockedSkill) -> Result<SkillTree, SkillError> {
        let name = locked.name.clone();
        let Some(stored) = self.scope.get(&tree_key(locked.digest)?).await? else {
            return Err(SkillError::Missing {
                name,
                locked: locked.digest,
            });
        };
        // A stored tree that no longer reads is a changed one too.
        let found = SkillTree::from_tar(stored.value.as_slice()).map(|tree| (tree.digest(), tree));
        match found {
            Ok((digest, tree)) if digest == locked.digest => Ok(tree),
            Ok((found, _)) => Err(SkillError::Changed {
                name,
                locked: locked.digest,
                found,
            }),
            Err(_) => Err(SkillError::Changed {
                name,
                locked: locked.digest,
                found: crate::package::sha256(&stored.value),
            }),
        }
    }

    /// Writes every locked skill whose stored files still have the locked
    /// digest into `dir/<name>/` (`dir` must exist and be empty); each other
    /// one is left out and returned with why.
    pub async fn stage(&self, dir: &Path) -> Result<StagedSkills, SkillError> {
        let mut staged = StagedSkills::default();
        for locked in self.list().await? {
            match self.load(&locked).await {
                Ok(tree) => {
                    let target = dir.join(locked.name.as_str());
                    std::fs::create_dir(&target)
                        .and_then(|()| tree::write_into(&tree, &target))
                        .map_err(|source| SkillError::Stage {
                            path: target.display().to_string(),
                            source,
                        })?;
                    staged.written.push(locked);
                }
                Err(e) => staged
                    .refused
                    .push((locked.name.clone(), Some(locked.digest), e)),
            }
        }
        Ok(staged)
    }

    async fn read(&self) -> Result<LockFile, SkillError> {
        match self.scope.get(&key(LOCK)?).await? {
            Some(stored) => parse_lock(Some(&stored.value)),
            None => Ok(LockFile::default()),
        }
    }

    async fn change<T>(
        &self,
        mut step: impl FnMut(&mut LockFile) -> Result<T, SkillError>,
    ) -> Result<T, SkillError> {
        self.scope
            .modify(&key(LOCK)?, |current| {
                let mut lock = parse_lock(current)?;
                let output = step(&mut lock)?;
                let bytes =
                    serde_json::to_vec_pretty(&lock).map_err(|e| SkillError::LockUnreadable {
                        detail: e.to_string(),
                    })?;
                Ok(Modification::Write(bytes, output))
            })
            .await
    }

    /// Deletes a stored tree no entry names (not atomic with the lock; a
    /// race leaves a locked skill whose tree is missing, which is refused).
    async fn forget_tree_if_unused(&self, digest: Digest) -> Result<(), SkillError> {
        let lock = self.read().await?;
        if lock.skills.values().all(|entry| entry.digest != digest) {
            self.scope.delete(&tree_key(digest)?).await?;
        }
        Ok(())
    }
}

fn entry(skill: &Skill, source: &str, now: DateTime<Utc>) -> LockedSkill {
    LockedSkill {
        name: skill.name.clone(),
        digest: skill.digest(),
        source: source.chars().take(1024).collect(),
        files: skill
            .tree
            .files()
            .iter()
            .map(|(path, file)| (path.to_string(), file.bytes.len() as u64, file.executable))
            .collect(),
        scripts: skill.scripts().iter().map(ToString::to_string).collect(),
        install: skill.front_matter.install.clone(),
        requirements: skill.front_matter.requirements.clone(),
        accepted_at: now.trunc_subsecs(0),
    }
}

fn parse_lock(bytes: Option<&[u8]>) -> Result<LockFile, SkillError> {
    match bytes {
        None => Ok(LockFile::default()),
        Some(bytes) => serde_json::from_slice(bytes).map_err(|e| SkillError::LockUnreadable {
            detail: e.to_string(),
        }),
    }
}

fn key(text: &str) -> Result<ObjectKey, SkillError> {
    ObjectKey::parse(text).map_err(|e| SkillError::Store(StorageError::from(e)))
}

fn tree_key(digest: Digest) -> Result<ObjectKey, SkillError> {
    key(&format!("{TREES}/{}.tar", digest.hex()))
}
