//! What an unpacked root holds, written down at unpack time so `verify` can tell
//! whether anything in it changed since: every path with its type and mode, each
//! regular file's sha256, each symlink's target.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::AsFd;

use rustix::fs::FileType;
use serde::{Deserialize, Serialize};

use super::at;
use crate::digest::{Digest, DigestWriter};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RecordedEntry {
    Dir {
        mode: u32,
    },
    File {
        mode: u32,
        size: u64,
        sha256: Digest,
    },
    Symlink {
        target: String,
    },
    /// Nothing else is ever unpacked; present only when found by `verify`.
    Other,
}

/// Every entry of a root, by path relative to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootRecord {
    pub entries: BTreeMap<String, RecordedEntry>,
}

impl RootRecord {
    /// Walks the tree under `root` through descriptors, never following a symlink.
    pub fn of(root: impl AsFd) -> io::Result<Self> {
        let mut entries = BTreeMap::new();
        walk(root, "", &mut entries)?;
        Ok(Self { entries })
    }

    /// Paths whose entry differs (added, removed or changed), sorted.
    pub fn differences(&self, now: &RootRecord) -> Vec<String> {
        let mut out: Vec<String> = self
            .entries
            .iter()
            .filter(|(path, entry)| now.entries.get(*path) != Some(entry))
            .map(|(path, _)| path.clone())
            .collect();
        out.extend(
            now.entries
                .keys()
                .filter(|p| !self.entries.contains_key(*p))
                .cloned(),
        );
        out.sort();
        out
    }
}

fn walk(dir: impl AsFd, prefix: &str, out: &mut BTreeMap<String, RecordedEntry>) -> io::Result<()> {
    for name in at::list(&dir)? {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let Some(st) = at::lstat(&dir, &name)? else {
            continue;
        };
        let mode = st.st_mode & 0o7777;
        let entry = match at::file_type(&st) {
            FileType::Directory => {
                let child = at::open_dir(&dir, &name)
                    .map_err(|_| io::Error::other(format!("{path} changed while being read")))?;
                walk(&child, &path, out)?;
                RecordedEntry::Dir { mode }
            }
            FileType::RegularFile => {
                let mut file = at::open_file(&dir, &name)?;
                let mut hasher = DigestWriter::default();
                io::copy(&mut file, &mut HashSink(&mut hasher))?;
                RecordedEntry::File {
                    mode,
                    size: hasher.written(),
                    sha256: hasher.finish(),
                }
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(&dir, name.as_str(), Vec::new())?;
                RecordedEntry::Symlink {
                    target: target.to_string_lossy().into_owned(),
                }
            }
            _ => RecordedEntry::Other,
        };
        out.insert(path, entry);
    }
    Ok(())
}

struct HashSink<'a>(&'a mut DigestWriter);

impl io::Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
