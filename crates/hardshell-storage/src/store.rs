//! [`Store`] and [`Scope`]: sealed objects under validated keys, with compare-and-swap.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::path::Path;
use zeroize::Zeroizing;

use crate::backend::{
    Backend, LocalOptions, RawObject, RemoteOptions, S3Options, Version, WriteMode,
};
use crate::envelope::{self, EnvelopeError};
use crate::register::{self, Mark, Register, Verdict};
use crate::{MasterKey, ObjectKey, StorageError};

/// Where objects live.
#[derive(Debug, Clone)]
pub enum Location {
    Local(LocalOptions),
    S3(S3Options),
    /// The edge's storage service on a unix socket. The edge seals and scopes;
    /// open such a store with [`Sealing::Delegated`].
    Remote(RemoteOptions),
}

/// How objects are protected at rest.
#[derive(Debug, Clone)]
pub enum Sealing {
    /// Envelope encryption under the master key: the default, and the only safe choice.
    Envelope(MasterKey),
    /// Objects stored as given. Reachable only through `[dangerous] unencrypted_storage`.
    Plaintext,
    /// Sealed by the service behind a [`Location::Remote`] store (the edge); this
    /// side never sees a key. Refused with any other location.
    Delegated,
}

/// A handle to one object store. Cheap to clone; all clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    sealing: Sealing,
    /// The version register, for a store sealed here (see `register.rs`).
    register: Option<Register>,
}

/// A view of the store confined to one key prefix. Every key a scope is given is
/// joined under its prefix, and keys cannot contain `..`, so no scope can reach a
/// sibling's objects. Narrow a scope with [`Scope::scope`]; nothing widens one.
#[derive(Clone)]
pub struct Scope {
    store: Store,
    prefix: Option<ObjectKey>,
}

/// An object's plaintext together with the version it was read at.
pub struct Versioned {
    pub value: Zeroizing<Vec<u8>>,
    pub version: Version,
}

/// One listed object, its key relative to the scope that listed it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: ObjectKey,
    /// Stored size, including the envelope's overhead.
    pub size: u64,
    pub last_modified: chrono::DateTime<chrono::Utc>,
    /// The backend's entity tag, which changes with every write even where
    /// size and time do not (a local directory's is the file's inode, time
    /// and size, and every write is a new file renamed into place; S3's is
    /// the object's hash); `None` where the backend gives none.
    pub tag: Option<String>,
}

/// One log under a scope, its key relative to the scope that listed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub key: ObjectKey,
    /// How many records it holds.
    pub records: u64,
}

/// What a [`Scope::modify`] step decided to do with the object it was shown.
#[derive(Debug)]
pub enum Modification<T> {
    /// Store these bytes, then return `T`.
    Write(Vec<u8>, T),
    /// Leave the object as it is and return `T`.
    Keep(T),
}

/// What [`Store::check_versions`] found.
#[derive(Debug, Default)]
pub struct VersionCheck {
    /// Protected objects whose newest write the register holds, and that read.
    pub current: usize,
    /// Protected objects written before the register: each is covered from
    /// its next write.
    pub unmarked: usize,
    /// Each marked object that is rolled back, gone, or does not open.
    pub problems: Vec<StorageError>,
}

/// How often [`Scope::modify`] retries after losing a compare-and-swap.
const MODIFY_ATTEMPTS: u32 = 64;

impl Store {
    /// Opens the store and checks that it answers, the bucket exists and the
    /// credentials work, so a misconfiguration fails here and not on first use.
    /// What this process sees of the version register is remembered in memory
    /// only; [`Store::open_anchored`] remembers it across restarts too.
    pub async fn open(location: &Location, sealing: Sealing) -> Result<Self, StorageError> {
        Self::open_with(location, sealing, None, "store").await
    }

    /// Opens the store as [`Store::open`] does, keeping the highest change of
    /// each part of the version register this machine has seen in an anchor
    /// file under `anchors` (the data directory), out of the bucket's reach:
    /// a register rolled back below it is refused after a restart too.
    /// `role` names which of the stores sealed under one master key this is
    /// (`secrets`, `state`, `audit`): a register part is sealed to it, so a
    /// part copied from another of them (an audit bucket's into the state
    /// bucket, to empty a part of its marks) does not open.
    pub async fn open_anchored(
        location: &Location,
        sealing: Sealing,
        anchors: &std::path::Path,
        role: &str,
    ) -> Result<Self, StorageError> {
        Self::open_with(location, sealing, Some(anchors), role).await
    }

    async fn open_with(
        location: &Location,
        sealing: Sealing,
        anchors: Option<&std::path::Path>,
        role: &str,
    ) -> Result<Self, StorageError> {
        let backend = match (location, &sealing) {
            (Location::Remote(options), Sealing::Delegated) => Backend::remote(options)?,
            (Location::Remote(_), _) => {
                return Err(StorageError::Config(
                    "a remote store is sealed by the edge: use Sealing::Delegated".into(),
                ));
            }
            (_, Sealing::Delegated) => {
                return Err(StorageError::Config(
                    "only a remote store can delegate sealing".into(),
                ));
            }
            (Location::Local(options), _) => Backend::local(options)?,
            (Location::S3(options), _) => Backend::s3(options)?,
        };
        backend.probe().await?;
        let register = match &sealing {
            Sealing::Envelope(_) => Some(Register::new(anchors, backend.endpoint(), role)?),
            Sealing::Plaintext | Sealing::Delegated => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                backend,
                sealing,
                register,
            }),
        })
    }

    /// Reads the whole version register as it is in the bucket (a register
    /// rolled back below what this machine saw is the error) and reads every
    /// object it marks, collecting what is rolled back, vanished or does not
    /// open; counts the protected objects it does not mark yet. Nothing is
    /// written. A store that is not sealed here has no register: all zero.
    pub async fn check_versions(&self) -> Result<VersionCheck, StorageError> {
        let (Sealing::Envelope(master), Some(register)) =
            (&self.inner.sealing, &self.inner.register)
        else {
            return Ok(VersionCheck::default());
        };
        let marks = register.all_marks(&self.inner.backend, master).await?;
        let root = self.root();
        let mut check = VersionCheck::default();
        let mut marked = std::collections::HashSet::new();
        for (key, mark) in marks {
            // Only keys that parsed were ever marked; anything else is not ours.
            let Ok(key) = ObjectKey::parse(&key) else {
                continue;
            };
            marked.insert(key.clone());
            if mark.gone {
                continue;
            }
            match root.get(&key).await {
                Ok(_) => check.current += 1,
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => check.problems.push(e),
            }
        }
        check.unmarked = root
            .list()
            .await?
            .into_iter()
            .filter(|entry| register::protects(&entry.key) && !marked.contains(&entry.key))
            .count();
        Ok(check)
    }

    /// The whole store. Only the edge holds this; everything else gets a sub-scope.
    pub fn root(&self) -> Scope {
        Scope {
            store: self.clone(),
            prefix: None,
        }
    }

    /// Where the objects live, e.g. `file:///var/lib/hardshell/objects`.
    pub fn endpoint(&self) -> &str {
        self.inner.backend.endpoint()
    }

    pub fn is_encrypted(&self) -> bool {
        matches!(self.inner.sealing, Sealing::Envelope(_))
    }

    /// The master key and the register, when `key` is one the register covers.
    fn guard(&self, key: &ObjectKey) -> Option<(&MasterKey, &Register)> {
        match (&self.inner.sealing, &self.inner.register) {
            (Sealing::Envelope(master), Some(register)) if register::protects(key) => {
                Some((master, register))
            }
            _ => None,
        }
    }

    fn seal(&self, key: &ObjectKey, plaintext: &[u8]) -> Result<Bytes, StorageError> {
        match &self.inner.sealing {
            Sealing::Envelope(master) => envelope::seal_stamped(master, key.as_str(), 0, plaintext)
                .map(Bytes::from)
                .map_err(|source| unseal_error(key, source)),
            Sealing::Plaintext | Sealing::Delegated => Ok(Bytes::copy_from_slice(plaintext)),
        }
    }

    fn open_sealed(
        &self,
        key: &ObjectKey,
        stored: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, StorageError> {
        match &self.inner.sealing {
            Sealing::Envelope(master) => envelope::open(master, key.as_str(), stored)
                .map_err(|source| unseal_error(key, source)),
            Sealing::Plaintext if stored.starts_with(b"HSE1") => Err(StorageError::Unseal {
                key: key.to_string(),
                source: EnvelopeError::Malformed {
                    reason: "the object is encrypted but storage encryption is turned off",
                },
            }),
            Sealing::Plaintext | Sealing::Delegated => Ok(Zeroizing::new(stored.to_vec())),
        }
    }
}

fn unseal_error(key: &ObjectKey, source: EnvelopeError) -> StorageError {
    StorageError::Unseal {
        key: key.to_string(),
        source,
    }
}

impl Scope {
    /// The prefix this scope is confined to; `None` for the root.
    pub fn prefix(&self) -> Option<&ObjectKey> {
        self.prefix.as_ref()
    }

    /// A narrower scope: `self/child`.
    pub fn scope(&self, child: &ObjectKey) -> Result<Scope, StorageError> {
        Ok(Scope {
            store: self.store.clone(),
            prefix: Some(self.full_key(child)?),
        })
    }

    fn full_key(&self, key: &ObjectKey) -> Result<ObjectKey, StorageError> {
        match &self.prefix {
            Some(prefix) => Ok(prefix.join(key)?),
            None => Ok(key.clone()),
        }
    }

    /// Reads and opens an object. `Ok(None)` when it does not exist.
    pub async fn get(&self, key: &ObjectKey) -> Result<Option<Versioned>, StorageError> {
        let full = self.full_key(key)?;
        let raw = self.store.inner.backend.get(&path(&full)).await?;
        if let Some((master, register)) = self.store.guard(&full) {
            return self.get_protected(&full, raw, master, register).await;
        }
        let Some(raw) = raw else {
            return Ok(None);
        };
        Ok(Some(Versioned {
            value: self.store.open_sealed(&full, &raw.bytes)?,
            version: raw.version,
        }))
    }

    /// A read of a protected key, judged by the register: an older copy than
    /// hardshell last wrote is refused, a copy of a deleted object is absent.
    async fn get_protected(
        &self,
        full: &ObjectKey,
        raw: Option<RawObject>,
        master: &MasterKey,
        register: &Register,
    ) -> Result<Option<Versioned>, StorageError> {
        let backend = &self.store.inner.backend;
        let opened = open_protected(master, full, raw)?;
        let judged = register
            .judge(backend, master, full, stamp_of(&opened))
            .await;
        if let Ok(verdict) = judged {
            return Ok(current(verdict, opened));
        }
        // The object was read before its part: another process may have
        // written or deleted it in between. Judged again in the order that
        // rules that out: the part first, then the object. A mark is raised
        // only after its object is written, and an object is replaced only
        // by a higher stamp, so an object read after its part is older than
        // the mark only if it was put back.
        let held = register.current(backend, master, full).await?;
        let opened = open_protected(master, full, backend.get(&path(full)).await?)?;
        let stamp = stamp_of(&opened);
        let verdict = match register::verdict(full, held.mark(full), stamp) {
            // Deleted since the part was read: its tombstone is there now.
            Err(StorageError::Vanished { .. }) => {
                let held = register.current(backend, master, full).await?;
                register::verdict(full, held.mark(full), stamp)?
            }
            judged => judged?,
        };
        if let (Verdict::Deleted, Some(_)) = (&verdict, &opened) {
            tracing::warn!(object = %full, "a copy of a deleted object is in the storage; reading it as absent");
        }
        Ok(current(verdict, opened))
    }

    /// Writes an object, replacing whatever is there.
    pub async fn put(&self, key: &ObjectKey, value: &[u8]) -> Result<Version, StorageError> {
        self.write(key, value, WriteMode::Overwrite).await
    }

    /// Writes an object only if none exists; otherwise [`StorageError::Conflict`].
    pub async fn create(&self, key: &ObjectKey, value: &[u8]) -> Result<Version, StorageError> {
        self.write(key, value, WriteMode::Create).await
    }

    /// Writes an object only if it is still at `expected`; otherwise
    /// [`StorageError::Conflict`] (also when it was deleted meanwhile).
    pub async fn update(
        &self,
        key: &ObjectKey,
        value: &[u8],
        expected: &Version,
    ) -> Result<Version, StorageError> {
        self.write(key, value, WriteMode::Update(expected)).await
    }

    async fn write(
        &self,
        key: &ObjectKey,
        value: &[u8],
        mode: WriteMode<'_>,
    ) -> Result<Version, StorageError> {
        let full = self.full_key(key)?;
        if let Some((master, register)) = self.store.guard(&full) {
            return self
                .write_protected(&full, value, mode, master, register)
                .await;
        }
        let sealed = self.store.seal(&full, value)?;
        let location = path(&full);
        // Only envelope-sealed bodies are unique (fresh nonces); plaintext bodies of
        // two writers can be identical, so the recovery below would take another
        // writer's success for ours and lose an update.
        let recoverable = !matches!(mode, WriteMode::Overwrite)
            && matches!(self.store.inner.sealing, Sealing::Envelope(_));
        self.put_sealed(&location, sealed, mode, recoverable).await
    }

    async fn put_sealed(
        &self,
        location: &Path,
        sealed: Bytes,
        mode: WriteMode<'_>,
        recoverable: bool,
    ) -> Result<Version, StorageError> {
        let backend = &self.store.inner.backend;
        match backend.put(location, sealed.clone(), mode).await {
            // A conditional write can be retried after its first attempt already
            // succeeded but the response was lost; the retry then reports a conflict
            // against our own write. If the store holds exactly our (unique, sealed)
            // bytes, the write is ours. This narrows, but cannot close, the window:
            // if another writer replaces our bytes before this read, the caller sees
            // a conflict for a write that happened.
            Err(StorageError::Conflict { key }) if recoverable => {
                match backend.get(location).await {
                    Ok(Some(current)) if current.bytes == sealed => Ok(current.version),
                    _ => Err(StorageError::Conflict { key }),
                }
            }
            other => other,
        }
    }

    /// A write of a protected key: stamped one past both the register's mark
    /// and the object it replaces, written by compare-and-swap even when the
    /// caller asked to overwrite (an overwrite that loses a race tries again,
    /// so the last writer still wins), and then marked in the register.
    async fn write_protected(
        &self,
        full: &ObjectKey,
        value: &[u8],
        mode: WriteMode<'_>,
        master: &MasterKey,
        register: &Register,
    ) -> Result<Version, StorageError> {
        let backend = &self.store.inner.backend;
        let location = path(full);
        let overwrite = matches!(mode, WriteMode::Overwrite);
        let mut backoff = Backoff::new();
        for _ in 0..MODIFY_ATTEMPTS {
            let (held, there) = tokio::try_join!(
                register.current(backend, master, full),
                backend.get(&location)
            )?;
            let mark = held.mark(full);
            let there_stamp = there.as_ref().and_then(|raw| {
                envelope::open_stamped(master, full.as_str(), &raw.bytes)
                    .ok()
                    .map(|opened| opened.stamp)
            });
            // A copy of a deleted object is in the way, not there.
            let there_live = match (&there, mark) {
                (None, _) => false,
                (Some(_), Some(mark)) if mark.gone => there_stamp.is_some_and(|s| s > mark.stamp),
                (Some(_), _) => true,
            };
            let stamp = next_stamp(full, mark, there_stamp)?;
            let conflict = || StorageError::Conflict {
                key: full.to_string(),
            };
            let effective = match (&mode, &there) {
                (WriteMode::Create, Some(_)) if there_live => return Err(conflict()),
                (WriteMode::Update(expected), Some(raw))
                    if there_live && raw.version == **expected =>
                {
                    WriteMode::Update(expected)
                }
                (WriteMode::Update(_), _) => return Err(conflict()),
                (WriteMode::Create | WriteMode::Overwrite, Some(raw)) => {
                    WriteMode::Update(&raw.version)
                }
                (WriteMode::Create | WriteMode::Overwrite, None) => WriteMode::Create,
            };
            let sealed = envelope::seal_stamped(master, full.as_str(), stamp, value)
                .map(Bytes::from)
                .map_err(|source| unseal_error(full, source))?;
            match self.put_sealed(&location, sealed, effective, true).await {
                Ok(version) => {
                    let mark = Mark {
                        stamp,
                        gone: false,
                        until: None,
                    };
                    register.raise(backend, master, full, mark, held).await?;
                    // A delete that raced this write can remove it after
                    // marking its tombstone below this stamp, and check its
                    // mark before this one is raised. Then the mark must say
                    // deleted, or the key reads as vanished.
                    if backend.get(&location).await?.is_none() {
                        let held = register.current(backend, master, full).await?;
                        let gone = Mark { gone: true, ..mark };
                        register.raise(backend, master, full, gone, held).await?;
                    }
                    return Ok(version);
                }
                Err(StorageError::Conflict { .. }) if overwrite => backoff.wait().await,
                Err(e) => return Err(e),
            }
        }
        Err(StorageError::Conflict {
            key: full.to_string(),
        })
    }

    /// A delete of a protected key: its tombstone is marked first, so a crash
    /// between the two leaves a copy that reads as absent, never a hole.
    async fn delete_protected(
        &self,
        full: &ObjectKey,
        void_after: Option<i64>,
        master: &MasterKey,
        register: &Register,
    ) -> Result<(), StorageError> {
        let backend = &self.store.inner.backend;
        let location = path(full);
        let (held, there) = tokio::try_join!(
            register.current(backend, master, full),
            backend.get(&location)
        )?;
        let mark = held.mark(full);
        if there.is_none() && mark.is_none_or(|mark| mark.gone) {
            return Ok(());
        }
        let there_stamp = there.as_ref().and_then(|raw| {
            envelope::open_stamped(master, full.as_str(), &raw.bytes)
                .ok()
                .map(|opened| opened.stamp)
        });
        let tombstone = Mark {
            stamp: next_stamp(full, mark, there_stamp)?,
            gone: true,
            until: void_after,
        };
        register
            .raise(backend, master, full, tombstone, held)
            .await?;
        backend.delete(&location).await?;
        // A write that slipped in between the tombstone and the delete was
        // removed with it: its mark must say so, or the key reads as vanished.
        let held = register.current(backend, master, full).await?;
        if let Some(mark) = held.mark(full)
            && !mark.gone
            && mark.stamp > tombstone.stamp
        {
            let mark = Mark {
                gone: true,
                until: void_after,
                ..mark
            };
            register.raise(backend, master, full, mark, held).await?;
        }
        Ok(())
    }

    /// Deletes an object. Deleting a missing object succeeds.
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        self.delete_marked(key, None).await
    }

    /// Deletes an object that carries its own expiry, `void_after`: a copy
    /// put back after that is refused by what it says, so its tombstone in
    /// the version register is forgotten then, and a store of short-lived
    /// records (login sessions) does not grow the register forever. Before
    /// then a copy put back reads as absent, as after [`Scope::delete`].
    pub async fn delete_void_after(
        &self,
        key: &ObjectKey,
        void_after: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StorageError> {
        self.delete_marked(key, Some(void_after.timestamp())).await
    }

    async fn delete_marked(
        &self,
        key: &ObjectKey,
        void_after: Option<i64>,
    ) -> Result<(), StorageError> {
        let full = self.full_key(key)?;
        if let Some((master, register)) = self.store.guard(&full) {
            return self
                .delete_protected(&full, void_after, master, register)
                .await;
        }
        self.store.inner.backend.delete(&path(&full)).await
    }

    /// Every object under this scope, keys relative to it, sorted.
    pub async fn list(&self) -> Result<Vec<Entry>, StorageError> {
        let prefix = self.prefix.as_ref().map(path);
        let listed = self.store.inner.backend.list(prefix.as_ref()).await?;
        let mut entries: Vec<Entry> = listed
            .into_iter()
            .filter_map(|item| {
                if register::is_register(item.path.as_ref()) || is_log_record(item.path.as_ref())
                {
                    return None;
                }
                let key = match ObjectKey::parse(item.path.as_ref()) {
                    Ok(key) => key,
                    Err(e) => {
                        tracing::warn!(object = %item.path, error = %e, "skipping an object whose key hardshell did not write");
                        return None;
                    }
                };
                let key = match &self.prefix {
                    Some(prefix) => key.strip_prefix(prefix)?,
                    None => key,
                };
                Some(Entry {
                    key,
                    size: item.size,
                    last_modified: item.last_modified,
                    tag: item.tag,
                })
            })
            .collect();
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(entries)
    }

    /// Read-modify-write with compare-and-swap: shows `step` the current plaintext
    /// (`None` if absent) and writes what it returns, only if nobody else wrote in
    /// between. On a lost race it backs off (with jitter) and calls `step` again on
    /// the newer value, so concurrent modifiers of one object lose no update.
    pub async fn modify<T, E, F>(&self, key: &ObjectKey, mut step: F) -> Result<T, E>
    where
        F: FnMut(Option<&[u8]>) -> Result<Modification<T>, E>,
        E: From<StorageError>,
    {
        let mut backoff = Backoff::new();
        for _ in 0..MODIFY_ATTEMPTS {
            let current = self.get(key).await?;
            let decision = step(current.as_ref().map(|c| c.value.as_slice()))?;
            let (bytes, output) = match decision {
                Modification::Keep(output) => return Ok(output),
                Modification::Write(bytes, output) => (bytes, output),
            };
            let written = match &current {
                Some(current) => self.update(key, &bytes, &current.version).await,
                None => self.create(key, &bytes).await,
            };
            match written {
                Ok(_) => return Ok(output),
                Err(StorageError::Conflict { .. }) => backoff.wait().await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StorageError::Conflict {
            key: self.full_key(key)?.to_string(),
        }
        .into())
    }
}

/// Logs: records appended one at a time under one key, numbered from 0
/// without gaps, each sealed with its key and number as associated data (a
/// record moved to another place or log does not open). An append says
/// which number it is: the one writer that gives the log's length wins, any
/// other gets [`StorageError::Conflict`]. A log is one file per key in the
/// local directory (an append is one write and one flush) and one object
/// per record on S3. Logs do not show in [`Scope::list`]; [`Scope::logs`]
/// lists them. The version register does not cover them: a key it protects
/// cannot be a log.
impl Scope {
    /// Appends `record` to the log `key` as its record number `at`, only if
    /// the log holds exactly `at` records; otherwise [`StorageError::Conflict`].
    /// Durable before it returns.
    pub async fn append(
        &self,
        key: &ObjectKey,
        at: u64,
        record: &[u8],
    ) -> Result<(), StorageError> {
        let full = self.log_key(key)?;
        let sealed = match &self.store.inner.sealing {
            Sealing::Envelope(master) => envelope::seal(master, &record_aad(&full, at), record)
                .map(Bytes::from)
                .map_err(|source| unseal_error(&full, source))?,
            Sealing::Plaintext | Sealing::Delegated => Bytes::copy_from_slice(record),
        };
        // A record is read back as an object is, within the same bound: one
        // over it would stop every read of its log there.
        if sealed.len() as u64 > crate::backend::MAX_OBJECT_BYTES {
            return Err(StorageError::Config(format!(
                "a record of {} bytes for log {full} is over the {}-byte limit",
                record.len(),
                crate::backend::MAX_OBJECT_BYTES
            )));
        }
        let backend = &self.store.inner.backend;
        match backend.append_log(full.as_str(), at, sealed.clone()).await {
            // An append whose answer was lost and that was tried again meets
            // its own record: sealed bytes are unique (fresh nonces), so the
            // record there being exactly ours says the append happened.
            Err(StorageError::Conflict { key }) if self.store.is_encrypted() => {
                match backend.read_log(full.as_str(), at, 1, 0).await {
                    Ok(there) if there.first() == Some(&sealed) => Ok(()),
                    _ => Err(StorageError::Conflict { key }),
                }
            }
            other => other,
        }
    }

    /// Up to `max` records of the log `key` from number `from`, oldest first:
    /// fewer when the log ends, or when more would pass a few MiB (at least
    /// one is given, though). None when there is no record `from`.
    pub async fn read_log(
        &self,
        key: &ObjectKey,
        from: u64,
        max: usize,
    ) -> Result<Vec<Zeroizing<Vec<u8>>>, StorageError> {
        let full = self.log_key(key)?;
        let stored = self
            .store
            .inner
            .backend
            .read_log(
                full.as_str(),
                from,
                max.max(1),
                crate::backend::LOG_READ_BUDGET,
            )
            .await?;
        let mut records = Vec::with_capacity(stored.len());
        for (at, bytes) in (from..).zip(stored) {
            let record = match &self.store.inner.sealing {
                Sealing::Envelope(master) => envelope::open(master, &record_aad(&full, at), &bytes)
                    .map_err(|source| StorageError::Unseal {
                        key: record_aad(&full, at),
                        source,
                    })?,
                Sealing::Plaintext if bytes.starts_with(b"HSE1") => {
                    return Err(StorageError::Unseal {
                        key: record_aad(&full, at),
                        source: EnvelopeError::Malformed {
                            reason: "the record is encrypted but storage encryption is turned off",
                        },
                    });
                }
                Sealing::Plaintext | Sealing::Delegated => Zeroizing::new(bytes.to_vec()),
            };
            records.push(record);
        }
        Ok(records)
    }

    /// Every log under this scope, keys relative to it, sorted.
    pub async fn logs(&self) -> Result<Vec<LogEntry>, StorageError> {
        let prefix = self.prefix.as_ref().map(ObjectKey::as_str);
        let listed = self.store.inner.backend.logs(prefix).await?;
        let mut entries: Vec<LogEntry> = listed
            .into_iter()
            .filter_map(|(log, records)| {
                let key = match ObjectKey::parse(&log) {
                    Ok(key) => key,
                    Err(e) => {
                        tracing::warn!(log, error = %e, "skipping a log whose key hardshell did not write");
                        return None;
                    }
                };
                let key = match &self.prefix {
                    Some(prefix) => key.strip_prefix(prefix)?,
                    None => key,
                };
                Some(LogEntry { key, records })
            })
            .collect();
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(entries)
    }

    /// Removes the log `key` and its records. Removing a missing log succeeds.
    pub async fn delete_log(&self, key: &ObjectKey) -> Result<(), StorageError> {
        let full = self.log_key(key)?;
        self.store.inner.backend.delete_log(full.as_str()).await
    }

    fn log_key(&self, key: &ObjectKey) -> Result<ObjectKey, StorageError> {
        let full = self.full_key(key)?;
        if self.store.guard(&full).is_some() {
            return Err(StorageError::Config(format!(
                "{full} is a key the version register protects, and cannot be a log"
            )));
        }
        Ok(full)
    }
}

/// What a log's record is sealed to: its log and its number. No object key
/// has a `#`, so no object's seal is a record's.
fn record_aad(log: &ObjectKey, at: u64) -> String {
    format!("{log}#{at}")
}

/// Whether `path` (a raw path in the bucket) is a record of a log.
fn is_log_record(path: &str) -> bool {
    path.starts_with(".logs/")
}

fn open_protected(
    master: &MasterKey,
    full: &ObjectKey,
    raw: Option<RawObject>,
) -> Result<Option<(envelope::Opened, Version)>, StorageError> {
    match raw {
        Some(raw) => Ok(Some((
            envelope::open_stamped(master, full.as_str(), &raw.bytes)
                .map_err(|source| unseal_error(full, source))?,
            raw.version,
        ))),
        None => Ok(None),
    }
}

fn stamp_of(opened: &Option<(envelope::Opened, Version)>) -> Option<u64> {
    opened.as_ref().map(|(opened, _)| opened.stamp)
}

/// What a protected read returns, once judged.
fn current(verdict: Verdict, opened: Option<(envelope::Opened, Version)>) -> Option<Versioned> {
    match verdict {
        Verdict::Deleted => None,
        Verdict::Current => opened.map(|(opened, version)| Versioned {
            value: opened.value,
            version,
        }),
    }
}

/// One past both the register's mark and the stamp of the object there.
fn next_stamp(
    key: &ObjectKey,
    mark: Option<Mark>,
    there: Option<u64>,
) -> Result<u64, StorageError> {
    let highest = mark.map_or(0, |mark| mark.stamp).max(there.unwrap_or(0));
    // Only a planted object near u64::MAX, sealed by someone who holds the
    // master key, could get here.
    highest
        .checked_add(1)
        .ok_or_else(|| StorageError::RegisterDamaged {
            part: key.to_string(),
            detail: "no stamp left above the newest".into(),
        })
}

fn path(key: &ObjectKey) -> Path {
    // Keys contain only [A-Za-z0-9._-/], which object_store's Path keeps verbatim.
    Path::from(key.as_str())
}

/// Exponential backoff with full jitter, from 2 ms up to 250 ms.
struct Backoff {
    ceiling: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self {
            ceiling: Duration::from_millis(2),
        }
    }

    async fn wait(&mut self) {
        let mut random = [0u8; 4];
        // Jitter only spreads retries out; if the OS RNG fails, a fixed wait is still correct.
        let fraction = match getrandom::fill(&mut random) {
            Ok(()) => f64::from(u32::from_le_bytes(random)) / f64::from(u32::MAX),
            Err(_) => 0.5,
        };
        tokio::time::sleep(self.ceiling.mul_f64(fraction)).await;
        self.ceiling = (self.ceiling * 2).min(Duration::from_millis(250));
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("endpoint", &self.endpoint())
            .field("encrypted", &self.is_encrypted())
            .finish()
    }
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("store", &self.store)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl std::fmt::Debug for Versioned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The value may be a secret; show only its size.
        f.debug_struct("Versioned")
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .field("version", &self.version)
            .finish()
    }
}
