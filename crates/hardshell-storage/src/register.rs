//! The version register: rollback detection for the objects that grant or
//! limit authority.
//!
//! Anyone who can write to the bucket can put back an older sealed copy of an
//! object, and it opens: a revoked token, a removed passkey or last month's
//! spend ledger would return. So every write of a [protected](PROTECTED)
//! object is numbered, and the number is sealed into the object (its *stamp*,
//! authenticated by the envelope). The register remembers the newest stamp of
//! every protected key, and a tombstone for every key deleted; a read refuses
//! an object older than that ([`StorageError::RolledBack`]), treats a copy of a
//! deleted object as absent, and refuses a registered object that disappeared
//! ([`StorageError::Vanished`]).
//!
//! The register lives in the bucket, sealed, in [`PARTS`] parts
//! (`.versions/00` to `.versions/63`, names no [`ObjectKey`] can spell, so no
//! scope reaches them), each changed only by compare-and-swap and numbered by
//! a change counter that only goes up. This machine keeps the highest change
//! of every part it has seen, in memory and in an anchor file in its data
//! directory, out of the bucket's reach: a part older than that is refused
//! ([`StorageError::RegisterRolledBack`]), so rolling back objects together
//! with the register is caught too. A machine with no anchor yet (a new one)
//! trusts the register it finds.
//!
//! A stamp is one more than both the register's mark and the stamp of the
//! object it replaces; the replacement is a compare-and-swap even for an
//! overwrite. So the object in the bucket always carries the highest stamp
//! of its key, and the register's mark, raised after the object is written
//! (tombstones before the object is deleted), never passes it: a process that
//! dies between the two leaves the mark behind, which is safe, never ahead.
//!
//! Reads use a part as this process last saw it, for up to [`FRESH_FOR`]; an
//! object that looks rolled back or vanished is judged again against the part
//! as it is in the bucket now, so another replica's recent write is never
//! taken for an attack. The cost: a rollback of an object another machine
//! wrote less than [`FRESH_FOR`] ago can be read once here before it is seen.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::backend::{Backend, Version, WriteMode};
use crate::envelope;
use crate::{MasterKey, ObjectKey, StorageError};

/// Key prefixes, from the store's root, whose objects the register covers:
/// what grants or limits authority (API tokens, login sessions, passkeys,
/// devices and their revocations, secrets and the edge's own keys, chat
/// pairings, the module lock, the ACME account), what the agent remembers,
/// and what is counted against a cap (the model spend ledger); and every
/// audit log's head ([`is_audit_head`]). Left out, each for a reason: conversations
/// (`agent/sessions`: each message is written once), the channels' spools and
/// lanes (transient, deleted after their turn), `pending/` (single-use
/// ceremony states, each with an expiry of minutes sealed inside it and a
/// cap on how many exist), the workload's state (its own generations and
/// manifest, which catch a rollback on a machine that saw a newer one),
/// audit logs' segments (hash-chained, and verified against the head),
/// images (named by digest), and screenshots.
pub const PROTECTED: &[&str] = &[
    "tokens",
    "sessions",
    "auth",
    "secrets",
    "internal",
    "llm",
    "channels/pairing",
    "modules",
    "acme",
    "agent/memory",
];

/// How many parts the register is split into: a write rewrites one part.
pub const PARTS: u8 = 64;

/// Where the parts lie: a segment no [`ObjectKey`] may start with `.`.
const DIR: &str = ".versions";

/// How long a read may rely on a part as this process last saw it.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// How often a part's compare-and-swap is tried before giving up.
const ATTEMPTS: u32 = 64;

/// Whether the register covers `key` (a key from the store's root).
pub fn protects(key: &ObjectKey) -> bool {
    let key = key.as_str();
    is_audit_head(key)
        || PROTECTED.iter().any(|prefix| {
            key.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
}

/// An audit log's head (`audit/<log>/head` in the state store, `<log>/head`
/// in an audit bucket of its own): the last record's number and hash, which
/// `audit verify` holds the segments to. Covered, a log cannot be cut back
/// to an earlier head with its segments; its segments, hash-chained, need
/// no cover of their own.
fn is_audit_head(key: &str) -> bool {
    let segments: Vec<&str> = key.split('/').collect();
    matches!(segments.as_slice(), [_, "head"] | ["audit", _, "head"])
}

/// Whether `path` (a raw path in the bucket) is one of the register's parts.
pub(crate) fn is_register(path: &str) -> bool {
    path == DIR || path.starts_with(".versions/")
}

/// The newest write of one key hardshell knows of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Mark {
    pub stamp: u64,
    /// A tombstone: the key was deleted by the write of this stamp.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gone: bool,
    /// For a tombstone of an object that carried its own expiry (a login
    /// session): when a copy put back would be void anyway, in Unix seconds.
    /// The tombstone is forgotten after it, so short-lived records do not
    /// grow the register forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
}

impl Mark {
    /// Whether this mark already stands for `other` or a later write. At one
    /// stamp a tombstone wins: a delete that raced a write of the same stamp
    /// removed that write's object.
    fn covers(&self, other: &Mark) -> bool {
        self.stamp > other.stamp || (self.stamp == other.stamp && (self.gone || !other.gone))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Part {
    /// Counts this part's changes; only ever goes up.
    change: u64,
    marks: BTreeMap<String, Mark>,
}

/// A part as read from the bucket, with the version to compare-and-swap against.
#[derive(Clone)]
pub(crate) struct Held {
    part: Part,
    version: Option<Version>,
    read_at: Instant,
}

impl Held {
    pub(crate) fn mark(&self, key: &ObjectKey) -> Option<Mark> {
        self.part.marks.get(key.as_str()).copied()
    }
}

/// What a read of a protected key found, judged.
pub(crate) enum Verdict {
    /// The object (or its absence) is the newest hardshell wrote.
    Current,
    /// A copy of an object hardshell deleted: read it as absent.
    Deleted,
}

pub(crate) struct Register {
    held: Mutex<HashMap<u8, Held>>,
    /// The highest change of each part seen, by this process or (through the
    /// anchor file) by any process of this machine before it.
    seen: Mutex<HashMap<u8, u64>>,
    anchor: Option<Anchor>,
    /// Which of the stores under one master key this is, bound into what each
    /// part is sealed to, so a part copied from another store does not open.
    role: String,
}

impl Register {
    /// A register whose marks of what was seen live only in memory, or also in
    /// the anchor file for this store under `anchors`.
    pub(crate) fn new(
        anchors: Option<&FsPath>,
        endpoint: &str,
        role: &str,
    ) -> Result<Self, StorageError> {
        let anchor = anchors.map(|dir| Anchor::for_store(dir, endpoint));
        let seen = match &anchor {
            Some(anchor) => anchor.read()?,
            None => HashMap::new(),
        };
        Ok(Self {
            held: Mutex::new(HashMap::new()),
            seen: Mutex::new(seen),
            anchor,
            role: role.to_owned(),
        })
    }

    /// Judges what a read of `key` found (`stamp` is the object's, `None`
    /// when there is none) by its part as last seen, if recently enough.
    pub(crate) async fn judge(
        &self,
        backend: &Backend,
        master: &MasterKey,
        key: &ObjectKey,
        stamp: Option<u64>,
    ) -> Result<Verdict, StorageError> {
        let part = part_of(key);
        let mark = match self.recent_mark(part, key) {
            Some(mark) => mark,
            None => self.read(backend, master, part).await?.mark(key),
        };
        verdict(key, mark, stamp)
    }

    /// Every mark of the register, each part read from the bucket now (and
    /// refused if below what this machine saw).
    pub(crate) async fn all_marks(
        &self,
        backend: &Backend,
        master: &MasterKey,
    ) -> Result<Vec<(String, Mark)>, StorageError> {
        let mut marks = Vec::new();
        for part in 0..PARTS {
            let held = self.read(backend, master, part).await?;
            marks.extend(held.part.marks);
        }
        Ok(marks)
    }

    /// The part holding `key`, read from the bucket now.
    pub(crate) async fn current(
        &self,
        backend: &Backend,
        master: &MasterKey,
        key: &ObjectKey,
    ) -> Result<Held, StorageError> {
        self.read(backend, master, part_of(key)).await
    }

    /// Raises `key`'s mark to `mark` unless a later one is there, by
    /// compare-and-swap on its part, starting from `held` (read just before).
    pub(crate) async fn raise(
        &self,
        backend: &Backend,
        master: &MasterKey,
        key: &ObjectKey,
        mark: Mark,
        mut held: Held,
    ) -> Result<(), StorageError> {
        let part = part_of(key);
        let path = part_path(part);
        for _ in 0..ATTEMPTS {
            if held.mark(key).is_some_and(|there| there.covers(&mark)) {
                return Ok(());
            }
            let mut next = held.part.clone();
            next.change += 1;
            let now = chrono::Utc::now().timestamp();
            next.marks
                .retain(|_, mark| mark.until.is_none_or(|until| until > now));
            next.marks.insert(key.as_str().to_owned(), mark);
            let plaintext =
                serde_json::to_vec(&next).map_err(|e| StorageError::RegisterDamaged {
                    part: path.to_string(),
                    detail: e.to_string(),
                })?;
            let sealed =
                envelope::seal_stamped(master, &self.sealed_as(&path), next.change, &plaintext)
                    .map_err(|source| StorageError::Unseal {
                        key: path.to_string(),
                        source,
                    })?;
            let mode = match &held.version {
                Some(version) => WriteMode::Update(version),
                None => WriteMode::Create,
            };
            match backend.put(&path, Bytes::from(sealed), mode).await {
                Ok(version) => {
                    let change = next.change;
                    self.keep(
                        part,
                        Held {
                            part: next,
                            version: Some(version),
                            read_at: Instant::now(),
                        },
                    );
                    return self.saw(part, change).await;
                }
                Err(StorageError::Conflict { .. }) => {
                    held = self.read(backend, master, part).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(StorageError::Conflict {
            key: path.to_string(),
        })
    }

    /// `key`'s mark in its part as last seen, if that was less than
    /// [`FRESH_FOR`] ago (the outer `None`: not recent enough).
    fn recent_mark(&self, part: u8, key: &ObjectKey) -> Option<Option<Mark>> {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.get(&part)
            .filter(|held| held.read_at.elapsed() < FRESH_FOR)
            .map(|held| held.mark(key))
    }

    fn keep(&self, part: u8, fresh: Held) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        match held.get(&part) {
            // Two reads raced: keep the newer part.
            Some(there) if there.part.change > fresh.part.change => {}
            _ => {
                held.insert(part, fresh);
            }
        }
    }

    async fn read(
        &self,
        backend: &Backend,
        master: &MasterKey,
        part: u8,
    ) -> Result<Held, StorageError> {
        let path = part_path(part);
        let read_at = Instant::now();
        // What was seen before this read began must be in what it reads; a
        // change seen while it was under way may not be.
        let seen = self.highest(part);
        let (part_read, version) = match backend.get(&path).await? {
            None => (Part::default(), None),
            Some(raw) => {
                let opened = envelope::open_stamped(master, &self.sealed_as(&path), &raw.bytes)
                    .map_err(|source| StorageError::Unseal {
                        key: path.to_string(),
                        source,
                    })?;
                let decoded: Part = serde_json::from_slice(&opened.value).map_err(|e| {
                    StorageError::RegisterDamaged {
                        part: path.to_string(),
                        detail: e.to_string(),
                    }
                })?;
                if decoded.change != opened.stamp {
                    return Err(StorageError::RegisterDamaged {
                        part: path.to_string(),
                        detail: format!(
                            "sealed as change {} but says change {}",
                            opened.stamp, decoded.change
                        ),
                    });
                }
                (decoded, Some(raw.version))
            }
        };
        if part_read.change < seen {
            return Err(StorageError::RegisterRolledBack {
                part: path.to_string(),
                found: part_read.change,
                seen,
            });
        }
        let change = part_read.change;
        let held = Held {
            part: part_read,
            version,
            read_at,
        };
        self.keep(part, held.clone());
        self.saw(part, change).await?;
        Ok(held)
    }

    /// What a part at `path` is sealed to: its path and this store's role
    /// (`@` is in no object key, so no object is sealed to it).
    fn sealed_as(&self, path: &Path) -> String {
        format!("{path}@{}", self.role)
    }

    fn highest(&self, part: u8) -> u64 {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(&part).copied().unwrap_or(0)
    }

    /// Remembers that `part` reached `change`, in memory and in the anchor.
    async fn saw(&self, part: u8, change: u64) -> Result<(), StorageError> {
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            let there = seen.entry(part).or_insert(0);
            if *there >= change {
                return Ok(());
            }
            *there = change;
        }
        match &self.anchor {
            Some(anchor) => anchor.raise(part, change).await,
            None => Ok(()),
        }
    }
}

/// What an object with `stamp` (`None`: no object) is, against `mark`.
pub(crate) fn verdict(
    key: &ObjectKey,
    mark: Option<Mark>,
    stamp: Option<u64>,
) -> Result<Verdict, StorageError> {
    match (mark, stamp) {
        (None, _) => Ok(Verdict::Current),
        (Some(mark), Some(stamp)) if mark.gone => match stamp > mark.stamp {
            // Written again after the delete; its mark is on its way.
            true => Ok(Verdict::Current),
            false => Ok(Verdict::Deleted),
        },
        (Some(mark), Some(stamp)) if stamp < mark.stamp => Err(StorageError::RolledBack {
            key: key.to_string(),
            found: stamp,
            registered: mark.stamp,
        }),
        (Some(_), Some(_)) => Ok(Verdict::Current),
        (Some(mark), None) if mark.gone => Ok(Verdict::Current),
        (Some(mark), None) => Err(StorageError::Vanished {
            key: key.to_string(),
            registered: mark.stamp,
        }),
    }
}

fn part_of(key: &ObjectKey) -> u8 {
    let digest = Sha256::digest(key.as_str().as_bytes());
    digest[0] % PARTS
}

fn part_path(part: u8) -> Path {
    Path::from(format!("{DIR}/{part:02}"))
}

/// The anchor file: the highest change of each part this machine has seen,
/// one file per store (named by a hash of where the store is), in the data
/// directory. It is written whole and renamed into place under a lock, and
/// each write keeps the higher of the file's and this process's numbers, so
/// several processes of one machine only ever raise it. It is not fsynced:
/// a crash can leave it at an earlier number, which weakens it, never
/// refuses a good register.
struct Anchor {
    path: PathBuf,
    lock: PathBuf,
}

impl Anchor {
    fn for_store(dir: &FsPath, endpoint: &str) -> Self {
        let digest = Sha256::digest(endpoint.as_bytes());
        let name = format!("versions-{}", hex::encode(&digest[..8]));
        Self {
            path: dir.join(format!("{name}.json")),
            lock: dir.join(format!("{name}.lock")),
        }
    }

    fn read(&self) -> Result<HashMap<u8, u64>, StorageError> {
        read_anchor(&self.path)
    }

    async fn raise(&self, part: u8, change: u64) -> Result<(), StorageError> {
        let (path, lock) = (self.path.clone(), self.lock.clone());
        tokio::task::spawn_blocking(move || raise_anchor(&path, &lock, part, change))
            .await
            .map_err(|e| StorageError::Task(e.to_string()))?
    }
}

#[derive(Serialize, Deserialize, Default)]
struct AnchorFile {
    /// Part number (as text: JSON keys are strings) to its highest change.
    parts: BTreeMap<String, u64>,
}

fn anchor_error(what: &'static str, path: &FsPath, source: std::io::Error) -> StorageError {
    StorageError::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}

fn read_anchor(path: &FsPath) -> Result<HashMap<u8, u64>, StorageError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(anchor_error("reading the version anchor", path, e)),
    };
    let file: AnchorFile = serde_json::from_slice(&text).map_err(|e| {
        anchor_error(
            "reading the version anchor",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )
    })?;
    let mut parts = HashMap::new();
    for (part, change) in file.parts {
        match part.parse::<u8>() {
            Ok(part) if part < PARTS => {
                parts.insert(part, change);
            }
            _ => {
                return Err(anchor_error(
                    "reading the version anchor",
                    path,
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("no register part {part:?}"),
                    ),
                ));
            }
        }
    }
    Ok(parts)
}

fn raise_anchor(path: &FsPath, lock: &FsPath, part: u8, change: u64) -> Result<(), StorageError> {
    use std::os::unix::fs::OpenOptionsExt;
    let guard = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(lock)
        .map_err(|e| anchor_error("opening the version anchor's lock", lock, e))?;
    guard
        .lock()
        .map_err(|e| anchor_error("locking the version anchor", lock, e))?;
    let mut parts = read_anchor(path)?;
    let there = parts.entry(part).or_insert(0);
    if *there >= change {
        return Ok(());
    }
    *there = change;
    let file = AnchorFile {
        parts: parts
            .into_iter()
            .map(|(part, change)| (part.to_string(), change))
            .collect(),
    };
    let text = serde_json::to_vec(&file)
        .map_err(|e| anchor_error("writing the version anchor", path, std::io::Error::other(e)))?;
    let partial = path.with_extension("partial");
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&partial)
        .and_then(|mut out| std::io::Write::write_all(&mut out, &text))
        .map_err(|e| anchor_error("writing the version anchor", &partial, e))?;
    std::fs::rename(&partial, path).map_err(|e| anchor_error("writing the version anchor", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> ObjectKey {
        ObjectKey::parse(text).unwrap()
    }

    #[test]
    fn protected_prefixes_match_whole_segments() {
        assert!(protects(&key("tokens/abc")));
        assert!(protects(&key("channels/pairing/telegram")));
        assert!(protects(&key("agent/memory/notes/x")));
        assert!(!protects(&key("tokensmith/abc")));
        assert!(!protects(&key("agent/sessions/s/0")));
        assert!(!protects(&key("channels/spool/x")));
        assert!(!protects(&key("workload/openclaw/manifest")));
        assert!(protects(&key("audit/edge-1/head")));
        assert!(protects(&key("edge-1/head")));
        assert!(!protects(&key(
            "audit/edge-1/segments/00000000000000000001"
        )));
        assert!(!protects(&key("audit/edge-1/head/x")));
        assert!(!protects(&key("workload/w/head")));
    }

    #[test]
    fn verdicts() {
        let k = key("tokens/a");
        let live = |stamp| {
            Some(Mark {
                stamp,
                gone: false,
                until: None,
            })
        };
        let gone = |stamp| {
            Some(Mark {
                stamp,
                gone: true,
                until: None,
            })
        };
        assert!(matches!(verdict(&k, None, Some(3)), Ok(Verdict::Current)));
        assert!(matches!(verdict(&k, None, None), Ok(Verdict::Current)));
        assert!(matches!(
            verdict(&k, live(3), Some(3)),
            Ok(Verdict::Current)
        ));
        assert!(matches!(
            verdict(&k, live(3), Some(4)),
            Ok(Verdict::Current)
        ));
        assert!(matches!(
            verdict(&k, live(3), Some(2)),
            Err(StorageError::RolledBack {
                found: 2,
                registered: 3,
                ..
            })
        ));
        assert!(matches!(
            verdict(&k, live(3), None),
            Err(StorageError::Vanished { registered: 3, .. })
        ));
        assert!(matches!(
            verdict(&k, gone(3), Some(3)),
            Ok(Verdict::Deleted)
        ));
        assert!(matches!(
            verdict(&k, gone(3), Some(1)),
            Ok(Verdict::Deleted)
        ));
        assert!(matches!(
            verdict(&k, gone(3), Some(4)),
            Ok(Verdict::Current)
        ));
        assert!(matches!(verdict(&k, gone(3), None), Ok(Verdict::Current)));
    }

    #[test]
    fn a_tombstone_wins_at_the_same_stamp() {
        let live = Mark {
            stamp: 5,
            gone: false,
            until: None,
        };
        let gone = Mark { gone: true, ..live };
        assert!(gone.covers(&live));
        assert!(!live.covers(&gone));
        assert!(live.covers(&Mark { stamp: 4, ..gone }));
    }

    #[test]
    fn the_anchor_only_rises_and_refuses_a_damaged_file() {
        let dir = tempfile::tempdir().unwrap();
        let anchor = Anchor::for_store(dir.path(), "file:///objects");
        raise_anchor(&anchor.path, &anchor.lock, 3, 10).unwrap();
        raise_anchor(&anchor.path, &anchor.lock, 3, 7).unwrap();
        raise_anchor(&anchor.path, &anchor.lock, 9, 1).unwrap();
        let read = anchor.read().unwrap();
        assert_eq!(read.get(&3), Some(&10));
        assert_eq!(read.get(&9), Some(&1));
        // Another store's anchor is another file.
        let other = Anchor::for_store(dir.path(), "s3://bucket at http://127.0.0.1:1");
        assert!(other.read().unwrap().is_empty());
        std::fs::write(&anchor.path, b"{ not json").unwrap();
        let err = anchor.read().unwrap_err().to_string();
        assert!(err.contains("version anchor"), "{err}");
    }
}
