//! OpenClaw's skills for the workload's shell: the locked skills written
//! into a directory of hardshell's own, each checked against its digest
//! again, and bound read-only over OpenClaw's managed skills directory;
//! an empty read-only directory over its workspace's skill directories.
//! A skill whose stored files no longer match the lock is left out, logged
//! and audited; a skill not in the lock is not there at all.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use anyhow::Context as _;
use hardshell_audit::event::ModuleRefused;
use hardshell_audit::{AuditEvent, AuditLog};
use hardshell_config::Workload as WorkloadConfig;
use hardshell_config::advisories::{Verdict, openclaw_verdict};
use hardshell_modules::skills::Skills;
use hardshell_shells::policy::{OPENCLAW_SKILL_DIRS, SkillBinds};
use hardshell_storage::{ObjectKey, Store};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use crate::wiring::agent_shell::fresh_dir;

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
    // Whatever an earlier start left there was the edge's, never the
    // workload's (its shell saw them read-only): made again from the lock.
    let dir = home.join("openclaw-skills");
    fresh_dir(&dir, 0o755)?;
    let empty = home.join("openclaw-no-skills");
    fresh_dir(&empty, 0o555)?;
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

/// Makes `state/relative` a real directory, each component from `state`
/// down: the state is the workload's, and a symlink it left at a mount
/// point's path would have the read-only bind land where it chose (and
/// leave the path it pointed away from writable). A symlink, file or FIFO
/// there is removed; a missing directory is made, owned by the shell's ids
/// (the workspace is OpenClaw's to write).
///
/// No path below `state` is looked up as a string: each step is an
/// `openat` of one name in the directory opened before it, never through a
/// link, and what is made or removed is made or removed there. So a link
/// swapped in between two steps is refused, not followed, whenever it is
/// planted.
fn mount_point(state: &Path, relative: &str, owner: (u32, u32)) -> io::Result<()> {
    let mut dir = rustix::fs::open(state, DIRECTORY, Mode::empty())?;
    for name in relative.split('/') {
        dir = match rustix::fs::openat(&dir, name, DIRECTORY, Mode::empty()) {
            Ok(next) => next,
            Err(Errno::NOENT) => make_dir_at(&dir, name, owner)?,
            // O_NOFOLLOW on a link, O_DIRECTORY on anything else: neither
            // opened, so a FIFO cannot hold the start either.
            Err(Errno::LOOP | Errno::NOTDIR) => {
                tracing::warn!(
                    path = %state.join(relative).display(),
                    at = name,
                    "the workload left a symlink or file where its skills are bound; removed"
                );
                rustix::fs::unlinkat(&dir, name, AtFlags::empty())?;
                make_dir_at(&dir, name, owner)?
            }
            Err(e) => return Err(e.into()),
        };
    }
    Ok(())
}

/// Opened as a directory of its own, never through a final symlink.
const DIRECTORY: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// `name` made in `parent`, mode 0755 whatever the umask, owned by `owner`;
/// opened as [`mount_point`] opens every step (if anything took the name in
/// between, it is refused).
fn make_dir_at(parent: &OwnedFd, name: &str, (uid, gid): (u32, u32)) -> io::Result<OwnedFd> {
    rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o755))?;
    let made = rustix::fs::openat(parent, name, DIRECTORY, Mode::empty())?;
    rustix::fs::fchmod(&made, Mode::from_raw_mode(0o755))?;
    rustix::fs::fchown(
        &made,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
    )?;
    Ok(made)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_symlink_file_or_fifo_at_a_mount_point_becomes_a_directory() {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        let state = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("kept"), b"x").unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), state.path().join("skills")).unwrap();
        std::fs::create_dir(state.path().join("workspace")).unwrap();
        std::fs::write(state.path().join("workspace/notes.md"), b"mine").unwrap();
        std::fs::write(state.path().join("workspace/skills"), b"x").unwrap();
        // A FIFO would hold an open of it for a writer forever.
        rustix::fs::mknodat(
            rustix::fs::CWD,
            state.path().join("workspace/.agents"),
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
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
            assert_eq!((meta.uid(), meta.gid()), ids, "{relative}");
            assert_eq!(meta.permissions().mode() & 0o7777, 0o755, "{relative}");
        }
        // What the link pointed at is untouched, and so is what the
        // workload keeps in a directory that was one already.
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 1);
        assert_eq!(
            std::fs::read(state.path().join("workspace/notes.md")).unwrap(),
            b"mine"
        );
    }

    #[test]
    fn a_linked_workspace_is_replaced_not_followed() {
        let state = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), state.path().join("workspace")).unwrap();
        for relative in OPENCLAW_SKILL_DIRS {
            mount_point(state.path(), relative, own_ids()).unwrap();
        }
        assert!(
            std::fs::symlink_metadata(state.path().join("workspace"))
                .unwrap()
                .is_dir()
        );
        // Nothing was made through the link.
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }

    /// This process's ids: those of a file it creates.
    fn own_ids() -> (u32, u32) {
        use std::os::unix::fs::MetadataExt as _;
        let probe = tempfile::NamedTempFile::new().unwrap();
        let meta = probe.as_file().metadata().unwrap();
        (meta.uid(), meta.gid())
    }
}
