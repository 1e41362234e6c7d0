//! A plain workspace directory from before workspaces were volumes is moved
//! aside (`<dir>.pre-volume`, kept for its owner to remove) and copied into
//! the new volume once. A shell may have written that tree, so the copy
//! follows no symlink: directories and regular files are copied (opened with
//! `O_NOFOLLOW`), symlinks are made again as symlinks (only ever followed
//! inside a shell), and anything else (devices, fifos, sockets) is left out.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::VolumeError;

/// Deeper than any real workspace; a tree built to exhaust the stack stops here.
const MAX_DEPTH: usize = 128;

/// Which step of a migration failed, and on which path.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{} already exists", aside.display())]
    AsideTaken { aside: PathBuf },
    #[error("moving it aside: {0}")]
    MoveAside(#[source] io::Error),
    #[error("making it again: {0}")]
    MakeAgain(#[source] io::Error),
    #[error("{} is nested too deep", path.display())]
    TooDeep { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Copy {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Renames `at` to `<at>.pre-volume` and makes `at` again, empty. Refuses
/// when the aside name is taken: a migration that failed half-way is for
/// the owner to look at.
pub(super) fn move_aside(name: &str, at: &Path) -> Result<PathBuf, VolumeError> {
    use std::os::unix::fs::DirBuilderExt;
    let mut aside = at.as_os_str().to_owned();
    aside.push(".pre-volume");
    let aside = PathBuf::from(aside);
    let failed = |reason: MigrateError| VolumeError::Migrate {
        name: name.to_owned(),
        path: at.to_owned(),
        reason,
    };
    if std::fs::symlink_metadata(&aside).is_ok() {
        return Err(failed(MigrateError::AsideTaken { aside }));
    }
    std::fs::rename(at, &aside).map_err(|e| failed(MigrateError::MoveAside(e)))?;
    if let Err(e) = std::fs::DirBuilder::new().mode(0o700).create(at) {
        let _ = std::fs::rename(&aside, at);
        return Err(failed(MigrateError::MakeAgain(e)));
    }
    Ok(aside)
}

/// Copies the tree under `from` into `to` (the freshly mounted volume),
/// everything owned by `owner`.
pub(super) fn copy_tree(from: &Path, to: &Path, owner: (u32, u32)) -> Result<(), MigrateError> {
    copy_dir(from, to, owner, 0)
}

fn copy_dir(from: &Path, to: &Path, owner: (u32, u32), depth: usize) -> Result<(), MigrateError> {
    if depth > MAX_DEPTH {
        return Err(MigrateError::TooDeep {
            path: from.to_owned(),
        });
    }
    let in_from = |source: io::Error| MigrateError::Copy {
        path: from.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(from).map_err(in_from)? {
        let entry = entry.map_err(in_from)?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let failed = |e: io::Error| MigrateError::Copy {
            path: source.clone(),
            source: e,
        };
        let meta = std::fs::symlink_metadata(&source).map_err(failed)?;
        let kind = meta.file_type();
        if kind.is_dir() {
            std::fs::create_dir(&target).map_err(failed)?;
            copy_dir(&source, &target, owner, depth + 1)?;
        } else if kind.is_file() {
            let mut reader = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&source)
                .map_err(failed)?;
            let mut writer = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&target)
                .map_err(failed)?;
            io::copy(&mut reader, &mut writer).map_err(failed)?;
            writer.sync_all().map_err(failed)?;
        } else if kind.is_symlink() {
            let points_to = std::fs::read_link(&source).map_err(failed)?;
            std::os::unix::fs::symlink(points_to, &target).map_err(failed)?;
        } else {
            continue;
        }
        std::os::unix::fs::lchown(&target, Some(owner.0), Some(owner.1)).map_err(failed)?;
        if !kind.is_symlink() {
            // Permission bits only: no set-id bit survives the move.
            let mode = meta.mode() & 0o777;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
                .map_err(failed)?;
        }
    }
    Ok(())
}
