//! The filesystem calls of unpacking, all relative to a directory descriptor
//! and none following a symlink. This is the openat-style resolution the image
//! store relies on: a path is never resolved as a string, so a symlink planted by
//! one layer cannot redirect a write of a later one outside (or inside) the root.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{
    AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat, chownat, fchmod, mkdirat, openat, openat2,
    statat, unlinkat,
};

/// Owner ids every unpacked entry is given: the shell's host uid and gid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    /// The ids of the calling process.
    pub fn current() -> Self {
        Self {
            uid: rustix::process::getuid().as_raw(),
            gid: rustix::process::getgid().as_raw(),
        }
    }
}

/// How a single path component can fail to be a real directory.
#[derive(Debug)]
pub(crate) enum StepError {
    /// A symlink where a directory was needed.
    Symlink,
    /// Something other than a directory.
    NotDirectory,
    Io(io::Error),
}

/// Opens `name` (one component) in `dir` as a directory, refusing a symlink or
/// anything else, and never leaving `dir`. Two barriers, each enough alone
/// (tests fail only when both go): `O_NOFOLLOW` on the one component, and
/// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, which do in the kernel what no string
/// check on a path can.
pub(crate) fn open_dir(dir: impl AsFd, name: &str) -> Result<OwnedFd, StepError> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    match openat2(&dir, name, flags, Mode::empty(), resolve) {
        Ok(fd) => Ok(fd),
        Err(rustix::io::Errno::LOOP) => Err(StepError::Symlink),
        Err(rustix::io::Errno::NOTDIR) => {
            // O_NOFOLLOW on a symlink says ENOTDIR with O_DIRECTORY: tell them apart.
            match lstat(&dir, name) {
                Ok(Some(st)) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                    Err(StepError::Symlink)
                }
                _ => Err(StepError::NotDirectory),
            }
        }
        Err(e) => Err(StepError::Io(e.into())),
    }
}

/// Opens or creates (mode 0700, given owner) the directory `name` in `dir`.
pub(crate) fn ensure_dir(dir: impl AsFd, name: &str, owner: Owner) -> Result<OwnedFd, StepError> {
    match open_dir(&dir, name) {
        Err(StepError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
            mkdirat(&dir, name, Mode::from_raw_mode(0o700)).map_err(|e| StepError::Io(e.into()))?;
            chown(&dir, name, owner).map_err(StepError::Io)?;
            open_dir(&dir, name)
        }
        other => other,
    }
}

/// `lstat` relative to `dir`; `None` if nothing is there.
pub(crate) fn lstat(dir: impl AsFd, name: &str) -> io::Result<Option<Stat>> {
    match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// Sets owner without following a symlink (a symlink's own owner is set).
pub(crate) fn chown(dir: impl AsFd, name: &str, owner: Owner) -> io::Result<()> {
    chownat(
        dir,
        name,
        Some(rustix::fs::Uid::from_raw(owner.uid)),
        Some(rustix::fs::Gid::from_raw(owner.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(Into::into)
}

/// Removes whatever is at `name` in `dir`: a file or symlink is unlinked, a
/// directory is emptied depth-first through descriptors (never a symlink's
/// target) and removed.
pub(crate) fn remove_any(dir: impl AsFd, name: &str) -> io::Result<()> {
    let Some(st) = lstat(&dir, name)? else {
        return Ok(());
    };
    if file_type(&st) == FileType::Directory {
        let child = match open_dir(&dir, name) {
            Ok(fd) => fd,
            Err(StepError::Io(e)) => return Err(e),
            Err(_) => return Err(io::Error::other("directory changed while removing it")),
        };
        // Unpacked directories are made read-only; removal needs write.
        fchmod(&child, Mode::from_raw_mode(0o700))?;
        for name in list(&child)? {
            remove_any(&child, &name)?;
        }
        unlinkat(&dir, name, AtFlags::REMOVEDIR)?;
    } else {
        unlinkat(&dir, name, AtFlags::empty())?;
    }
    Ok(())
}

/// The names in a directory (not `.`/`..`), sorted. Names that are not UTF-8
/// cannot have been written by the unpacker and are reported as an error.
pub(crate) fn list(dir: impl AsFd) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(&dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let name = std::str::from_utf8(name)
            .map_err(|_| io::Error::other("a file name that is not UTF-8"))?;
        names.push(name.to_owned());
    }
    names.sort();
    Ok(names)
}

/// Opens a regular file for reading without following a symlink.
pub(crate) fn open_file(dir: impl AsFd, name: &str) -> io::Result<std::fs::File> {
    let fd = openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(std::fs::File::from(fd))
}

/// Creates a new file (never reusing or following what is there).
pub(crate) fn create_file(dir: impl AsFd, name: &str) -> io::Result<std::fs::File> {
    let fd = openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    Ok(std::fs::File::from(fd))
}
