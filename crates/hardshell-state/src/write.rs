//! Writing a generation into the local state directory, before the workload
//! runs. The same rules as reading: one plain component at a time through
//! directory descriptors, `O_NOFOLLOW`, `O_EXCL` for every file (so nothing is
//! ever written through a planted symlink), ownership set on the descriptor to
//! the shell's ids, permission bits only (set-id and sticky bits dropped).

use std::io::Write as _;
use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;

use crate::error::write_error;
use crate::manifest::{Entry, Kind};
use crate::tree::{MAX_DEPTH, Root, dir_flags, names};
use crate::{Owner, StateError};

/// Removes everything inside the root (never the root itself), following nothing.
/// The volume's own `lost+found` is not state, and stays.
pub(crate) fn clear(root: &Root) -> Result<(), StateError> {
    let keep = root.is_volume_own("lost+found")?.then_some("lost+found");
    clear_dir(&root.fd, "", 0, keep)
}

fn clear_dir(
    dir: &OwnedFd,
    prefix: &str,
    depth: usize,
    keep: Option<&str>,
) -> Result<(), StateError> {
    if depth >= MAX_DEPTH {
        return Err(StateError::TooDeep {
            path: prefix.to_owned(),
            limit: MAX_DEPTH,
        });
    }
    for name in names(dir, prefix)? {
        // A name that is not UTF-8 was never uploaded (the manifest holds
        // text), so it is left where it is rather than lost.
        let Ok(name) = name else {
            continue;
        };
        if keep == Some(name.as_str()) {
            continue;
        }
        let path = format!("{prefix}/{name}");
        let stat = match rustix::fs::statat(dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(write_error(&path, e)),
        };
        if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
            let child = rustix::fs::openat(dir, name.as_str(), dir_flags(), Mode::empty())
                .map_err(|e| write_error(&path, e))?;
            clear_dir(&child, &path, depth + 1, None)?;
            rustix::fs::unlinkat(dir, name.as_str(), AtFlags::REMOVEDIR)
                .map_err(|e| write_error(&path, e))?;
        } else {
            rustix::fs::unlinkat(dir, name.as_str(), AtFlags::empty())
                .map_err(|e| write_error(&path, e))?;
        }
    }
    Ok(())
}

/// Writes one entry; its parent directories exist already (entries come
/// sorted, a directory before its content). `content` is a file's verified bytes.
pub(crate) fn write_entry(
    root: &Root,
    entry: &Entry,
    content: Option<&[u8]>,
    owner: Owner,
) -> Result<(), StateError> {
    let path = entry.path.as_str();
    if path.split('/').count() > MAX_DEPTH {
        return Err(StateError::TooDeep {
            path: path.to_owned(),
            limit: MAX_DEPTH,
        });
    }
    let (parent, name) = root.parent(path).map_err(|e| write_error(path, e))?;
    let uid = Some(Uid::from_raw(owner.uid));
    let gid = Some(Gid::from_raw(owner.gid));
    let mode = Mode::from_raw_mode(entry.mode & 0o777);
    match entry.kind {
        Kind::File => {
            let flags =
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(&parent, name, flags, Mode::from_raw_mode(0o600))
                .map_err(|e| write_error(path, e))?;
            rustix::fs::fchown(&fd, uid, gid).map_err(|e| write_error(path, e))?;
            let mut file = std::fs::File::from(fd);
            file.write_all(content.unwrap_or_default())
                .map_err(|e| write_error(path, e))?;
            file.sync_all().map_err(|e| write_error(path, e))?;
            rustix::fs::fchmod(&file, mode).map_err(|e| write_error(path, e))?;
        }
        Kind::Dir => {
            rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o700))
                .map_err(|e| write_error(path, e))?;
            let fd = rustix::fs::openat(&parent, name, dir_flags(), Mode::empty())
                .map_err(|e| write_error(path, e))?;
            rustix::fs::fchown(&fd, uid, gid).map_err(|e| write_error(path, e))?;
            // Its own mode is set once its content is written (see `seal_dirs`).
        }
        Kind::Symlink => {
            let target = entry.target.as_deref().unwrap_or_default();
            rustix::fs::symlinkat(target, &parent, name).map_err(|e| write_error(path, e))?;
            rustix::fs::chownat(&parent, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| write_error(path, e))?;
        }
    }
    Ok(())
}

/// Gives every restored directory its recorded permission bits, deepest first,
/// after their content is in place (a `0o500` directory could not be filled).
pub(crate) fn seal_dirs(root: &Root, entries: &[Entry]) -> Result<(), StateError> {
    for entry in entries.iter().rev().filter(|e| e.kind == Kind::Dir) {
        let path = entry.path.as_str();
        let (parent, name) = root.parent(path).map_err(|e| write_error(path, e))?;
        let fd = rustix::fs::openat(&parent, name, dir_flags(), Mode::empty())
            .map_err(|e| write_error(path, e))?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(entry.mode & 0o777))
            .map_err(|e| write_error(path, e))?;
    }
    Ok(())
}
