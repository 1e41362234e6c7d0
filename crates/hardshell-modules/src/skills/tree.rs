//! A skill's files, read from a directory or a `.tar.gz` archive into
//! memory, bounded, and their canonical digest. Nothing is extracted by
//! path: only [`SkillTree::write_into`] writes, and only under a directory
//! hardshell made.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

use hardshell_vocabulary::Digest;
use sha2::{Digest as _, Sha256};

use super::SkillError;
use crate::error::shown;
use crate::package::sha256;

/// The largest skill, all files together.
pub const MAX_SKILL_BYTES: u64 = 16 * 1024 * 1024;
/// The largest file in a skill.
pub const MAX_SKILL_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Entries (files and directories) a skill may hold.
pub const MAX_SKILL_ENTRIES: usize = 512;
/// The largest archive read, compressed.
const MAX_ARCHIVE_BYTES: u64 = MAX_SKILL_BYTES;
/// Deepest path in a skill, in segments.
const MAX_DEPTH: usize = 8;
/// Longest path in a skill, in bytes.
const MAX_PATH_BYTES: usize = 256;
/// What the digest's listing starts with: a new encoding gets a new line.
const DIGEST_HEADER: &str = "hardshell-skill-tree-v1\n";

/// A path inside a skill: relative, `/`-separated segments of
/// `a-z A-Z 0-9 . _ - +`, none of them `.` or `..`, at most 8 deep and
/// 256 bytes, so it names nothing outside the skill and has one spelling.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SkillPath(String);

impl SkillPath {
    pub fn parse(text: &str) -> Result<Self, SkillError> {
        let refused = || SkillError::EntryName {
            name: shown(text, 160),
        };
        if text.is_empty() || text.len() > MAX_PATH_BYTES {
            return Err(refused());
        }
        let good = |segment: &str| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
        };
        let segments: Vec<&str> = text.split('/').collect();
        if segments.len() > MAX_DEPTH || !segments.iter().all(|s| good(s)) {
            return Err(refused());
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SkillPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SkillPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// One file of a skill.
#[derive(Clone, PartialEq, Eq)]
pub struct SkillFile {
    pub bytes: Vec<u8>,
    /// Whether any execute bit was set where it was read.
    pub executable: bool,
}

impl fmt::Debug for SkillFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkillFile")
            .field("bytes", &self.bytes.len())
            .field("executable", &self.executable)
            .finish()
    }
}

/// A skill's files by path. Directories are not kept: they are implied by
/// the files' paths, so an empty directory is not part of a skill.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SkillTree {
    files: BTreeMap<SkillPath, SkillFile>,
}

impl fmt::Debug for SkillTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkillTree")
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SkillTree {
    pub fn files(&self) -> &BTreeMap<SkillPath, SkillFile> {
        &self.files
    }

    /// The canonical digest: SHA-256 of this text, in UTF-8:
    ///
    /// ```text
    /// hardshell-skill-tree-v1\n
    /// <mode> <sha256 hex of the file> <path>\n     one line per file
    /// ```
    ///
    /// the files sorted by their paths' bytes, `<mode>` `755` for a file
    /// with an execute bit and `644` otherwise, the hex lowercase, the path
    /// as [`SkillPath`] spells it (no spaces or newlines can occur in it).
    /// So the order of an archive's entries, owners, times and other mode
    /// bits do not change it; a byte of any file, a name, or an execute bit
    /// does.
    pub fn digest(&self) -> Digest {
        let mut listing = Sha256::new();
        listing.update(DIGEST_HEADER.as_bytes());
        for (path, file) in &self.files {
            let mode = if file.executable { "755" } else { "644" };
            let line = format!("{mode} {} {path}\n", sha256(&file.bytes).hex());
            listing.update(line.as_bytes());
        }
        Digest::from_sha256(listing.finalize().into())
    }

    /// The skill at `path`: a directory, or a `.tar.gz`/`.tgz` archive.
    pub fn read(path: &Path) -> Result<Self, SkillError> {
        let failed = |source| SkillError::Read {
            path: shown(&path.display().to_string(), 300),
            source,
        };
        let metadata = std::fs::symlink_metadata(path).map_err(failed)?;
        if metadata.is_dir() {
            return Self::read_dir(path);
        }
        if !metadata.is_file() {
            return Err(failed(std::io::Error::other(
                "not a directory or a regular file",
            )));
        }
        if metadata.len() > MAX_ARCHIVE_BYTES {
            return Err(SkillError::TooLarge {
                limit: MAX_ARCHIVE_BYTES,
            });
        }
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_ARCHIVE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(failed)?;
        Self::from_tar_gz(&bytes)
    }

    /// A skill from a directory: regular files and directories only (a
    /// symlink anywhere is refused, not followed), bounded as an archive is.
    pub fn read_dir(root: &Path) -> Result<Self, SkillError> {
        let mut builder = Builder::default();
        let mut pending = vec![(root.to_path_buf(), String::new())];
        while let Some((dir, prefix)) = pending.pop() {
            let failed = |source| SkillError::Read {
                path: shown(&dir.display().to_string(), 300),
                source,
            };
            let mut names = Vec::new();
            for entry in std::fs::read_dir(&dir).map_err(failed)? {
                let entry = entry.map_err(failed)?;
                builder.count()?;
                names.push(entry);
            }
            for entry in names {
                let name = entry.file_name();
                let name = name.to_str().ok_or_else(|| SkillError::EntryName {
                    name: shown(&name.to_string_lossy(), 160),
                })?;
                let relative = format!("{prefix}{name}");
                let path = SkillPath::parse(&relative)?;
                let kind = entry.file_type().map_err(failed)?;
                if kind.is_dir() {
                    pending.push((entry.path(), format!("{relative}/")));
                } else if kind.is_file() {
                    let file = std::fs::File::open(entry.path()).map_err(failed)?;
                    let metadata = file.metadata().map_err(failed)?;
                    let executable =
                        std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o111
                            != 0;
                    builder.file(path, file, metadata.len(), executable)?;
                } else {
                    return Err(SkillError::EntryKind {
                        name: shown(&relative, 160),
                        kind: if kind.is_symlink() {
                            "symlink"
                        } else {
                            "special file"
                        },
                    });
                }
            }
        }
        builder.finish()
    }

    /// A skill from a gzip-compressed tar archive; inflated no further than
    /// the limits, whatever its headers say.
    pub fn from_tar_gz(bytes: &[u8]) -> Result<Self, SkillError> {
        let inflated = flate2::read::GzDecoder::new(bytes).take(MAX_SKILL_BYTES * 2);
        Self::from_tar(inflated)
    }

    /// A skill from a plain tar archive (how the lock keeps it).
    pub fn from_tar(reader: impl Read) -> Result<Self, SkillError> {
        let archive_error = |e: std::io::Error| SkillError::Archive {
            detail: shown(&e.to_string(), 300),
        };
        let mut archive = tar::Archive::new(reader);
        let mut builder = Builder::default();
        for entry in archive.entries().map_err(archive_error)? {
            let entry = entry.map_err(archive_error)?;
            builder.count()?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let kind = entry.header().entry_type();
            let name = name
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_owned();
            match kind {
                // `git archive` writes one: metadata for the archiver, no file.
                tar::EntryType::XGlobalHeader => {}
                tar::EntryType::Directory => {
                    if !name.is_empty() && name != "." {
                        SkillPath::parse(&name)?;
                    }
                }
                tar::EntryType::Regular => {
                    let path = SkillPath::parse(&name)?;
                    let executable = entry.header().mode().map_err(archive_error)? & 0o111 != 0;
                    let size = entry.size();
                    builder.file(path, entry, size, executable)?;
                }
                other => {
                    return Err(SkillError::EntryKind {
                        name: shown(&name, 160),
                        kind: kind_word(other),
                    });
                }
            }
        }
        builder.finish_stripping_top_folder()
    }

    /// The tree as a plain tar archive of fixed form (sorted, owner 0, time
    /// 0, mode 0644 or 0755): what the lock keeps, read back with
    /// [`SkillTree::from_tar`].
    pub fn to_tar(&self) -> Result<Vec<u8>, SkillError> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, file) in &self.files {
            let mut header = tar::Header::new_ustar();
            header.set_size(file.bytes.len() as u64);
            header.set_mode(if file.executable { 0o755 } else { 0o644 });
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            header.set_entry_type(tar::EntryType::Regular);
            builder
                .append_data(&mut header, path.as_str(), file.bytes.as_slice())
                .map_err(|e| SkillError::Archive {
                    detail: e.to_string(),
                })?;
        }
        builder.into_inner().map_err(|e| SkillError::Archive {
            detail: e.to_string(),
        })
    }

    /// The file at `path`, if the skill has it.
    pub fn file(&self, path: &str) -> Option<&SkillFile> {
        self.files.get(&SkillPath::parse(path).ok()?)
    }
}

fn kind_word(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "symlink",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char | tar::EntryType::Block => "device",
        tar::EntryType::Fifo => "fifo",
        _ => "entry of another kind",
    }
}

/// Collects files, checking every bound before the bytes it bounds are kept.
#[derive(Default)]
struct Builder {
    files: BTreeMap<SkillPath, SkillFile>,
    entries: usize,
    total: u64,
}

impl Builder {
    /// One more entry, of any kind.
    fn count(&mut self) -> Result<(), SkillError> {
        self.entries += 1;
        if self.entries > MAX_SKILL_ENTRIES {
            return Err(SkillError::TooManyEntries {
                limit: MAX_SKILL_ENTRIES,
            });
        }
        Ok(())
    }

    fn file(
        &mut self,
        path: SkillPath,
        reader: impl Read,
        claimed: u64,
        executable: bool,
    ) -> Result<(), SkillError> {
        let too_large = |path: &SkillPath| SkillError::FileTooLarge {
            name: path.to_string(),
            limit: MAX_SKILL_FILE_BYTES,
        };
        if claimed > MAX_SKILL_FILE_BYTES {
            return Err(too_large(&path));
        }
        let mut bytes = Vec::new();
        reader
            .take(MAX_SKILL_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| SkillError::Archive {
                detail: shown(&e.to_string(), 300),
            })?;
        let size = bytes.len() as u64;
        if size > MAX_SKILL_FILE_BYTES {
            return Err(too_large(&path));
        }
        self.total += size;
        if self.total > MAX_SKILL_BYTES {
            return Err(SkillError::TooLarge {
                limit: MAX_SKILL_BYTES,
            });
        }
        if self.files.contains_key(&path) {
            return Err(SkillError::DuplicateEntry {
                name: path.to_string(),
            });
        }
        self.files.insert(path, SkillFile { bytes, executable });
        Ok(())
    }

    fn finish(self) -> Result<SkillTree, SkillError> {
        let tree = SkillTree { files: self.files };
        check_shape(&tree)?;
        Ok(tree)
    }

    /// An archive made of a folder (`my-skill/SKILL.md`, as `tar czf
    /// my-skill.tgz my-skill` makes) is that folder's content.
    fn finish_stripping_top_folder(self) -> Result<SkillTree, SkillError> {
        let top = |path: &SkillPath| path.as_str().split_once('/').map(|(top, _)| top.to_owned());
        let first = self.files.keys().next().and_then(top);
        let one_folder = first.as_ref().is_some_and(|first| {
            self.files
                .keys()
                .all(|path| top(path).as_deref() == Some(first.as_str()))
        });
        if !one_folder {
            return self.finish();
        }
        let prefix = format!("{}/", first.unwrap_or_default());
        let mut files = BTreeMap::new();
        for (path, file) in self.files {
            let inner = path.as_str().strip_prefix(&prefix).unwrap_or(path.as_str());
            files.insert(SkillPath::parse(inner)?, file);
        }
        let tree = SkillTree { files };
        check_shape(&tree)?;
        Ok(tree)
    }
}

/// A skill has a `SKILL.md` at its root, and no path that is both a file
/// and a folder (`a` and `a/b`), which no directory could hold.
fn check_shape(tree: &SkillTree) -> Result<(), SkillError> {
    if !tree
        .files
        .contains_key(&SkillPath(super::SKILL_MD.to_owned()))
    {
        return Err(SkillError::MissingSkillMd);
    }
    for path in tree.files.keys() {
        let mut at = String::new();
        for segment in path.as_str().split('/') {
            if !at.is_empty() && tree.files.contains_key(&SkillPath(at.clone())) {
                return Err(SkillError::DuplicateEntry {
                    name: path.to_string(),
                });
            }
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(segment);
        }
    }
    Ok(())
}

/// Writes each file of `tree` under `dir`, which must be empty and made by
/// the caller: folders `0755`, files `0644` or `0755`, whatever the
/// process's umask (the workload reads them as another user).
pub(super) fn write_into(tree: &SkillTree, dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |bits| std::fs::Permissions::from_mode(bits);
    std::fs::set_permissions(dir, mode(0o755))?;
    for (path, file) in &tree.files {
        let mut at = dir.to_path_buf();
        let segments: Vec<&str> = path.as_str().split('/').collect();
        let (name, folders) = segments.split_last().unwrap_or((&"", &[]));
        for folder in folders {
            at.push(folder);
            // Made here or by an earlier file: never a link (the folder is
            // new, and only this function writes in it).
            if std::fs::symlink_metadata(&at).is_err() {
                std::fs::create_dir(&at)?;
                std::fs::set_permissions(&at, mode(0o755))?;
            }
        }
        at.push(name);
        // `create_new` (O_EXCL) never opens through a symlink: each file is new.
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&at)?;
        std::io::Write::write_all(&mut out, &file.bytes)?;
        std::fs::set_permissions(&at, mode(if file.executable { 0o755 } else { 0o644 }))?;
    }
    Ok(())
}
