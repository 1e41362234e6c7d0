//! Append logs in the local directory: one file per log under
//! `<objects>/.logs/`, each record a frame (a `u32` big-endian length, then
//! the record as the store sealed it).
//!
//! An append runs under the log's stripe lock (see [`super::local`]): it
//! checks that the log holds exactly as many records as the caller says,
//! writes the frame at the end and makes it durable with `fdatasync` before
//! it returns. That is one flush per record, where an object costs a staged
//! file, its flush, a link and a flush of its directory. A new log file flushes
//! its directory once, when it is made.
//!
//! A crash can leave a frame cut short at the end of a file: it was never
//! acknowledged, so a read stops before it and the next append cuts it off. A
//! frame whose length does not fit the bounds is damage, not a torn write,
//! and is an error; so is a whole frame that does not open (the store's side).
//!
//! Where each record starts is kept in memory per file, and trusted while the
//! file's device, inode, length and change time are what they were: a turn
//! reads one `fstat`, not the file's headers.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

use crate::StorageError;

/// Largest frame a log holds: a record the size of the largest object, with
/// room for its envelope.
const MAX_FRAME: u64 = super::MAX_OBJECT_BYTES + 4096;
/// Logs whose record positions are kept; past this the memory starts over.
const INDEXED_LOGS: usize = 4096;
/// Record positions kept in all (8 bytes each): whoever appends can choose
/// how many records there are, so what the memory holds is bounded by this,
/// not by them. A log with more is read from its headers each time.
const INDEXED_RECORDS: usize = 1 << 20;
const HEADER: u64 = 4;

/// The local directory's logs.
pub(crate) struct LocalLogs {
    dir: PathBuf,
    indexes: Mutex<Indexes>,
}

/// The kept indexes, and how many record positions they hold in all.
#[derive(Default)]
struct Indexes {
    by_path: HashMap<PathBuf, Index>,
    records: usize,
}

/// Where each whole record of one log file starts, as of one `fstat`.
#[derive(Clone)]
struct Index {
    stat: Stat,
    /// Offset of each whole frame.
    starts: Vec<u64>,
    /// Just past the last whole frame; a torn frame, if any, follows.
    end: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Stat {
    dev: u64,
    ino: u64,
    len: u64,
    ctime: (i64, i64),
}

impl Stat {
    fn of(file: &File) -> std::io::Result<Self> {
        let meta = file.metadata()?;
        Ok(Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }
}

impl LocalLogs {
    pub(crate) fn new(objects: &Path) -> Self {
        Self {
            dir: objects.join(".logs"),
            indexes: Mutex::new(Indexes::default()),
        }
    }

    fn file(&self, log: &str) -> PathBuf {
        // Logs are named by object keys: relative, no `.` segments.
        self.dir.join(log)
    }

    /// Appends `frame` (one sealed record) as record number `at`. The caller
    /// holds the log's stripe lock.
    pub(crate) fn append(&self, log: &str, at: u64, frame: &[u8]) -> Result<(), StorageError> {
        let path = self.file(log);
        let io = |what: &'static str| {
            let path = path.display().to_string();
            move |source| StorageError::Io { what, path, source }
        };
        let len = u32::try_from(frame.len())
            .ok()
            .filter(|len| u64::from(*len) <= MAX_FRAME)
            .ok_or_else(|| {
                StorageError::Config(format!(
                    "a record of {} bytes is over the log's limit",
                    frame.len()
                ))
            })?;
        let (file, created, made) = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(file) => (file, false, Vec::new()),
            // A log begins only with its first record: a failed append
            // leaves no empty log behind.
            Err(e) if e.kind() == ErrorKind::NotFound && at != 0 => {
                return Err(StorageError::Conflict {
                    key: log.to_owned(),
                });
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let made = self.make_parents(&path)?;
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io("create log"))?;
                (file, true, made)
            }
            Err(e) => return Err(io("open log")(e)),
        };
        let index = self.index(log, &path, &file)?;
        if index.starts.len() as u64 != at {
            return Err(StorageError::Conflict {
                key: log.to_owned(),
            });
        }
        if index.stat.len > index.end {
            tracing::warn!(
                log,
                bytes = index.stat.len - index.end,
                "cutting a record torn by a crash off the end of a log"
            );
            file.set_len(index.end).map_err(io("cut log"))?;
        }
        let mut bytes = Vec::with_capacity(frame.len() + HEADER as usize);
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(frame);
        let written = file
            .write_all_at(&bytes, index.end)
            .and_then(|()| file.sync_data());
        if let Err(e) = written {
            // Neither whole nor durable: taken off again, so a failed append
            // leaves no record behind; whatever is left is a torn tail.
            self.forget(&path);
            let _ = file.set_len(index.end).and_then(|()| file.sync_data());
            return Err(io("append to log")(e));
        }
        if created {
            sync_dir(path.parent())?;
        }
        for dir in made.iter().rev() {
            sync_dir(dir.parent())?;
        }
        let mut index = index;
        index.starts.push(index.end);
        index.end += bytes.len() as u64;
        index.stat = Stat::of(&file).map_err(io("stat log"))?;
        self.remember(path, index);
        Ok(())
    }

    /// Up to `max` whole records from number `from`, as stored, and no more
    /// than `budget` bytes of them past the first.
    pub(crate) fn read(
        &self,
        log: &str,
        from: u64,
        max: usize,
        budget: u64,
    ) -> Result<Vec<Bytes>, StorageError> {
        let path = self.file(log);
        let io = |what: &'static str| {
            let path = path.display().to_string();
            move |source| StorageError::Io { what, path, source }
        };
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("open log")(e)),
        };
        let index = self.index(log, &path, &file)?;
        let Ok(first) = usize::try_from(from) else {
            return Ok(Vec::new());
        };
        let Some(&start) = index.starts.get(first) else {
            return Ok(Vec::new());
        };
        // The records to read: at least one, then while they fit the budget.
        let mut last = first;
        while last + 1 < index.starts.len()
            && last + 1 - first < max
            && next_start(&index, last + 1) - start <= budget
        {
            last += 1;
        }
        let stop = next_start(&index, last);
        let mut span = vec![0u8; usize::try_from(stop - start).unwrap_or(usize::MAX)];
        file.read_exact_at(&mut span, start)
            .map_err(io("read log"))?;
        let span = Bytes::from(span);
        let Some(frames) = super::split_frames(&span) else {
            // Rewritten under us since the index was read.
            self.forget(&path);
            return Err(StorageError::LogDamaged {
                log: log.to_owned(),
                detail: format!("the frames from offset {start} run past their log"),
            });
        };
        Ok(frames
            .into_iter()
            .map(|frame| span.slice_ref(frame))
            .collect())
    }

    /// Every log under `prefix` (a key, or all of them), with its record count.
    pub(crate) fn list(&self, prefix: Option<&str>) -> Result<Vec<(String, u64)>, StorageError> {
        let root = match prefix {
            Some(prefix) => self.file(prefix),
            None => self.dir.clone(),
        };
        let mut found = Vec::new();
        let mut pending = vec![root];
        while let Some(path) = pending.pop() {
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(source) => return Err(io_error("list logs", &path, source)),
            };
            if meta.is_dir() {
                let entries =
                    std::fs::read_dir(&path).map_err(|e| io_error("list logs", &path, e))?;
                for entry in entries {
                    pending.push(entry.map_err(|e| io_error("list logs", &path, e))?.path());
                }
            } else if meta.is_file() {
                let Some(log) = path
                    .strip_prefix(&self.dir)
                    .ok()
                    .and_then(Path::to_str)
                    .map(str::to_owned)
                else {
                    continue;
                };
                let file = File::open(&path).map_err(|e| io_error("open log", &path, e))?;
                let count = self.index(&log, &path, &file)?.starts.len() as u64;
                found.push((log, count));
            }
        }
        found.sort();
        Ok(found)
    }

    /// Removes a log. The caller holds its stripe lock.
    pub(crate) fn delete(&self, log: &str) -> Result<(), StorageError> {
        let path = self.file(log);
        self.forget(&path);
        match std::fs::remove_file(&path) {
            Ok(()) => sync_dir(path.parent()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("remove log", &path, e)),
        }
    }

    /// The record positions of `file`: remembered, brought up to date when
    /// the file only grew, or read from its frame headers.
    fn index(&self, log: &str, path: &Path, file: &File) -> Result<Index, StorageError> {
        let stat = Stat::of(file).map_err(|e| io_error("stat log", path, e))?;
        let known = self
            .indexes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_path
            .get(path)
            .cloned();
        let (mut starts, mut pos) = match known {
            Some(index) if index.stat == stat => return Ok(index),
            Some(index)
                if (index.stat.dev, index.stat.ino) == (stat.dev, stat.ino)
                    && stat.len >= index.end =>
            {
                (index.starts, index.end)
            }
            _ => (Vec::new(), 0),
        };
        let mut header = [0u8; HEADER as usize];
        while pos + HEADER <= stat.len {
            file.read_exact_at(&mut header, pos)
                .map_err(|e| io_error("read log", path, e))?;
            let len = u64::from(u32::from_be_bytes(header));
            if len == 0 || len > MAX_FRAME {
                return Err(StorageError::LogDamaged {
                    log: log.to_owned(),
                    detail: format!("a frame of {len} bytes at offset {pos}"),
                });
            }
            if pos + HEADER + len > stat.len {
                break;
            }
            starts.push(pos);
            pos += HEADER + len;
        }
        let index = Index {
            stat,
            starts,
            end: pos,
        };
        self.remember(path.to_owned(), index.clone());
        Ok(index)
    }

    fn remember(&self, path: PathBuf, index: Index) {
        let mut indexes = self.indexes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = indexes.by_path.remove(&path) {
            indexes.records -= old.starts.len();
        }
        if index.starts.len() > INDEXED_RECORDS {
            return;
        }
        if indexes.by_path.len() >= INDEXED_LOGS
            || indexes.records + index.starts.len() > INDEXED_RECORDS
        {
            *indexes = Indexes::default();
        }
        indexes.records += index.starts.len();
        indexes.by_path.insert(path, index);
    }

    fn forget(&self, path: &Path) {
        let mut indexes = self.indexes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = indexes.by_path.remove(path) {
            indexes.records -= old.starts.len();
        }
    }

    /// Makes the missing directories above `path` (mode 0700), returning
    /// those it made, outermost first.
    fn make_parents(&self, path: &Path) -> Result<Vec<PathBuf>, StorageError> {
        use std::os::unix::fs::DirBuilderExt;
        let mut missing = Vec::new();
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d.is_dir() {
                break;
            }
            missing.push(d.to_owned());
            dir = d.parent();
        }
        missing.reverse();
        for d in &missing {
            match std::fs::DirBuilder::new().mode(0o700).create(d) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_error("create directory", d, e)),
            }
        }
        Ok(missing)
    }
}

/// Where the frame after number `i` starts (the end of the whole frames past the last).
fn next_start(index: &Index, i: usize) -> u64 {
    index.starts.get(i + 1).copied().unwrap_or(index.end)
}

fn sync_dir(dir: Option<&Path>) -> Result<(), StorageError> {
    let Some(dir) = dir else { return Ok(()) };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("flush directory", dir, e))
}

fn io_error(what: &'static str, path: &Path, source: std::io::Error) -> StorageError {
    StorageError::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs() -> (tempfile::TempDir, LocalLogs) {
        let dir = tempfile::tempdir().unwrap();
        let logs = LocalLogs::new(dir.path());
        (dir, logs)
    }

    fn read_all(logs: &LocalLogs, log: &str) -> Vec<Vec<u8>> {
        logs.read(log, 0, usize::MAX, u64::MAX)
            .unwrap()
            .iter()
            .map(|b| b.to_vec())
            .collect()
    }

    #[test]
    fn records_come_back_in_order_and_only_the_next_number_is_taken() {
        let (_dir, logs) = logs();
        logs.append("a/log", 0, b"zero").unwrap();
        logs.append("a/log", 1, b"one").unwrap();
        assert!(logs.append("a/log", 1, b"again").unwrap_err().is_conflict());
        assert!(logs.append("a/log", 3, b"gap").unwrap_err().is_conflict());
        assert!(logs.append("b/log", 1, b"none").unwrap_err().is_conflict());
        assert!(!logs.dir.join("b").exists(), "a failed append made a log");
        assert_eq!(
            read_all(&logs, "a/log"),
            [b"zero".to_vec(), b"one".to_vec()]
        );
        assert_eq!(logs.read("a/log", 1, 9, u64::MAX).unwrap().len(), 1);
        assert!(logs.read("a/log", 2, 9, u64::MAX).unwrap().is_empty());
        assert!(logs.read("none", 0, 9, u64::MAX).unwrap().is_empty());
        assert_eq!(logs.list(None).unwrap(), [("a/log".to_owned(), 2)]);
    }

    #[test]
    fn a_read_stops_at_its_count_and_budget_but_gives_at_least_one() {
        let (_dir, logs) = logs();
        for i in 0..5u64 {
            logs.append("l", i, &[b'x'; 100]).unwrap();
        }
        assert_eq!(logs.read("l", 0, 2, u64::MAX).unwrap().len(), 2);
        assert_eq!(logs.read("l", 0, 9, 250).unwrap().len(), 2);
        assert_eq!(logs.read("l", 1, 9, 10).unwrap().len(), 1);
    }

    #[test]
    fn another_writer_is_seen_and_a_torn_tail_is_cut_by_the_next_append() {
        let (dir, logs) = logs();
        logs.append("l", 0, b"zero").unwrap();
        // Another process's store appends, then one crashes mid-frame.
        let other = LocalLogs::new(dir.path());
        other.append("l", 1, b"one").unwrap();
        let path = dir.path().join(".logs/l");
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        std::io::Write::write_all(&mut file, &[0, 0, 0, 9, b'p']).unwrap();
        assert_eq!(read_all(&logs, "l").len(), 2);
        logs.append("l", 2, b"two").unwrap();
        assert_eq!(
            read_all(&other, "l"),
            [b"zero".to_vec(), b"one".to_vec(), b"two".to_vec()]
        );
    }

    #[test]
    fn a_length_out_of_bounds_is_damage_not_a_torn_write() {
        let (dir, logs) = logs();
        logs.append("l", 0, b"zero").unwrap();
        let path = dir.path().join(".logs/l");
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        std::io::Write::write_all(&mut file, &[0xff, 0xff, 0xff, 0xff, 0]).unwrap();
        let fresh = LocalLogs::new(dir.path());
        let error = fresh.read("l", 0, 9, u64::MAX).unwrap_err();
        assert!(matches!(error, StorageError::LogDamaged { .. }), "{error}");
        assert!(fresh.append("l", 1, b"one").is_err());
    }

    #[test]
    fn the_record_positions_kept_are_bounded_whatever_the_logs_hold() {
        let (_dir, logs) = logs();
        let index = |records: usize| Index {
            stat: Stat {
                dev: 0,
                ino: 0,
                len: 0,
                ctime: (0, 0),
            },
            starts: vec![0; records],
            end: 0,
        };
        let held = |logs: &LocalLogs| {
            let indexes = logs.indexes.lock().unwrap();
            (indexes.by_path.len(), indexes.records)
        };
        logs.remember("huge".into(), index(INDEXED_RECORDS + 1));
        assert_eq!(held(&logs), (0, 0));
        logs.remember("a".into(), index(INDEXED_RECORDS - 10));
        logs.remember("b".into(), index(5));
        assert_eq!(held(&logs), (2, INDEXED_RECORDS - 5));
        // Replacing an index counts it once.
        logs.remember("b".into(), index(10));
        assert_eq!(held(&logs), (2, INDEXED_RECORDS));
        logs.remember("c".into(), index(1));
        assert_eq!(held(&logs), (1, 1));
        logs.forget(Path::new("c"));
        assert_eq!(held(&logs), (0, 0));
    }

    #[test]
    fn a_deleted_log_is_gone_and_starts_over() {
        let (_dir, logs) = logs();
        logs.append("l", 0, b"zero").unwrap();
        logs.delete("l").unwrap();
        logs.delete("l").unwrap();
        assert!(read_all(&logs, "l").is_empty());
        logs.append("l", 0, b"new").unwrap();
        assert_eq!(read_all(&logs, "l"), [b"new".to_vec()]);
    }
}
