//! Files into and out of a session's workspace, by the edge (root, in the
//! host's mount namespace) on a volume that shells have written: every
//! directory, symlink, FIFO or hard link in it may have been planted to
//! turn the edge's write or read against the host.
//!
//! So nothing here resolves a path as a string. The workspace is opened
//! `O_DIRECTORY | O_NOFOLLOW` (its path is the edge's own), and every step
//! below it with `openat2` and [`RESOLVE`]: beneath the workspace, through
//! no symlink and no magic link, on the workspace's own file system. A new
//! file is made `O_CREAT | O_EXCL` (never opened if anything is at its
//! name, a FIFO included, so nothing blocks and nothing is overwritten),
//! mode 0644, owned by the shells' user like a run's own files. A file read
//! out is opened `O_NONBLOCK` (a FIFO opens at once and is then refused as
//! not a regular file) and read through a bound (it may grow while read).

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use bytes::Bytes;
use hardshell_exec::files::{FileError, INBOX, TakenFile, numbered, safe_file_name};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, openat2};
use rustix::io::Errno;

/// How every path below a workspace is resolved.
const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

/// Names tried for a deposit: the name, then `-2` up to this.
const LAST_NUMBER: u32 = 999;

/// Deposited files' mode: readable by all in the shell, executable by none.
const FILE_MODE: u32 = 0o644;

/// The inbox's mode when the edge makes it (the shells' user owns it).
const INBOX_MODE: u32 = 0o755;

/// Writes `bytes` as a new file `inbox/<name>` of the mounted `workspace`,
/// owned by `owner`; returns the name it got. A failed write leaves no file.
pub(crate) fn deposit(
    workspace: &Path,
    name: &str,
    bytes: &[u8],
    owner: (u32, u32),
) -> Result<String, FileError> {
    let root = open_workspace(workspace)?;
    let inbox = open_inbox(&root, owner)?;
    let (name, file) = create_new(&inbox, name)?;
    if let Err(e) = fill(file, bytes, owner) {
        // Ours, made with O_EXCL a moment ago: removing it removes no one
        // else's file but one a command renamed over it since, in its own
        // workspace.
        let _ = rustix::fs::unlinkat(&inbox, name.as_str(), AtFlags::empty());
        return Err(e);
    }
    Ok(name)
}

/// Reads the regular file at `path` (`/workspace/...`, as the agent's
/// commands see it) of the mounted `workspace`, at most `max_bytes`.
pub(crate) fn take(workspace: &Path, path: &str, max_bytes: u64) -> Result<TakenFile, FileError> {
    let rest = below_workspace(path)?;
    let root = open_workspace(workspace)?;
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY;
    let file = match openat2(&root, rest, flags | OFlags::CLOEXEC, Mode::empty(), RESOLVE) {
        Ok(fd) => std::fs::File::from(fd),
        Err(e) => return Err(open_refusal(e, path)),
    };
    let stat = rustix::fs::fstat(&file).map_err(io("reading the file's kind"))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(FileError::NotAFile {
            path: path.to_owned(),
        });
    }
    let size = u64::try_from(stat.st_size).unwrap_or(u64::MAX);
    if size > max_bytes {
        return Err(FileError::TooLarge {
            size,
            max: max_bytes,
        });
    }
    Ok(TakenFile {
        name: safe_file_name(rest),
        bytes: Bytes::from(read_bounded(file, size, max_bytes)?),
    })
}

/// All of `file` (`size` bytes when it was looked at), refused past
/// `max_bytes`: it may have grown since, and is never read further than one
/// byte past the bound, which shows that it did.
fn read_bounded(file: impl Read, size: u64, max_bytes: u64) -> Result<Vec<u8>, FileError> {
    let mut bytes = Vec::with_capacity(usize::try_from(size.min(max_bytes)).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| FileError::Io {
            step: "reading the file",
            source,
        })?;
    let read = bytes.len() as u64;
    if read > max_bytes {
        return Err(FileError::TooLarge {
            size: read,
            max: max_bytes,
        });
    }
    Ok(bytes)
}

/// `path` without its `/workspace/`, refused if it is elsewhere or climbs
/// out (`openat2` would refuse that too; this says so plainly).
fn below_workspace(path: &str) -> Result<&str, FileError> {
    let outside = || FileError::OutsideWorkspace {
        path: path.to_owned(),
    };
    let rest = path
        .strip_prefix(hardshell_exec::files::WORKSPACE)
        .and_then(|rest| rest.strip_prefix('/'))
        .ok_or_else(outside)?;
    if rest.split('/').any(|part| part == "..") || rest.starts_with('/') {
        return Err(FileError::LeavesWorkspace {
            path: path.to_owned(),
        });
    }
    if rest.split('/').all(|part| part.is_empty() || part == ".") {
        return Err(FileError::NotAFile {
            path: path.to_owned(),
        });
    }
    Ok(rest)
}

/// What a refused `openat2` of the agent's `path` means to the agent.
fn open_refusal(e: Errno, path: &str) -> FileError {
    let path = path.to_owned();
    match e {
        Errno::LOOP => FileError::Symlink { path },
        Errno::NOENT | Errno::NOTDIR => FileError::NotFound { path },
        Errno::XDEV => FileError::LeavesWorkspace { path },
        // A socket: nothing to read.
        Errno::NXIO => FileError::NotAFile { path },
        e => FileError::Io {
            step: "opening the file",
            source: e.into(),
        },
    }
}

/// The mounted workspace's root directory, never through a symlink.
fn open_workspace(workspace: &Path) -> Result<OwnedFd, FileError> {
    rustix::fs::open(
        workspace,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io("opening the workspace"))
}

/// `inbox` in the workspace, made (owned by `owner`) if missing; anything
/// but a directory there is refused, never followed.
fn open_inbox(root: &OwnedFd, owner: (u32, u32)) -> Result<OwnedFd, FileError> {
    let open = || {
        openat2(
            root,
            INBOX,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE,
        )
    };
    let made = match open() {
        Ok(inbox) => return Ok(inbox),
        Err(Errno::NOENT) => {
            match rustix::fs::mkdirat(root, INBOX, Mode::from_raw_mode(INBOX_MODE)) {
                // Made by a run meanwhile: opened as any other.
                Ok(()) | Err(Errno::EXIST) => open(),
                Err(e) => return Err(full_or(e, "making /workspace/inbox")),
            }
        }
        Err(e) => Err(e),
    };
    let inbox = match made {
        Ok(inbox) => inbox,
        Err(Errno::LOOP | Errno::NOTDIR) => return Err(FileError::InboxNotDirectory),
        Err(e) => return Err(io("opening /workspace/inbox")(e)),
    };
    // Whoever made it, it is the shells' to write in (a run's own would be
    // theirs already).
    own(&inbox, owner, INBOX_MODE)?;
    Ok(inbox)
}

/// A new file in `inbox` named `name`, or numbered `-2`, `-3`… if taken.
fn create_new(inbox: &OwnedFd, name: &str) -> Result<(String, std::fs::File), FileError> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    for number in 1..=LAST_NUMBER {
        let candidate = match number {
            1 => name.to_owned(),
            n => numbered(name, &format!("-{n}")),
        };
        match openat2(
            inbox,
            candidate.as_str(),
            flags,
            Mode::from_raw_mode(FILE_MODE),
            RESOLVE,
        ) {
            Ok(fd) => return Ok((candidate, std::fs::File::from(fd))),
            // Anything at the name (a file, a symlink, a FIFO): the next.
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(full_or(e, "creating the file")),
        }
    }
    Err(FileError::NamesTaken {
        name: name.to_owned(),
        last: LAST_NUMBER,
    })
}

/// Writes `bytes` into the new `file`, gives it to `owner`, mode 0644, and
/// makes it durable: a full volume shows here, as `ENOSPC`.
fn fill(mut file: std::fs::File, bytes: &[u8], owner: (u32, u32)) -> Result<(), FileError> {
    own(&file, owner, FILE_MODE)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    written.map_err(|source| match source.raw_os_error() {
        Some(code) if is_full(Errno::from_raw_os_error(code)) => FileError::WorkspaceFull,
        _ => FileError::Io {
            step: "writing the file",
            source,
        },
    })
}

/// Gives `fd` to `owner`, with `mode` exactly (the umask does not decide).
fn own(fd: impl AsFd, owner: (u32, u32), mode: u32) -> Result<(), FileError> {
    let (uid, gid) = owner;
    rustix::fs::fchown(
        &fd,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
    )
    .map_err(io("giving it to the shells' user"))?;
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(io("setting its mode"))
}

fn is_full(e: Errno) -> bool {
    matches!(e, Errno::NOSPC | Errno::DQUOT)
}

fn full_or(e: Errno, step: &'static str) -> FileError {
    if is_full(e) {
        FileError::WorkspaceFull
    } else {
        io(step)(e)
    }
}

fn io(step: &'static str) -> impl Fn(Errno) -> FileError {
    move |e| FileError::Io {
        step,
        source: e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that never ends: a file a command keeps writing.
    struct Endless;

    impl Read for Endless {
        fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
            buffer.fill(b'x');
            Ok(buffer.len())
        }
    }

    #[test]
    fn a_file_that_grows_while_it_is_read_is_refused_at_one_byte_past_the_bound() {
        // Small when looked at, endless when read: read no further than the
        // bound and one byte.
        let error = read_bounded(Endless, 10, 4096).unwrap_err();
        assert!(
            matches!(
                error,
                FileError::TooLarge {
                    size: 4097,
                    max: 4096
                }
            ),
            "{error}"
        );
        // What is within the bound is read whole, at exactly the bound too.
        assert_eq!(read_bounded(&b"abc"[..], 3, 3).unwrap(), b"abc");
        assert_eq!(read_bounded(&b""[..], 0, 0).unwrap(), b"");
        assert!(read_bounded(&b"a"[..], 0, 0).is_err());
    }

    #[test]
    fn only_paths_under_the_workspace_that_stay_there_are_looked_up() {
        assert_eq!(below_workspace("/workspace/a/b.txt").ok(), Some("a/b.txt"));
        assert_eq!(below_workspace("/workspace/./b").ok(), Some("./b"));
        for outside in [
            "/etc/passwd",
            "workspace/a",
            "/workspaces/a",
            "/workspace",
            "",
        ] {
            assert!(
                matches!(
                    below_workspace(outside),
                    Err(FileError::OutsideWorkspace { .. })
                ),
                "{outside:?}"
            );
        }
        for climbing in [
            "/workspace/../etc/passwd",
            "/workspace/a/../../x",
            "/workspace//etc",
        ] {
            assert!(
                matches!(
                    below_workspace(climbing),
                    Err(FileError::LeavesWorkspace { .. })
                ),
                "{climbing:?}"
            );
        }
        for directory in ["/workspace/", "/workspace/.", "/workspace/./"] {
            assert!(
                matches!(below_workspace(directory), Err(FileError::NotAFile { .. })),
                "{directory:?}"
            );
        }
    }
}
