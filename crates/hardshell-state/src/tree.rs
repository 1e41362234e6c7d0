//! Reading the state directory the workload writes, which is hostile input.
//!
//! Everything goes through directory file descriptors: each step opens one
//! name (as `readdir` gave it, so it holds no `/`) relative to its parent with
//! `O_NOFOLLOW`, and every entry is classified by `fstatat(AT_SYMLINK_NOFOLLOW)`.
//! A symlink is recorded as a symlink and never followed, even when the
//! workload swaps a directory for one mid-scan (the open then fails with
//! `ELOOP`/`ENOTDIR`, and the scan is retried). Fifos, devices and sockets are
//! skipped and counted; they are opened never, so a fifo cannot block a read.

use std::io::Read as _;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::error::{read_error, shown};
use crate::manifest::Kind;
use crate::{Limits, StateError};

/// Deepest nesting followed; each level holds one descriptor while it is read.
pub(crate) const MAX_DEPTH: usize = 64;

/// The state directory, opened once by the caller's (trusted) path.
#[derive(Debug)]
pub(crate) struct Root {
    pub(crate) fd: OwnedFd,
}

/// What identifies one version of a file without reading it. `ctime` changes
/// with every write and cannot be set back by the writer, so a matching stamp
/// means unchanged content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    fn of(stat: &Stat) -> Self {
        #[allow(clippy::unnecessary_cast)] // the field types differ between architectures
        Stamp {
            dev: stat.st_dev as u64,
            ino: stat.st_ino as u64,
            size: u64::try_from(stat.st_size).unwrap_or(0),
            mtime: (stat.st_mtime as i64, stat.st_mtime_nsec as i64),
            ctime: (stat.st_ctime as i64, stat.st_ctime_nsec as i64),
        }
    }
}

/// One entry as the scan found it.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub size: u64,
    pub stamp: Stamp,
    pub target: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Sorted by path: a directory comes before what it holds.
    pub found: Vec<Found>,
    /// Fifos, sockets and devices, never recorded.
    pub skipped_special: usize,
    /// Names (or symlink targets) that are not UTF-8, which the manifest cannot hold.
    pub skipped_names: usize,
}

impl Root {
    /// Opens `dir`; `Ok(None)` when it does not exist.
    pub(crate) fn open(dir: &Path) -> Result<Option<Root>, StateError> {
        match rustix::fs::openat(CWD, dir, dir_flags(), Mode::empty()) {
            Ok(fd) => Ok(Some(Root { fd })),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(StateError::OpenDir {
                dir: dir.to_owned(),
                source: e.into(),
            }),
        }
    }

    /// Every entry under the root, without reading any file, within `limits`.
    pub(crate) fn scan(&self, limits: &Limits) -> Result<Scan, StateError> {
        let mut scan = Scan::default();
        let mut total = 0u64;
        let skip = self.is_volume_own("lost+found")?;
        walk(&self.fd, "", 0, limits, &mut scan, &mut total, skip)?;
        scan.found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(scan)
    }

    /// Whether the directory holds nothing at all (a volume's own
    /// `lost+found` aside).
    pub(crate) fn is_empty(&self) -> Result<bool, StateError> {
        for name in names(&self.fd, "")? {
            match name {
                Ok(name) if self.is_volume_own(&name)? => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Whether root-level `name` is the ext4 volume's `lost+found` (the state
    /// directory is a volume's root): a directory of host root's, which
    /// e2fsck makes and files it recovers go into. It is not state: never
    /// synced, never cleared, not counted as content. The workload cannot
    /// make one: its shell never runs as host root (an edge run as root
    /// gives shells other ids), so one it makes is its own and is synced.
    pub(crate) fn is_volume_own(&self, name: &str) -> Result<bool, StateError> {
        if name != "lost+found" {
            return Ok(false);
        }
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(
                FileType::from_raw_mode(stat.st_mode) == FileType::Directory && stat.st_uid == 0
            ),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(read_error(name, e)),
        }
    }

    /// A file's content, if it still is the version `expected` describes:
    /// `Ok(None)` when it changed before or while it was read, so no torn
    /// mixture of two versions is ever returned.
    pub(crate) fn read_file(
        &self,
        path: &str,
        expected: &Stamp,
    ) -> Result<Option<Vec<u8>>, StateError> {
        let (parent, name) = match self.parent(path) {
            Ok(found) => found,
            Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR) => return Ok(None),
            Err(e) => return Err(read_error(path, e)),
        };
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&parent, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::LOOP | Errno::NXIO) => return Ok(None),
            Err(e) => return Err(read_error(path, e)),
        };
        let before = rustix::fs::fstat(&fd).map_err(|e| read_error(path, e))?;
        if FileType::from_raw_mode(before.st_mode) != FileType::RegularFile
            || Stamp::of(&before) != *expected
        {
            return Ok(None);
        }
        let mut content = Vec::new();
        let mut file = std::fs::File::from(fd);
        (&mut file)
            .take(expected.size.saturating_add(1))
            .read_to_end(&mut content)
            .map_err(|e| StateError::Read {
                path: shown(path),
                source: e,
            })?;
        let after = rustix::fs::fstat(&file).map_err(|e| read_error(path, e))?;
        if Stamp::of(&after) != *expected || content.len() as u64 != expected.size {
            return Ok(None);
        }
        Ok(Some(content))
    }

    /// A regular file's stamp now; `Ok(None)` when it is gone or no longer a file.
    pub(crate) fn stat_file(&self, path: &str) -> Result<Option<Stamp>, StateError> {
        let (parent, name) = match self.parent(path) {
            Ok(found) => found,
            Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR) => return Ok(None),
            Err(e) => return Err(read_error(path, e)),
        };
        match rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile => {
                Ok(Some(Stamp::of(&stat)))
            }
            Ok(_) | Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(read_error(path, e)),
        }
    }

    /// The directory holding `path` and its last component, opened one plain
    /// component at a time without following anything.
    pub(crate) fn parent<'p>(&self, path: &'p str) -> Result<(OwnedFd, &'p str), Errno> {
        let (dirs, name) = match path.rsplit_once('/') {
            Some((dirs, name)) => (Some(dirs), name),
            None => (None, path),
        };
        let mut current = rustix::io::dup(&self.fd)?;
        for component in dirs.into_iter().flat_map(|d| d.split('/')) {
            current = rustix::fs::openat(&current, component, dir_flags(), Mode::empty())?;
        }
        Ok((current, name))
    }
}

pub(crate) fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// The names in a directory, `.` and `..` left out; non-UTF-8 names as `Err`.
pub(crate) fn names(dir: &OwnedFd, path: &str) -> Result<Vec<Result<String, ()>>, StateError> {
    let mut listing = rustix::fs::Dir::read_from(dir).map_err(|e| read_error(path, e))?;
    let mut names = Vec::new();
    while let Some(entry) = listing.read() {
        let entry = entry.map_err(|e| read_error(path, e))?;
        let bytes = entry.file_name().to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        names.push(
            std::str::from_utf8(bytes)
                .map(str::to_owned)
                .map_err(|_| ()),
        );
    }
    Ok(names)
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

fn walk(
    dir: &OwnedFd,
    prefix: &str,
    depth: usize,
    limits: &Limits,
    scan: &mut Scan,
    total: &mut u64,
    skip_lost_found: bool,
) -> Result<(), StateError> {
    if depth >= MAX_DEPTH {
        return Err(StateError::TooDeep {
            path: shown(prefix),
            limit: MAX_DEPTH,
        });
    }
    for name in names(dir, prefix)? {
        let Ok(name) = name else {
            scan.skipped_names += 1;
            continue;
        };
        // The volume's own `lost+found` (see `Root::is_volume_own`), only
        // ever at the root.
        if skip_lost_found && depth == 0 && name == "lost+found" {
            continue;
        }
        let path = join(prefix, &name);
        let stat = match rustix::fs::statat(dir.as_fd(), name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            // Removed since it was listed: it is simply not part of this scan.
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(read_error(&path, e)),
        };
        let stamp = Stamp::of(&stat);
        let mode = stat.st_mode & 0o777;
        let (kind, size, target) = match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => {
                if stamp.size > limits.max_file_bytes {
                    return Err(StateError::FileTooLarge {
                        path: shown(&path),
                        size: stamp.size,
                        limit: limits.max_file_bytes,
                    });
                }
                *total = total.saturating_add(stamp.size);
                if *total > limits.max_total_bytes {
                    return Err(StateError::TooLarge {
                        limit: limits.max_total_bytes,
                    });
                }
                (Kind::File, stamp.size, None)
            }
            FileType::Directory => (Kind::Dir, 0, None),
            FileType::Symlink => {
                match rustix::fs::readlinkat(dir.as_fd(), name.as_str(), Vec::new()) {
                    Ok(target) => match target.into_string() {
                        Ok(target) => (Kind::Symlink, 0, Some(target)),
                        Err(_) => {
                            scan.skipped_names += 1;
                            continue;
                        }
                    },
                    Err(Errno::NOENT) => continue,
                    // Swapped for something else since the stat: look again next time.
                    Err(Errno::INVAL) => return Err(StateError::Unsettled { path: shown(&path) }),
                    Err(e) => return Err(read_error(&path, e)),
                }
            }
            _ => {
                scan.skipped_special += 1;
                continue;
            }
        };
        scan.found.push(Found {
            path: path.clone(),
            kind,
            mode,
            size,
            stamp,
            target,
        });
        if scan.found.len() > limits.max_files {
            return Err(StateError::TooManyFiles {
                limit: limits.max_files,
            });
        }
        if kind == Kind::Dir {
            let child = match rustix::fs::openat(dir, name.as_str(), dir_flags(), Mode::empty()) {
                Ok(child) => child,
                Err(Errno::NOENT) => continue,
                // A directory swapped for a symlink or file after its stat.
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    return Err(StateError::Unsettled { path: shown(&path) });
                }
                Err(e) => return Err(read_error(&path, e)),
            };
            walk(&child, &path, depth + 1, limits, scan, total, false)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn root_with(files: &[(&str, &[u8])]) -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        let root = Root::open(dir.path()).unwrap().unwrap();
        (dir, root)
    }

    #[test]
    fn a_file_that_changed_since_its_scan_is_not_returned() {
        let (dir, root) = root_with(&[("log", b"first line\n")]);
        let scan = root.scan(&Limits::default()).unwrap();
        let stamp = scan.found[0].stamp;
        assert_eq!(
            root.read_file("log", &stamp).unwrap().unwrap(),
            b"first line\n"
        );

        // Appended after the scan: the old stamp no longer describes it, so
        // neither the old nor a mixed content is returned under it.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("log"))
            .unwrap();
        std::io::Write::write_all(&mut file, b"second line\n").unwrap();
        assert_eq!(root.read_file("log", &stamp).unwrap(), None);
        let fresh = root.stat_file("log").unwrap().unwrap();
        assert_eq!(
            root.read_file("log", &fresh).unwrap().unwrap(),
            b"first line\nsecond line\n"
        );
    }

    #[test]
    fn a_file_swapped_for_a_symlink_is_not_read_through_it() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"outside").unwrap();
        let (dir, root) = root_with(&[("f", b"inside!")]);
        let stamp = root.scan(&Limits::default()).unwrap().found[0].stamp;
        std::fs::remove_file(dir.path().join("f")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("f")).unwrap();
        assert_eq!(root.read_file("f", &stamp).unwrap(), None);
        assert_eq!(root.stat_file("f").unwrap(), None);
    }

    /// The state directory is an ext4 volume's root: its `lost+found` (host
    /// root's) is not state; one the workload made (its own ids) is. Needs
    /// root, as the edge does, to tell them apart by owner.
    #[test]
    fn the_volume_own_lost_and_found_is_not_state_but_the_workload_one_is() {
        assert_eq!(
            rustix::process::geteuid().as_raw(),
            0,
            "run as root, as the edge is: the test tells directories apart by owner"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("lost+found")).unwrap();
        std::fs::write(dir.path().join("lost+found/#12"), b"recovered").unwrap();
        let root = Root::open(dir.path()).unwrap().unwrap();
        assert!(root.is_empty().unwrap());
        assert!(root.scan(&Limits::default()).unwrap().found.is_empty());
        crate::write::clear(&root).unwrap();
        assert!(dir.path().join("lost+found/#12").exists());

        // Nested, it is the workload's whoever owns it.
        std::fs::create_dir_all(dir.path().join("sub/lost+found")).unwrap();
        let paths: Vec<String> = root
            .scan(&Limits::default())
            .unwrap()
            .found
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(paths, ["sub", "sub/lost+found"]);
        std::fs::remove_dir_all(dir.path().join("sub")).unwrap();

        // Made by the workload (its own ids): state like any other directory.
        std::os::unix::fs::chown(dir.path().join("lost+found"), Some(100_000), None).unwrap();
        assert!(!root.is_empty().unwrap());
        let found = root.scan(&Limits::default()).unwrap().found;
        assert_eq!(found[0].path, "lost+found");
        crate::write::clear(&root).unwrap();
        assert!(!dir.path().join("lost+found").exists());
    }

    #[test]
    fn a_directory_swapped_for_a_symlink_is_not_entered() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"outside").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/secret"), b"inside!").unwrap();
        let root = Root::open(dir.path()).unwrap().unwrap();
        let stamp = root.scan(&Limits::default()).unwrap().found[1].stamp;
        std::fs::rename(dir.path().join("sub"), dir.path().join("gone")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("sub")).unwrap();
        assert_eq!(root.read_file("sub/secret", &stamp).unwrap(), None);
        assert!(root.parent("sub/secret").is_err());
    }
}
