//! [`AuditLog`]: the writer. Records are chained in memory as they are made and
//! shipped to storage in batches; admin actions wait until theirs is stored.
//!
//! Storage writes, in order, for each flush:
//! 1. the current segment, rewritten with compare-and-swap against the version
//!    this writer last wrote (or created, if new); a new segment is started when
//!    the current one reaches its size or record limit;
//! 2. the head, with compare-and-swap, naming the last record now stored.
//!
//! Segments before head: a writer killed between the two leaves the head behind
//! the segments, which the next `open` repairs; the opposite order would leave a
//! head naming records that were never stored, indistinguishable from truncation.
//!
//! A lost compare-and-swap means another process writes the same log. The writer
//! then stops for good ([`AuditError::ConcurrentWriter`]) rather than overwrite
//! records it did not write.

mod flush;
mod recover;

use std::collections::VecDeque;
use std::num::{NonZeroU64, NonZeroUsize};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::Utc;
use hardshell_storage::{Scope, Version};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::layout::StoredLog;
use crate::record::Record;
use crate::{AuditError, AuditEvent, ChainHash, LogId};

/// How the writer batches and splits the log.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// How often buffered records are shipped. Zero is treated as one millisecond.
    pub flush_interval: Duration,
    /// A segment stops taking records once it is this large (a record larger than
    /// this still gets a segment of its own).
    pub max_segment_bytes: usize,
    /// A segment stops taking records once it holds this many.
    pub max_segment_records: NonZeroU64,
    /// Records waiting for storage beyond which [`AuditLog::record`] refuses more.
    pub max_backlog: NonZeroUsize,
}

// `match` because `unwrap` is not allowed here; both arms are decided at compile time.
const DEFAULT_SEGMENT_RECORDS: NonZeroU64 = match NonZeroU64::new(1_000) {
    Some(n) => n,
    None => panic!("non-zero"),
};
const DEFAULT_BACKLOG: NonZeroUsize = match NonZeroUsize::new(100_000) {
    Some(n) => n,
    None => panic!("non-zero"),
};

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            flush_interval: Duration::from_secs(1),
            // Each flush rewrites the current segment whole, so segments stay
            // small: on average a flush rewrites half of this.
            max_segment_bytes: 256 * 1024,
            max_segment_records: DEFAULT_SEGMENT_RECORDS,
            max_backlog: DEFAULT_BACKLOG,
        }
    }
}

/// The writer for one audit log. Share it behind an `Arc`; call
/// [`AuditLog::shutdown`] on the way out, or unflushed records are lost.
pub struct AuditLog {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
    /// The scope the log was opened in, which holds the other writers' logs too.
    scope: Scope,
}

struct Shared {
    log: StoredLog,
    options: AuditOptions,
    /// Records made but not yet stored, and the chain's tip. A plain mutex:
    /// [`AuditLog::record`] is synchronous and holds it only to append.
    queue: Mutex<Queue>,
    /// What this writer knows of storage. Held across a whole flush, so flushes
    /// never interleave.
    stored: tokio::sync::Mutex<Stored>,
    stop: Notify,
}

struct Queue {
    /// The last record made: `(seq, hash)`.
    tip: Option<(u64, ChainHash)>,
    /// Made but not yet stored, oldest first.
    pending: VecDeque<Pending>,
    /// The last seq known to be in storage.
    durable_seq: u64,
    /// Set when another writer was detected: the object that changed under us.
    halted: Option<String>,
    /// Set when the last flush met a full disk; cleared by the next flush that
    /// succeeds (the records it could not store stay queued, so that flush
    /// has to store them).
    disk_full: bool,
}

#[derive(Clone)]
struct Pending {
    seq: u64,
    hash: ChainHash,
    line: Vec<u8>,
}

struct Stored {
    /// The segment records are appended to; `None` before the first record.
    segment: Option<OpenSegment>,
    /// The last record in storage.
    durable: Option<(u64, ChainHash)>,
    /// The head object's version, `None` if it does not exist yet.
    head_version: Option<Version>,
    /// The seq the head object names.
    head_seq: Option<u64>,
}

struct OpenSegment {
    first_seq: u64,
    bytes: Vec<u8>,
    records: u64,
    /// `None` until the segment's first write.
    version: Option<Version>,
}

impl AuditLog {
    /// Opens log `log_id` under `scope`, continuing its chain from what is stored,
    /// and starts the background flush. Refuses a log whose last segment or head
    /// is not a valid continuation (see [`AuditError::Corrupt`], [`AuditError::Truncated`]).
    pub async fn open(
        scope: &Scope,
        log_id: &LogId,
        options: AuditOptions,
    ) -> Result<AuditLog, AuditError> {
        let log = StoredLog::new(scope, log_id)?;
        let recovered = recover::recover(&log).await?;
        let interval = options.flush_interval.max(Duration::from_millis(1));
        let durable_seq = recovered.stored.durable.map_or(0, |(seq, _)| seq);
        let shared = Arc::new(Shared {
            log,
            options,
            queue: Mutex::new(Queue {
                tip: recovered.stored.durable,
                pending: VecDeque::new(),
                durable_seq,
                halted: None,
                disk_full: false,
            }),
            stored: tokio::sync::Mutex::new(recovered.stored),
            stop: Notify::new(),
        });
        // A head left behind by a killed writer is brought up to date now.
        shared.flush(None).await?;
        let flusher = tokio::spawn(run_flusher(Arc::clone(&shared), interval));
        Ok(AuditLog {
            shared,
            flusher: Some(flusher),
            scope: scope.clone(),
        })
    }

    pub fn log_id(&self) -> &LogId {
        self.shared.log.id()
    }

    /// Where this log and its siblings (other writers' logs) are: for readers
    /// such as [`crate::search`] and [`crate::verify`].
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Chains `event` and queues it for the next flush; returns its seq. Cheap:
    /// for request events. Fails when the log has stopped (another writer),
    /// the disk holding it is full (the last flush said so), or the backlog is
    /// full (storage failing for a long time) — callers should then refuse the
    /// request rather than serve it unaudited.
    pub fn record(&self, event: AuditEvent) -> Result<u64, AuditError> {
        let shared = &self.shared;
        let mut queue = shared.lock_queue();
        if let Some(object) = &queue.halted {
            return Err(shared.halted_error(object));
        }
        if queue.disk_full {
            return Err(AuditError::StorageFull {
                log: shared.log.id().to_string(),
            });
        }
        if queue.pending.len() >= shared.options.max_backlog.get() {
            return Err(AuditError::BacklogFull {
                log: shared.log.id().to_string(),
                limit: shared.options.max_backlog.get(),
            });
        }
        let record =
            Record::next(queue.tip, Utc::now(), event).map_err(|e| shared.encode_error(e))?;
        let line = record.to_line().map_err(|e| shared.encode_error(e))?;
        queue.tip = Some((record.seq(), record.hash()));
        queue.pending.push_back(Pending {
            seq: record.seq(),
            hash: record.hash(),
            line,
        });
        Ok(record.seq())
    }

    /// Chains `event` and returns only once it (and everything before it) is in
    /// storage: for admin actions, which must survive a `kill -9` once
    /// acknowledged. On error the record stays queued and later flushes retry it,
    /// but the caller must not report the action as done.
    pub async fn record_durable(&self, event: AuditEvent) -> Result<u64, AuditError> {
        let seq = self.record(event)?;
        self.shared.flush_detached(Some(seq)).await?;
        Ok(seq)
    }

    /// [`record`](Self::record), with a refusal also logged as an error:
    /// every writer of the log (the edge, exec, the brokers) reports it the
    /// same way, under the event's type name and never its content.
    pub fn record_logged(&self, event: AuditEvent) -> Result<u64, AuditError> {
        let kind = event.type_name();
        self.record(event).inspect_err(|e| {
            tracing::error!(event = kind, error = %e, "audit record refused");
        })
    }

    /// [`record_logged`](Self::record_logged) for a fact that has already
    /// happened: the refusal is logged, not returned, as failing the caller
    /// would not undo what it records.
    pub fn note(&self, event: AuditEvent) {
        let _ = self.record_logged(event);
    }

    /// [`record_durable`](Self::record_durable), with a failure also logged
    /// as an error.
    pub async fn record_durable_logged(&self, event: AuditEvent) -> Result<u64, AuditError> {
        let kind = event.type_name();
        self.record_durable(event).await.inspect_err(|e| {
            tracing::error!(event = kind, error = %e, "durable audit record failed");
        })
    }

    /// Ships every record made so far.
    pub async fn flush(&self) -> Result<(), AuditError> {
        self.shared.flush_detached(None).await
    }

    /// Stops the background flush and ships what is left.
    pub async fn shutdown(mut self) -> Result<(), AuditError> {
        self.shared.stop.notify_one();
        if let Some(flusher) = self.flusher.take() {
            // The flusher finishes the flush it is in, so no write is cut off.
            let _ = flusher.await;
        }
        self.shared.flush_detached(None).await
    }

    /// Records made but not yet in storage (for a metrics gauge).
    pub fn backlog(&self) -> u64 {
        let queue = self.shared.lock_queue();
        queue.tip.map_or(0, |(seq, _)| seq) - queue.durable_seq
    }
}

impl Shared {
    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        // Every update under this lock is a push or a field write that cannot
        // panic half-way, so a poisoned queue is still consistent.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn halted_error(&self, object: &str) -> AuditError {
        AuditError::ConcurrentWriter {
            log: self.log.id().to_string(),
            object: object.to_owned(),
        }
    }

    fn encode_error(&self, source: serde_json::Error) -> AuditError {
        AuditError::Encode {
            log: self.log.id().to_string(),
            source,
        }
    }
}

/// Flushes every `interval` until [`AuditLog::shutdown`] or drop says stop. A
/// stop never interrupts a flush: it is only heard between flushes.
async fn run_flusher(shared: Arc<Shared>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shared.stop.notified() => return,
        }
        match shared.flush(None).await {
            Ok(()) => {}
            Err(e @ AuditError::ConcurrentWriter { .. }) => {
                tracing::error!(error = %e, "audit log stopped");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, backlog = shared.lock_queue().pending.len(), "audit flush failed; retrying")
            }
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.shared.stop.notify_one();
        let backlog = self.backlog();
        if backlog > 0 {
            tracing::warn!(log = %self.log_id(), backlog, "audit log dropped with unflushed records; call shutdown()");
        }
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("log", self.log_id())
            .field("backlog", &self.backlog())
            .finish_non_exhaustive()
    }
}
