//! [`search`]: the newest records of a log that match a filter, a page at a
//! time, for the admin page's audit view. [`log_ids`]: the logs in a scope.
//!
//! It reads segments from the newest back and stops when the page is full,
//! when the records are older than the filter's start, or after
//! [`Query::max_segments`] segments (a filter that matches nothing in a long
//! log answers with where to go on, not with a read of the whole log). Each
//! record's hash is checked as it is read; a line that fails is counted in
//! [`Page::damaged`], not shown: `verify` says what is wrong with it.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use hardshell_storage::Scope;

use crate::layout::{self, StoredLog};
use crate::record::Record;
use crate::{AuditError, LogId};

/// Which records [`search`] returns. Empty fields match everything.
#[derive(Debug, Clone)]
pub struct Query {
    /// Event type names (`token_created`); empty: every type.
    pub types: BTreeSet<String>,
    /// Matches a record whose `subject` or `actor` is exactly this.
    pub principal: Option<String>,
    /// Records at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Records before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only records with a seq below this: where the previous page ended.
    pub before_seq: Option<u64>,
    /// At most this many records.
    pub limit: usize,
    /// At most this many segments read for one page.
    pub max_segments: usize,
}

/// One page of matches, newest first.
#[derive(Debug)]
pub struct Page {
    pub records: Vec<Record>,
    /// Where to go on (`before_seq` of the next query) when older records
    /// may match; `None` when the log has nothing older for this filter.
    pub next_before: Option<u64>,
    /// Lines read that were not valid records.
    pub damaged: u64,
}

/// Every log id present in `scope` (`<id>/head`, `<id>/segments/...`), sorted.
pub async fn log_ids(scope: &Scope) -> Result<Vec<LogId>, AuditError> {
    let listed = scope.list().await.map_err(|source| AuditError::Storage {
        log: "*".to_owned(),
        source,
    })?;
    let mut ids = BTreeSet::new();
    for entry in listed {
        if let Some((first, _)) = entry.key.as_str().split_once('/') {
            ids.insert(first.to_owned());
        }
    }
    ids.iter().map(|id| LogId::new(id)).collect()
}

/// The newest records of log `log_id` under `scope` that `query` matches.
pub async fn search(scope: &Scope, log_id: &LogId, query: &Query) -> Result<Page, AuditError> {
    let log = StoredLog::new(scope, log_id)?;
    let mut segments: Vec<_> = log
        .list_segments()
        .await?
        .into_iter()
        .filter_map(|segment| segment.first_seq.map(|first| (first, segment.key)))
        .filter(|(first, _)| query.before_seq.is_none_or(|before| *first < before))
        .collect();
    segments.sort_by_key(|(first, _)| *first);
    let mut page = Page {
        records: Vec::new(),
        next_before: None,
        damaged: 0,
    };
    // The first seq of the oldest segment read so far: the next page's bound.
    let mut read_down_to = None;
    for (read, (first_seq, key)) in segments.iter().rev().enumerate() {
        if read == query.max_segments {
            page.next_before = read_down_to;
            return Ok(page);
        }
        read_down_to = Some(*first_seq);
        let Some(stored) = log.get(key).await? else {
            continue;
        };
        let mut older_than_since = false;
        let lines: Vec<&[u8]> = layout::lines(&stored.value).collect();
        for line in lines.into_iter().rev() {
            let record = match Record::read(line) {
                Ok(record) => record,
                Err(_) => {
                    page.damaged += 1;
                    continue;
                }
            };
            if query
                .before_seq
                .is_some_and(|before| record.seq() >= before)
            {
                continue;
            }
            if query.since.is_some_and(|since| record.time() < since) {
                older_than_since = true;
                continue;
            }
            if !matches(query, &record) {
                continue;
            }
            if page.records.len() == query.limit {
                page.next_before = page.records.last().map(Record::seq);
                return Ok(page);
            }
            page.records.push(record);
        }
        // Seqs follow time: once a whole segment's oldest records are before
        // `since`, every older segment's are too.
        if older_than_since {
            return Ok(page);
        }
    }
    Ok(page)
}

fn matches(query: &Query, record: &Record) -> bool {
    if query.until.is_some_and(|until| record.time() >= until) {
        return false;
    }
    if !query.types.is_empty() && !query.types.contains(record.event().type_name()) {
        return false;
    }
    match &query.principal {
        None => true,
        Some(principal) => {
            let Ok(fields) = serde_json::to_value(record.event()) else {
                return false;
            };
            ["subject", "actor"]
                .iter()
                .any(|field| fields.get(field).and_then(|v| v.as_str()) == Some(principal))
        }
    }
}
