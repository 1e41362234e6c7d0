//! The object_store-backed stores: the local directory and S3-compatible buckets.

use std::error::Error as _;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::log::LocalLogs;
use super::{
    Listed, LocalOptions, MAX_OBJECT_BYTES, RawObject, S3Options, Version, WriteMode, local, s3,
};
use crate::StorageError;

pub(crate) struct Objects {
    store: Arc<dyn ObjectStore>,
    kind: Kind,
    /// Where the objects live, for error messages: `file:///…` or `http://host/bucket`.
    endpoint: String,
}

enum Kind {
    Local(local::Locks, Arc<LocalLogs>),
    S3 { bucket: String, logs: RecordsSeen },
}

/// How many records of each log this process knows exist on S3 (appended or
/// read): an append after one of them needs no look for its predecessor, so
/// a turn's message costs one request, as a message object did. Records are
/// removed only by [`Objects::delete_log`], which forgets the log here; one
/// deleted by another process meanwhile would let an append leave a gap,
/// and hardshell deletes a log only in a restore that failed.
#[derive(Default)]
struct RecordsSeen(std::sync::Mutex<std::collections::HashMap<String, u64>>);

/// Logs whose length [`RecordsSeen`] keeps; past this it starts over.
const LOGS_SEEN: usize = 4096;

impl RecordsSeen {
    fn at_least(&self, log: &str) -> u64 {
        self.lock().get(log).copied().unwrap_or(0)
    }

    fn saw(&self, log: &str, records: u64) {
        let mut seen = self.lock();
        if seen.len() >= LOGS_SEEN && !seen.contains_key(log) {
            seen.clear();
        }
        let known = seen.entry(log.to_owned()).or_default();
        *known = (*known).max(records);
    }

    fn forget(&self, log: &str) {
        self.lock().remove(log);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, u64>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Objects {
    pub(crate) fn local(options: &LocalOptions) -> Result<Self, StorageError> {
        let (store, locks) = local::open(options)?;
        Ok(Self {
            store,
            kind: Kind::Local(locks, Arc::new(LocalLogs::new(&options.objects))),
            endpoint: format!("file://{}", options.objects.display()),
        })
    }

    pub(crate) fn s3(options: &S3Options) -> Result<Self, StorageError> {
        Ok(Self {
            store: s3::open(options)?,
            kind: Kind::S3 {
                bucket: options.bucket.clone(),
                logs: RecordsSeen::default(),
            },
            endpoint: options.describe(),
        })
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Checks at start-up that the store answers, the bucket exists and the
    /// credentials are accepted, so a misconfiguration fails before any request.
    pub(crate) async fn probe(&self) -> Result<(), StorageError> {
        use futures::StreamExt;
        let mut listing = self.store.list(None);
        match listing.next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(self.classify("list", "", e)),
        }
    }

    pub(crate) async fn get(&self, path: &Path) -> Result<Option<RawObject>, StorageError> {
        let result = match self.store.get_opts(path, GetOptions::default()).await {
            Ok(result) => result,
            // S3 answers 404 for a missing key and for a missing bucket alike; only
            // the error body tells them apart.
            Err(e @ object_store::Error::NotFound { .. })
                if !names_missing_bucket(&error_chain(&e)) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(self.classify("get", path.as_ref(), e)),
        };
        if result.meta.size > MAX_OBJECT_BYTES {
            return Err(StorageError::Config(format!(
                "object {path} is {} bytes, over the {MAX_OBJECT_BYTES}-byte limit",
                result.meta.size
            )));
        }
        let version = Version::from_parts(result.meta.e_tag.clone(), result.meta.version.clone());
        let bytes = result
            .bytes()
            .await
            .map_err(|e| self.classify("get", path.as_ref(), e))?;
        Ok(Some(RawObject { bytes, version }))
    }

    pub(crate) async fn put(
        &self,
        path: &Path,
        bytes: Bytes,
        mode: WriteMode<'_>,
    ) -> Result<Version, StorageError> {
        let _guard = match &self.kind {
            Kind::Local(locks, _) => Some(locks.lock(path).await?),
            Kind::S3 { .. } => None,
        };
        if let (Kind::Local(..), WriteMode::Update(expected)) = (&self.kind, &mode) {
            // object_store's LocalFileSystem has no update-if-unchanged; under the lock
            // the check and the write below cannot interleave with another writer.
            let current = match self.store.head(path).await {
                Ok(meta) => Some(Version::from_parts(meta.e_tag, meta.version)),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => return Err(self.classify("head", path.as_ref(), e)),
            };
            if current.as_ref() != Some(*expected) {
                return Err(StorageError::Conflict {
                    key: path.to_string(),
                });
            }
        }
        let put_mode = match (&self.kind, &mode) {
            (_, WriteMode::Overwrite) | (Kind::Local(..), WriteMode::Update(_)) => {
                PutMode::Overwrite
            }
            (_, WriteMode::Create) => PutMode::Create,
            (Kind::S3 { .. }, WriteMode::Update(expected)) => PutMode::Update(expected.to_update()),
        };
        let options = PutOptions {
            mode: put_mode,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(path, PutPayload::from(bytes), options)
            .await
        {
            Ok(result) => Ok(Version::from_parts(result.e_tag, result.version)),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. }
                | object_store::Error::NotModified { .. },
            ) if !matches!(mode, WriteMode::Overwrite) => Err(StorageError::Conflict {
                key: path.to_string(),
            }),
            Err(e) => Err(self.classify("put", path.as_ref(), e)),
        }
    }

    pub(crate) async fn delete(&self, path: &Path) -> Result<(), StorageError> {
        let _guard = match &self.kind {
            Kind::Local(locks, _) => Some(locks.lock(path).await?),
            Kind::S3 { .. } => None,
        };
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.classify("delete", path.as_ref(), e)),
        }
    }

    pub(crate) async fn list(&self, prefix: Option<&Path>) -> Result<Vec<Listed>, StorageError> {
        use futures::TryStreamExt;
        let metas: Vec<_> = self
            .store
            .list(prefix)
            .try_collect()
            .await
            .map_err(|e| self.classify("list", prefix.map(|p| p.as_ref()).unwrap_or(""), e))?;
        Ok(metas
            .into_iter()
            .map(|meta| Listed {
                path: meta.location,
                size: meta.size,
                last_modified: meta.last_modified,
                tag: meta.e_tag,
            })
            .collect())
    }

    /// Appends `record` (sealed) to `log` as its record number `at`:
    /// [`StorageError::Conflict`] unless the log holds exactly `at` records.
    /// Locally one file per log (see [`super::log`]); on S3 one object per
    /// record, `.logs/<log>/<at>`, created only if absent and only after
    /// record `at - 1`, so the records of a log are numbered without gaps.
    pub(crate) async fn append_log(
        &self,
        log: &str,
        at: u64,
        record: Bytes,
    ) -> Result<(), StorageError> {
        match &self.kind {
            // Lock, write and flush on one blocking thread: the turn waits
            // for this, and each hop to a thread costs.
            Kind::Local(locks, logs) => {
                locked(locks, logs, log, move |logs, log| {
                    logs.append(log, at, &record)
                })
                .await
            }
            Kind::S3 { logs, .. } => {
                let conflict = || StorageError::Conflict {
                    key: log.to_owned(),
                };
                if let Some(before) = at.checked_sub(1)
                    && logs.at_least(log) < at
                {
                    match self.store.head(&record_path(log, before)).await {
                        Ok(_) => {}
                        Err(object_store::Error::NotFound { .. }) => return Err(conflict()),
                        Err(e) => return Err(self.classify("head", log, e)),
                    }
                }
                let options = PutOptions {
                    mode: PutMode::Create,
                    ..PutOptions::default()
                };
                let path = record_path(log, at);
                match self
                    .store
                    .put_opts(&path, PutPayload::from(record), options)
                    .await
                {
                    Ok(_) => {
                        logs.saw(log, at + 1);
                        Ok(())
                    }
                    Err(
                        object_store::Error::AlreadyExists { .. }
                        | object_store::Error::Precondition { .. },
                    ) => Err(conflict()),
                    Err(e) => Err(self.classify("append", log, e)),
                }
            }
        }
    }

    /// Up to `max` records of `log` from number `from`, as stored, and past
    /// the first no more than `budget` bytes.
    pub(crate) async fn read_log(
        &self,
        log: &str,
        from: u64,
        max: usize,
        budget: u64,
    ) -> Result<Vec<Bytes>, StorageError> {
        match &self.kind {
            Kind::Local(_, logs) => {
                let (logs, log) = (logs.clone(), log.to_owned());
                blocking(move || logs.read(&log, from, max, budget)).await
            }
            Kind::S3 { logs, .. } => {
                let mut records: Vec<Bytes> = Vec::new();
                let mut held = 0u64;
                for at in from.. {
                    if records.len() >= max || (!records.is_empty() && held > budget) {
                        break;
                    }
                    let Some(raw) = self.get(&record_path(log, at)).await? else {
                        break;
                    };
                    held += raw.bytes.len() as u64;
                    if !records.is_empty() && held > budget {
                        break;
                    }
                    records.push(raw.bytes);
                }
                if !records.is_empty() {
                    logs.saw(log, from + records.len() as u64);
                }
                Ok(records)
            }
        }
    }

    /// Every log under `prefix` (or all), with its record count.
    pub(crate) async fn logs(
        &self,
        prefix: Option<&str>,
    ) -> Result<Vec<(String, u64)>, StorageError> {
        match &self.kind {
            Kind::Local(_, logs) => {
                let (logs, prefix) = (logs.clone(), prefix.map(str::to_owned));
                blocking(move || logs.list(prefix.as_deref())).await
            }
            Kind::S3 { .. } => {
                let under = Path::from(match prefix {
                    Some(prefix) => format!("{LOGS}/{prefix}"),
                    None => LOGS.to_owned(),
                });
                let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
                for listed in self.list(Some(&under)).await? {
                    if let Some((log, _)) = record_of(listed.path.as_ref()) {
                        *counts.entry(log.to_owned()).or_default() += 1;
                    }
                }
                Ok(counts.into_iter().collect())
            }
        }
    }

    /// Removes a log: on S3 its records, newest first, so one cut short
    /// leaves a log without gaps.
    pub(crate) async fn delete_log(&self, log: &str) -> Result<(), StorageError> {
        match &self.kind {
            Kind::Local(locks, logs) => {
                locked(locks, logs, log, |logs, log| logs.delete(log)).await
            }
            Kind::S3 { logs, .. } => {
                logs.forget(log);
                let under = Path::from(format!("{LOGS}/{log}"));
                // Only this log's records: another log's key can go on below it.
                let mut records: Vec<Path> = self
                    .list(Some(&under))
                    .await?
                    .into_iter()
                    .map(|listed| listed.path)
                    .filter(|path| record_of(path.as_ref()).is_some_and(|(of, _)| of == log))
                    .collect();
                records.sort();
                for path in records.iter().rev() {
                    self.delete(path).await?;
                }
                Ok(())
            }
        }
    }

    /// Turns object_store's error into one that names the operator's next step.
    fn classify(&self, operation: &'static str, key: &str, e: object_store::Error) -> StorageError {
        let endpoint = self.endpoint.clone();
        let text = error_chain(&e);
        if let Kind::S3 { bucket, .. } = &self.kind
            && names_missing_bucket(&text)
        {
            return StorageError::BucketNotFound {
                bucket: bucket.clone(),
                endpoint,
            };
        }
        // Some object_store paths (listing, notably) wrap the HTTP status in a generic
        // error, so the S3 error code from the response body is the reliable signal.
        let denied_code = s3_error_code(&text).filter(|code| ACCESS_DENIED_CODES.contains(code));
        match e {
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => StorageError::AccessDenied {
                endpoint,
                what: if key.is_empty() {
                    "the bucket".into()
                } else {
                    key.to_owned()
                },
                detail: s3_error_code(&text).unwrap_or("403").to_owned(),
            },
            _ if denied_code.is_some() => StorageError::AccessDenied {
                endpoint,
                what: if key.is_empty() {
                    "the bucket".into()
                } else {
                    key.to_owned()
                },
                detail: denied_code.unwrap_or_default().to_owned(),
            },
            e if is_disk_full(&e) => StorageError::Full {
                operation,
                key: key.to_owned(),
                endpoint,
            },
            e if is_connect_error(&e) => StorageError::Unreachable {
                endpoint,
                detail: last_cause(&e),
            },
            source => StorageError::Backend {
                operation,
                key: key.to_owned(),
                endpoint,
                source: Box::new(source),
            },
        }
    }
}

/// S3 error codes (from the documented error responses) that mean "your credentials
/// or their permissions", as opposed to a fault that retrying could fix.
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "InvalidToken",
    "ExpiredToken",
    "AllAccessDisabled",
];

fn is_connect_error(e: &object_store::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(err) = cause {
        if let Some(http) = err.downcast_ref::<object_store::client::HttpError>() {
            return matches!(
                http.kind(),
                object_store::client::HttpErrorKind::Connect
                    | object_store::client::HttpErrorKind::Timeout
            );
        }
        cause = err.source();
    }
    false
}

/// Whether a local file write failed for lack of space or inodes.
fn is_disk_full(e: &object_store::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(err) = cause {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && crate::error::is_no_space(io)
        {
            return true;
        }
        cause = err.source();
    }
    false
}

fn names_missing_bucket(error_text: &str) -> bool {
    error_text.contains("NoSuchBucket")
        || error_text.contains("The specified bucket does not exist")
}

fn error_chain(e: &object_store::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(err) = cause {
        text.push_str(": ");
        text.push_str(&err.to_string());
        cause = err.source();
    }
    text
}

fn last_cause(e: &object_store::Error) -> String {
    let mut last = e.to_string();
    let mut cause = e.source();
    while let Some(err) = cause {
        last = err.to_string();
        cause = err.source();
    }
    last
}

/// The `<Code>` of an S3 XML error body, e.g. `SignatureDoesNotMatch`.
fn s3_error_code(text: &str) -> Option<&str> {
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    Some(&text[start..start + len])
}

/// Runs `work` on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageError::Task(e.to_string()))?
}

/// Runs `work` on `log` on a blocking thread, under the log's stripe lock.
async fn locked(
    locks: &local::Locks,
    logs: &Arc<LocalLogs>,
    log: &str,
    work: impl FnOnce(&LocalLogs, &str) -> Result<(), StorageError> + Send + 'static,
) -> Result<(), StorageError> {
    let stripe = locks.stripe(&Path::from(log));
    let (logs, log) = (logs.clone(), log.to_owned());
    blocking(move || {
        let _guard = local::lock_now(&stripe)?;
        work(&logs, &log)
    })
    .await
}

/// Where an S3 store keeps its logs' records (no key starts with `.`).
pub(crate) const LOGS: &str = ".logs";

fn record_path(log: &str, at: u64) -> Path {
    Path::from(format!("{LOGS}/{log}/{at:012}"))
}

/// The log and number a record's path names, if it is one.
fn record_of(path: &str) -> Option<(&str, &str)> {
    let (log, at) = path
        .strip_prefix(LOGS)?
        .strip_prefix('/')?
        .rsplit_once('/')?;
    (at.len() == 12 && at.bytes().all(|b| b.is_ascii_digit())).then_some((log, at))
}
