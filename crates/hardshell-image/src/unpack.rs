//! Unpacking hostile layers into a root. Every entry's path is split into plain
//! components (`..` refused; a leading `/` names the image's root), its parent is reached one real
//! directory at a time through descriptors (a symlink on the way is refused),
//! and the entry is created with `*at` calls that never follow a symlink.
//! Device nodes and fifos are skipped and counted: the shell brings its own
//! `/dev`, an unprivileged owner could not create them anyway, and refusing would
//! reject ordinary images whose layers carry a few. Set-uid, set-gid and sticky
//! bits are dropped and write bits removed (the root is read-only), every entry
//! is owned by the caller's ids, and entries, bytes and file size are bounded.

pub(crate) mod at;
mod headers;
mod record;

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{FileType, Mode, fchmod};
use tar::EntryType;

pub use at::Owner;
pub use headers::MAX_EXTENSION_BYTES;
pub use record::{RecordedEntry, RootRecord};

use headers::{components, preflight};

use at::StepError;

/// Bounds on what one image may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    /// Tar entries over all layers (files, directories, links, whiteouts).
    pub max_entries: u64,
    /// Bytes of file content over all layers.
    pub max_total_bytes: u64,
    /// Bytes of one file.
    pub max_file_bytes: u64,
}

impl Default for UnpackLimits {
    /// Sized for a Node application image (OpenClaw: ~650 MB, ~60 000 files)
    /// with room to spare, and far below what would exhaust a small disk's inodes.
    fn default() -> Self {
        Self {
            max_entries: 500_000,
            max_total_bytes: 8 << 30,
            max_file_bytes: 2 << 30,
        }
    }
}

/// Why a layer was refused. Unpacking stops at the first refusal; the caller
/// discards the partial root.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("layer entry {0:?} climbs out with ..")]
    Traversal(String),
    #[error("layer entry has a path that is not UTF-8")]
    NotUtf8,
    #[error("layer entry {0:?} would be written through a symlink")]
    ThroughSymlink(String),
    #[error("layer entry {0:?} has a parent that is not a directory")]
    ParentNotDirectory(String),
    #[error("layer hard link {path:?} -> {target:?} refused: {reason}")]
    HardLink {
        path: String,
        target: String,
        reason: &'static str,
    },
    #[error("layer symlink {0:?} has an empty target")]
    EmptySymlink(String),
    #[error("layer whiteout {0:?} names no valid entry")]
    Whiteout(String),
    #[error("layer entry {path:?} has an unsupported type {kind:?}")]
    EntryType { path: String, kind: String },
    #[error("image has more than {0} entries")]
    TooManyEntries(u64),
    #[error("layer file {path:?} is larger than {limit} bytes")]
    FileTooLarge { path: String, limit: u64 },
    #[error("layer has a {size}-byte long-name or PAX extension header; the limit is {limit}")]
    ExtensionTooLarge { size: u64, limit: u64 },
    #[error("image content is larger than {0} bytes")]
    TooLarge(u64),
    #[error("reading the layer")]
    Read(#[source] io::Error),
    #[error("writing {path:?}")]
    Write {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// What unpacking did besides writing files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackReport {
    pub entries: u64,
    pub bytes: u64,
    /// Device nodes and fifos skipped.
    pub skipped_special: u64,
}

/// Applies layers, bottom first, to one root directory.
#[derive(Debug)]
pub struct Unpacker {
    root: OwnedFd,
    owner: Owner,
    limits: UnpackLimits,
    report: UnpackReport,
    /// Modes the image asked for, applied (without write bits) once all layers
    /// are in, because the unpacker itself must write into the directories.
    dir_modes: BTreeMap<String, u32>,
}

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

impl Unpacker {
    /// Starts unpacking into `root`, an empty directory the caller created.
    pub fn new(root: &Path, owner: Owner, limits: UnpackLimits) -> Result<Self, UnpackError> {
        let root = rustix::fs::open(
            root,
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::NOFOLLOW
                | rustix::fs::OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| UnpackError::Write {
            path: root.display().to_string(),
            source: e.into(),
        })?;
        Ok(Self {
            root,
            owner,
            limits,
            report: UnpackReport::default(),
            dir_modes: BTreeMap::new(),
        })
    }

    /// Applies one uncompressed tar layer. `open` is called twice: a first
    /// pass over the raw headers refuses long-name, long-link and PAX extension
    /// entries over [`MAX_EXTENSION_BYTES`] (the tar crate reads those into
    /// memory whole, so a hostile layer could ask for gigabytes) and GNU sparse
    /// files; the second pass unpacks.
    pub fn apply_layer<R: Read>(
        &mut self,
        mut open: impl FnMut() -> io::Result<R>,
    ) -> Result<(), UnpackError> {
        preflight(open().map_err(UnpackError::Read)?)?;
        let mut archive = tar::Archive::new(open().map_err(UnpackError::Read)?);
        let mut this_layer: HashSet<String> = HashSet::new();
        for entry in archive.entries().map_err(UnpackError::Read)? {
            let entry = entry.map_err(UnpackError::Read)?;
            self.report.entries += 1;
            if self.report.entries > self.limits.max_entries {
                return Err(UnpackError::TooManyEntries(self.limits.max_entries));
            }
            self.apply_entry(entry, &mut this_layer)?;
        }
        Ok(())
    }

    /// Finishes: records every entry (for `verify`), then makes directories
    /// read-only with the modes the image gave them.
    pub fn finish(self) -> Result<(UnpackReport, RootRecord), UnpackError> {
        let record = RootRecord::of(&self.root).map_err(|source| UnpackError::Write {
            path: "/".into(),
            source,
        })?;
        // Deepest first, so a parent is still writable while its children change.
        for (path, mode) in self.dir_modes.iter().rev() {
            let dir = match open_path(&self.root, path) {
                Ok(fd) => fd,
                Err(_) => continue, // removed by a later whiteout
            };
            fchmod(&dir, Mode::from_raw_mode(dir_mode(*mode))).map_err(|e| UnpackError::Write {
                path: path.clone(),
                source: e.into(),
            })?;
        }
        fchmod(&self.root, Mode::from_raw_mode(0o555)).map_err(|e| UnpackError::Write {
            path: "/".into(),
            source: e.into(),
        })?;
        let record = RootRecord {
            entries: record
                .entries
                .into_iter()
                .map(|(p, e)| match e {
                    RecordedEntry::Dir { .. } => {
                        let mode = self.dir_modes.get(&p).copied().map_or(0o555, dir_mode);
                        (p, RecordedEntry::Dir { mode })
                    }
                    other => (p, other),
                })
                .collect(),
        };
        Ok((self.report, record))
    }

    fn apply_entry<R: Read>(
        &mut self,
        mut entry: tar::Entry<'_, R>,
        this_layer: &mut HashSet<String>,
    ) -> Result<(), UnpackError> {
        let raw_path = entry.path_bytes().into_owned();
        let Some(components) = components(&raw_path)? else {
            return Ok(()); // the root itself ("./")
        };
        let path = components.join("/");
        let (name, parents) = components.split_last().ok_or(UnpackError::NotUtf8)?;
        let parent = self.parent(parents, &path)?;
        let write_err = |source: io::Error| UnpackError::Write {
            path: path.clone(),
            source,
        };

        if name == OPAQUE {
            let dir_path = parents.join("/");
            for child in at::list(&parent).map_err(write_err)? {
                let child_path = if dir_path.is_empty() {
                    child.clone()
                } else {
                    format!("{dir_path}/{child}")
                };
                if !this_layer.contains(&child_path) {
                    at::remove_any(&parent, &child).map_err(write_err)?;
                }
            }
            return Ok(());
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT) {
            if hidden.is_empty() || hidden == "." || hidden == ".." || hidden.contains('/') {
                return Err(UnpackError::Whiteout(path));
            }
            return at::remove_any(&parent, hidden).map_err(write_err);
        }
        this_layer.insert(path.clone());

        let header_mode = entry.header().mode().map_err(UnpackError::Read)?;
        let kind = entry.header().entry_type();
        let existing = at::lstat(&parent, name).map_err(write_err)?;
        match kind {
            EntryType::Directory => {
                match existing.as_ref().map(at::file_type) {
                    Some(FileType::Directory) => {}
                    Some(_) => {
                        at::remove_any(&parent, name).map_err(write_err)?;
                        self.make_dir(&parent, name, &path)?;
                    }
                    None => self.make_dir(&parent, name, &path)?,
                }
                self.dir_modes.insert(path, header_mode);
            }
            EntryType::Regular | EntryType::Continuous => {
                let size = entry.header().size().map_err(UnpackError::Read)?;
                if size > self.limits.max_file_bytes {
                    return Err(UnpackError::FileTooLarge {
                        path,
                        limit: self.limits.max_file_bytes,
                    });
                }
                if existing.is_some() {
                    at::remove_any(&parent, name).map_err(write_err)?;
                }
                let mut file = at::create_file(&parent, name).map_err(write_err)?;
                let copied = io::copy(
                    &mut (&mut entry).take(self.limits.max_file_bytes + 1),
                    &mut file,
                )
                .map_err(UnpackError::Read)?;
                if copied > self.limits.max_file_bytes {
                    return Err(UnpackError::FileTooLarge {
                        path,
                        limit: self.limits.max_file_bytes,
                    });
                }
                self.report.bytes += copied;
                if self.report.bytes > self.limits.max_total_bytes {
                    return Err(UnpackError::TooLarge(self.limits.max_total_bytes));
                }
                fchmod(&file, Mode::from_raw_mode(file_mode(header_mode)))
                    .map_err(|e| write_err(e.into()))?;
                at::chown(&parent, name, self.owner).map_err(write_err)?;
            }
            EntryType::Symlink => {
                // Kept as written: it is only ever resolved inside the shell's own root.
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| UnpackError::EmptySymlink(path.clone()))?;
                let target = std::str::from_utf8(&target)
                    .map_err(|_| UnpackError::NotUtf8)?
                    .to_owned();
                if target.is_empty() {
                    return Err(UnpackError::EmptySymlink(path));
                }
                if existing.is_some() {
                    at::remove_any(&parent, name).map_err(write_err)?;
                }
                rustix::fs::symlinkat(target.as_str(), &parent, name)
                    .map_err(|e| write_err(e.into()))?;
                at::chown(&parent, name, self.owner).map_err(write_err)?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                self.hard_link(&parent, name, &path, &target, existing.is_some())?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                self.report.skipped_special += 1;
            }
            EntryType::XGlobalHeader => {}
            other => {
                return Err(UnpackError::EntryType {
                    path,
                    kind: format!("{other:?}"),
                });
            }
        }
        Ok(())
    }

    /// Reaches the parent directory one component at a time, creating missing
    /// directories, refusing a symlink or a non-directory on the way.
    fn parent(&mut self, parents: &[String], path: &str) -> Result<OwnedFd, UnpackError> {
        let mut dir = at::open_dir(&self.root, ".").map_err(|e| step_error(e, path))?;
        for name in parents {
            dir = at::ensure_dir(&dir, name, self.owner).map_err(|e| step_error(e, path))?;
        }
        Ok(dir)
    }

    fn make_dir(&self, parent: &OwnedFd, name: &str, path: &str) -> Result<(), UnpackError> {
        at::ensure_dir(parent, name, self.owner)
            .map(drop)
            .map_err(|e| step_error(e, path))
    }

    /// A hard link may only name a regular file already unpacked in this root,
    /// reached without symlinks.
    fn hard_link(
        &self,
        parent: &OwnedFd,
        name: &str,
        path: &str,
        target: &[u8],
        replace: bool,
    ) -> Result<(), UnpackError> {
        let refuse = |reason| UnpackError::HardLink {
            path: path.to_owned(),
            target: String::from_utf8_lossy(target).into_owned(),
            reason,
        };
        let components = match components(target) {
            Ok(Some(c)) => c,
            Ok(None) => return Err(refuse("it names the root")),
            Err(UnpackError::Traversal(_)) => {
                return Err(refuse("it points outside the root"));
            }
            Err(e) => return Err(e),
        };
        let (target_name, target_parents) =
            components.split_last().ok_or_else(|| refuse("empty"))?;
        let mut dir = at::open_dir(&self.root, ".").map_err(|e| step_error(e, path))?;
        for component in target_parents {
            dir = at::open_dir(&dir, component)
                .map_err(|_| refuse("its parent is not a real directory in the root"))?;
        }
        match at::lstat(&dir, target_name) {
            Ok(Some(st)) if at::file_type(&st) == FileType::RegularFile => {}
            Ok(Some(_)) => return Err(refuse("it is not a regular file")),
            Ok(None) => return Err(refuse("it does not exist in the root")),
            Err(source) => {
                return Err(UnpackError::Write {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        let write_err = |source: io::Error| UnpackError::Write {
            path: path.to_owned(),
            source,
        };
        if replace {
            at::remove_any(parent, name).map_err(write_err)?;
        }
        // No AT_SYMLINK_FOLLOW: the link is to the entry itself.
        rustix::fs::linkat(
            &dir,
            target_name.as_str(),
            parent,
            name,
            rustix::fs::AtFlags::empty(),
        )
        .map_err(|e| write_err(e.into()))
    }

    pub fn report(&self) -> UnpackReport {
        self.report
    }
}

fn open_path(root: &OwnedFd, path: &str) -> Result<OwnedFd, StepError> {
    let mut dir = at::open_dir(root, ".")?;
    for name in path.split('/') {
        dir = at::open_dir(&dir, name)?;
    }
    Ok(dir)
}

fn step_error(e: StepError, path: &str) -> UnpackError {
    match e {
        StepError::Symlink => UnpackError::ThroughSymlink(path.to_owned()),
        StepError::NotDirectory => UnpackError::ParentNotDirectory(path.to_owned()),
        StepError::Io(source) => UnpackError::Write {
            path: path.to_owned(),
            source,
        },
    }
}

/// Permission bits only (no set-uid, set-gid, sticky), no write bits, and the
/// owner can always read: everything belongs to one uid, so the image's
/// owner/group/other distinctions carry nothing, and `verify` must read it all.
fn file_mode(mode: u32) -> u32 {
    (mode & 0o555) | 0o400
}

fn dir_mode(mode: u32) -> u32 {
    (mode & 0o555) | 0o500
}
