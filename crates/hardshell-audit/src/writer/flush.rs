//! One flush: queued records into segments, then the head.

use std::sync::Arc;

use hardshell_storage::{ObjectKey, StorageError, Version};

use super::{OpenSegment, Pending, Queue, Shared, Stored};
use crate::AuditError;
use crate::layout::{Head, StoredLog};

impl Shared {
    /// [`Shared::flush`] in a task of its own, for callers whose future may be
    /// dropped (an HTTP handler whose client went away): dropping a flush half-way
    /// could leave a write done but its new version unrecorded, and the next
    /// compare-and-swap would then fail as if another writer existed.
    pub(super) async fn flush_detached(
        self: &Arc<Self>,
        through: Option<u64>,
    ) -> Result<(), AuditError> {
        let shared = Arc::clone(self);
        match tokio::spawn(async move { shared.flush(through).await }).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(AuditError::Interrupted {
                log: self.log.id().to_string(),
            }),
        }
    }

    /// Ships queued records, all of them or (with `through`) at least up to that
    /// seq, then updates the head. Records leave the queue only once stored, and
    /// what this writer knows of storage changes only after a write succeeded.
    pub(super) async fn flush(&self, through: Option<u64>) -> Result<(), AuditError> {
        let mut stored = self.stored.lock().await;
        let durable = stored.durable.map_or(0, |(seq, _)| seq);
        if through.is_some_and(|seq| seq <= durable) {
            return Ok(());
        }
        let batch = {
            let mut queue = self.lock_queue();
            if let Some(object) = &queue.halted {
                return Err(self.halted_error(object));
            }
            queue.forget_stored(durable);
            queue.pending.iter().cloned().collect::<Vec<_>>()
        };
        let result = match self.append(&mut stored, &batch).await {
            Ok(()) => self.write_head(&mut stored).await,
            Err(e) => Err(e),
        };
        let mut queue = self.lock_queue();
        queue.forget_stored(stored.durable.map_or(0, |(seq, _)| seq));
        match &result {
            Ok(()) => queue.disk_full = false,
            Err(AuditError::ConcurrentWriter { object, .. }) => {
                queue.halted = Some(object.clone());
            }
            Err(AuditError::Storage { source, .. }) if source.is_full() => {
                queue.disk_full = true;
            }
            Err(_) => {}
        }
        result
    }

    /// Appends `batch` to the current segment, starting new segments as limits
    /// are reached. `stored.durable` says how far it got.
    async fn append(&self, stored: &mut Stored, batch: &[Pending]) -> Result<(), AuditError> {
        let mut written = 0;
        while let Some(first) = batch.get(written) {
            let segment = stored.segment.get_or_insert_with(|| OpenSegment {
                first_seq: first.seq,
                bytes: Vec::new(),
                records: 0,
                version: None,
            });
            let mut bytes = segment.bytes.clone();
            let mut records = segment.records;
            let mut taken = 0;
            for pending in &batch[written..] {
                // An empty segment takes a record however large, so every pass
                // makes progress.
                if records > 0 && !self.fits(records + 1, bytes.len() + pending.line.len()) {
                    break;
                }
                bytes.extend_from_slice(&pending.line);
                records += 1;
                taken += 1;
            }
            if taken == 0 {
                // The current segment is full: the next pass starts a new one.
                stored.segment = None;
                continue;
            }
            let key = StoredLog::segment_key(segment.first_seq);
            let version = self.write(&key, &bytes, segment.version.as_ref()).await?;
            segment.bytes = bytes;
            segment.records = records;
            segment.version = Some(version);
            written += taken;
            let last = &batch[written - 1];
            stored.durable = Some((last.seq, last.hash));
        }
        Ok(())
    }

    async fn write_head(&self, stored: &mut Stored) -> Result<(), AuditError> {
        let Some((seq, hash)) = stored.durable else {
            return Ok(());
        };
        if stored.head_seq == Some(seq) {
            return Ok(());
        }
        let head = serde_json::to_vec(&Head { seq, hash }).map_err(|e| self.encode_error(e))?;
        let version = self
            .write(&StoredLog::head_key(), &head, stored.head_version.as_ref())
            .await?;
        stored.head_version = Some(version);
        stored.head_seq = Some(seq);
        tracing::debug!(log = %self.log.id(), seq, %hash, "audit head");
        Ok(())
    }

    /// Create-if-absent or update-if-unchanged; never a blind overwrite.
    async fn write(
        &self,
        key: &ObjectKey,
        bytes: &[u8],
        expected: Option<&Version>,
    ) -> Result<Version, AuditError> {
        let scope = self.log.scope();
        let result = match expected {
            Some(version) => scope.update(key, bytes, version).await,
            None => scope.create(key, bytes).await,
        };
        result.map_err(|e| match e {
            StorageError::Conflict { .. } => AuditError::ConcurrentWriter {
                log: self.log.id().to_string(),
                object: self.log.describe(key),
            },
            other => self.log.storage_error(other),
        })
    }

    /// Whether a segment of this many records and bytes is within the limits.
    fn fits(&self, records: u64, bytes: usize) -> bool {
        records <= self.options.max_segment_records.get() && bytes <= self.options.max_segment_bytes
    }
}

impl Queue {
    /// Drops queued records that are already stored, and notes how far storage got.
    fn forget_stored(&mut self, durable_seq: u64) {
        while self.pending.front().is_some_and(|p| p.seq <= durable_seq) {
            self.pending.pop_front();
        }
        self.durable_seq = durable_seq;
    }
}
