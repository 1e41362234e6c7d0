//! OpenClaw's skills for the workload's shell: the locked skills written
//! into a directory of hardshell's own, each checked against its digest
//! again, and bound read-only over OpenClaw's managed skills directory;
//! an empty read-only directory over its workspace's skill directories.
//! A skill whose stored files no longer match the lock is left out, logged
//! and audited; a skill not in the lock is not there at all.

use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use hardshell_audit::event::ModuleRefused;
use hardshell_audit::{AuditEvent, AuditLog};
use hardshell_config::Workload as WorkloadConfig;
use hardshell_config::advisories::{Verdict, openclaw_verdict};
use hardshell_modules::skills::Skills;
use hardshell_shells::policy::{OPENCLAW_SKILL_DIRS, SkillBinds};
use hardshell_storage::{ObjectKey, Store};

/// The name OpenClaw's state directory has (`~/.openclaw`).
const OPENCLAW_STATE_DIR_NAME: &str = ".openclaw";

/// The skills' binds for the workload, when it is OpenClaw (by its image's
/// name, or its state directory's) or the owner locked any skill; `None`
/// otherwise. `home` is the workload's own directory on the host (root's),
/// `state` its state directory there and `inside` in its shell, `ids` the
/// shell's host ids.
pub async fn prepare(
    config: &WorkloadConfig,
    store: &Store,
    home: &Path,
    (state, inside): (&Path, &Path),
    ids: (u32, u32),
    audit: &AuditLog,
) -> anyhow::Result<Option<SkillBinds>> {
    let skills = Skills::new(store.root().scope(&ObjectKey::parse("modules")?)?);
    let locked = skills.list().await?;
    let openclaw = openclaw_verdict(&config.image) != Verdict::NotOpenClaw
        || inside.file_name() == Some(std::ffi::OsStr::new(OPENCLAW_STATE_DIR_NAME));
    if locked.is_empty() && !openclaw {
        return Ok(None);
    }
    let dir = fresh_dir(&home.join("openclaw-skills"), 0o755)?;
    let empty = fresh_dir(&home.join("openclaw-no-skills"), 0o555)?;
    let staged = skills
        .stage(&dir)
        .await
        .context("writing the locked OpenClaw skills for the workload")?;
    for (name, digest, error) in &staged.refused {
        tracing::error!(skill = %name, error = %error, "an OpenClaw skill is left out of the workload");
        if let Some(reason) = error.refusal() {
            audit.note(AuditEvent::ModuleRefused(ModuleRefused {
                module: Some(name.clone()),
                package: *digest,
                reason,
                actor: None,
            }));
        }
    }
    for relative in OPENCLAW_SKILL_DIRS {
        mount_point(state, relative, ids)
            .with_context(|| format!("making {relative} in the workload's state a directory"))?;
    }
    tracing::info!(
        skills = staged.written.len(),
        refused = staged.refused.len(),
        "OpenClaw skills ready, read-only"
    );
    Ok(Some(SkillBinds {
        locked: dir.canonicalize()?,
        empty: empty.canonicalize()?,
    }))
}

/// `path` as a new, empty directory of the edge's user: whatever an earlier
/// start left there is removed first (it was hardshell's, never the
/// workload's: the shell saw it read-only).
fn fresh_dir(path: &Path, mode: u32) -> anyhow::Result<PathBuf> {
    match std::fs::symlink_metadata(path) {
        // Its folders are 0755 (the empty one 0555, and empty): the edge's
        // user may remove them.
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
    .with_context(|| format!("clearing {}", path.display()))?;
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    Ok(path.to_path_buf())
}

/// Makes `state/relative` a real directory, each component from `state`
/// down: the state is the workload's, and a symlink it left at a mount
/// point's path would have the read-only bind land where it chose (and
/// leave the path it pointed away from writable). A symlink or file there
/// is removed; a missing directory is made, owned by the shell's ids (the
/// workspace is OpenClaw's to write).
fn mount_point(state: &Path, relative: &str, (uid, gid): (u32, u32)) -> io::Result<()> {
    let mut at = state.to_path_buf();
    for component in relative.split('/') {
        at.push(component);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => {
                tracing::warn!(
                    path = %at.display(),
                    "the workload left a symlink or file where its skills are bound; removed"
                );
                std::fs::remove_file(&at)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::DirBuilder::new().mode(0o755).create(&at)?;
        std::os::unix::fs::lchown(&at, Some(uid), Some(gid))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_symlink_or_file_at_a_mount_point_becomes_a_directory() {
        let state = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), state.path().join("skills")).unwrap();
        std::fs::create_dir(state.path().join("workspace")).unwrap();
        std::fs::write(state.path().join("workspace/skills"), b"x").unwrap();
        let ids = own_ids();
        for relative in OPENCLAW_SKILL_DIRS {
            mount_point(state.path(), relative, ids).unwrap();
        }
        for relative in OPENCLAW_SKILL_DIRS {
            let meta = std::fs::symlink_metadata(state.path().join(relative)).unwrap();
            assert!(
                meta.is_dir() && !meta.file_type().is_symlink(),
                "{relative}"
            );
        }
        // What the link pointed at is untouched.
        assert!(elsewhere.path().exists());
    }

    /// This process's ids: those of a file it creates.
    fn own_ids() -> (u32, u32) {
        use std::os::unix::fs::MetadataExt as _;
        let probe = tempfile::NamedTempFile::new().unwrap();
        let meta = probe.as_file().metadata().unwrap();
        (meta.uid(), meta.gid())
    }
}
