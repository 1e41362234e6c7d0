//! Conversations in storage. A session's messages are one log
//! (`Scope::append`): record N is message N, appended only as the log's Nth
//! record, so two writers can never both store message N of a session, and
//! an appended message is durable before its sequence number is returned. A
//! turn's message costs one write and one flush, not a new object.
//!
//! Layout under the agent's scope:
//! - `sessions/<id>/log`: the session's [`StoredMessage`]s as JSON, one record each;
//! - `sessions/<id>/messages/<seq, 12 digits>`: the same, one object per
//!   message, for sessions begun before logs (read and written on as they are);
//! - `sessions/<id>/meta`: title and created time, written with the session's
//!   first message; a summary for listing that can always be rebuilt from the
//!   messages. The last message gives `updated` and the count.
//!
//! Stored messages never change, so each store keeps the recent tail of the
//! sessions it has seen in memory: a turn's history costs one read (is there a
//! message after the ones known?) instead of reading the session again, and a
//! store sharing the scope with other writers still sees their messages.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use hardshell_llm::{Message, Role};
use hardshell_protocol::{SessionId, SessionIdError, SessionSummary, StoredMessage};
use hardshell_storage::{Modification, ObjectKey, Scope, StorageError};
use serde::{Deserialize, Serialize};

use crate::Clock;

/// How often an append looks for a free sequence number after losing a race.
const APPEND_ATTEMPTS: u32 = 16;
/// Longest session title, in characters.
const TITLE_CHARS: usize = 80;
/// Messages kept in memory per session (the newest).
const CACHED_MESSAGES: usize = 256;
/// Sessions kept in memory; past this the cache starts over.
const CACHED_SESSIONS: usize = 256;

/// The conversations of one agent, in its storage scope.
#[derive(Clone)]
pub struct SessionStore {
    scope: Scope,
    clock: Arc<dyn Clock>,
    tails: Arc<Mutex<HashMap<SessionId, Tail>>>,
}

/// The newest messages of a session as this store last saw them: every stored
/// message from number `from` up to `next_seq` (but those that do not decode).
#[derive(Debug, Clone)]
struct Tail {
    messages: VecDeque<StoredMessage>,
    from: u64,
    next_seq: u64,
    /// Whether the session's summary has a title.
    titled: bool,
    layout: Layout,
}

/// How a session's messages are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// One log, `sessions/<id>/log`: every session begun since logs came.
    Log,
    /// One object per message: the sessions begun before.
    Objects,
}

/// A session read from storage: its newest messages and where it goes on.
struct Loaded {
    /// The newest messages read, oldest first; skipped ones do not decode.
    messages: Vec<StoredMessage>,
    /// The number of the first message read.
    from: u64,
    next_seq: u64,
    layout: Layout,
    /// Whether `messages` are every message from `from` on that decodes.
    contiguous: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    InvalidId(#[from] SessionIdError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("session {session}: no free message number after {APPEND_ATTEMPTS} attempts")]
    Contended { session: SessionId },
    #[error("encode message for session {session}: {source}")]
    Encode {
        session: SessionId,
        source: serde_json::Error,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    title: Option<String>,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    message_count: u64,
}

impl SessionStore {
    /// Sessions under `scope` (the agent's own scope; keys start at `sessions/`).
    pub fn new(scope: Scope, clock: Arc<dyn Clock>) -> Self {
        Self {
            scope,
            clock,
            tails: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Stores `message` as the session's next message and returns its sequence
    /// number. Returns only once the message is durably stored; the session's
    /// summary is updated after that, and a failure there is logged, not returned,
    /// because the message itself is safe and the summary can be rebuilt.
    pub async fn append(&self, id: &SessionId, message: &Message) -> Result<u64, SessionError> {
        let at = self.clock.now();
        let known = match self.tail(id) {
            Some(tail) => tail,
            None => {
                // What the session holds already; kept as the tail when it
                // can stand for the session's newest messages.
                let loaded = self.load(id, 0).await?;
                self.keep_loaded(id, &loaded).await?;
                Tail {
                    messages: VecDeque::new(),
                    from: loaded.next_seq,
                    next_seq: loaded.next_seq,
                    titled: self.tail(id).is_some_and(|tail| tail.titled),
                    layout: loaded.layout,
                }
            }
        };
        // Only a hint: the append or create-if-absent below is what decides.
        let mut seq = known.next_seq;
        for _ in 0..APPEND_ATTEMPTS {
            let stored = StoredMessage {
                seq,
                at,
                message: message.clone(),
            };
            let bytes = serde_json::to_vec(&stored).map_err(|source| SessionError::Encode {
                session: id.clone(),
                source,
            })?;
            let written = match known.layout {
                Layout::Log => self.scope.append(&log_key(id)?, seq, &bytes).await,
                Layout::Objects => self
                    .scope
                    .create(&message_key(id, seq)?, &bytes)
                    .await
                    .map(|_| ()),
            };
            match written {
                Ok(()) => {
                    if seq == 0 || (!known.titled && title_of(message).is_some()) {
                        self.record_summary(id, seq, at, message).await;
                    }
                    self.remember(id, stored);
                    return Ok(seq);
                }
                Err(e) if e.is_conflict() => {
                    seq = match known.layout {
                        Layout::Log => self.log_length(id, seq).await?,
                        Layout::Objects => {
                            let last = self.message_seqs(id).await?.last().copied().unwrap_or(0);
                            (seq + 1).max(last + 1)
                        }
                    };
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(SessionError::Contended {
            session: id.clone(),
        })
    }

    /// The last `limit` messages of the session, oldest first. Messages that do not
    /// decode (edited by hand, damaged) are skipped with a warning.
    pub async fn history(
        &self,
        id: &SessionId,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, SessionError> {
        if let Some(mut tail) = self.tail(id) {
            // Messages another writer stored since.
            match tail.layout {
                Layout::Log => loop {
                    let newer = self.log_messages(id, tail.next_seq).await?;
                    let Some(last) = newer.last().map(|(seq, _)| *seq) else {
                        break;
                    };
                    tail.messages
                        .extend(newer.into_iter().filter_map(|(_, m)| m));
                    tail.next_seq = last + 1;
                },
                Layout::Objects => {
                    while let Some(message) = self.message(id, tail.next_seq).await? {
                        tail.next_seq = message.seq + 1;
                        tail.messages.push_back(message);
                    }
                }
            }
            let from_the_start = tail.from == 0;
            if limit <= tail.messages.len() || from_the_start {
                let skip = tail.messages.len().saturating_sub(limit);
                let newest: Vec<StoredMessage> = tail.messages.iter().skip(skip).cloned().collect();
                self.keep(id, tail);
                return Ok(newest);
            }
        }
        let mut loaded = self.load(id, limit).await?;
        self.keep_loaded(id, &loaded).await?;
        let skip = loaded.messages.len().saturating_sub(limit);
        Ok(loaded.messages.split_off(skip))
    }

    /// The session's newest `limit` messages now: what a message appended
    /// next comes after. From the tail kept in memory when there is one,
    /// as [`SessionStore::history_before`].
    pub async fn history_now(
        &self,
        id: &SessionId,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, SessionError> {
        let next = self.tail(id).map_or(u64::MAX, |tail| tail.next_seq);
        self.history_before(id, next, limit).await
    }

    /// The last `limit` messages before message `before`, oldest first: what
    /// a turn's prompt is built from once its user message is stored. Those
    /// never change (stored messages do not, and a log has no gaps), so a
    /// store that holds them answers without a read.
    pub async fn history_before(
        &self,
        id: &SessionId,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, SessionError> {
        if let Some(tail) = self.tail(id)
            && tail.next_seq >= before
        {
            let earlier: Vec<&StoredMessage> =
                tail.messages.iter().filter(|m| m.seq < before).collect();
            if earlier.len() >= limit || tail.from == 0 {
                let skip = earlier.len().saturating_sub(limit);
                return Ok(earlier.into_iter().skip(skip).cloned().collect());
            }
        }
        let newest = self
            .history(id, limit.saturating_add(1).max(CACHED_MESSAGES))
            .await?;
        let mut earlier: Vec<StoredMessage> =
            newest.into_iter().filter(|m| m.seq < before).collect();
        let skip = earlier.len().saturating_sub(limit);
        Ok(earlier.split_off(skip))
    }

    /// Reads the session's newest `want.max(CACHED_MESSAGES)` messages (a
    /// log's all, as it is read from its start) and how it is kept: a log
    /// when it has one, or when it has no message objects either (a new
    /// session).
    async fn load(&self, id: &SessionId, want: usize) -> Result<Loaded, SessionError> {
        let mut messages = Vec::new();
        let mut next_seq = 0;
        loop {
            let batch = self.log_messages(id, next_seq).await?;
            let Some(last) = batch.last().map(|(seq, _)| *seq) else {
                break;
            };
            messages.extend(batch.into_iter().filter_map(|(_, m)| m));
            next_seq = last + 1;
        }
        let seqs = match next_seq {
            0 => self.message_seqs(id).await?,
            _ => Vec::new(),
        };
        if seqs.is_empty() {
            // A log has no gaps: it is all here, from its first record.
            return Ok(Loaded {
                messages,
                from: 0,
                next_seq,
                layout: Layout::Log,
                contiguous: true,
            });
        }
        for seq in &seqs[seqs.len().saturating_sub(want.max(CACHED_MESSAGES))..] {
            if let Some(message) = self.message(id, *seq).await? {
                messages.push(message);
            }
        }
        let next_seq = seqs.last().map_or(0, |last| last + 1);
        // Only a tail without gaps can stand for the session's newest messages.
        let contiguous = messages
            .windows(2)
            .all(|pair| pair[1].seq == pair[0].seq + 1)
            && messages.last().is_none_or(|m| m.seq + 1 == next_seq);
        Ok(Loaded {
            from: messages.first().map_or(next_seq, |m| m.seq),
            messages,
            next_seq,
            layout: Layout::Objects,
            contiguous,
        })
    }

    /// Keeps what [`Self::load`] read as the session's tail, when it can
    /// stand for the session's newest messages.
    async fn keep_loaded(&self, id: &SessionId, loaded: &Loaded) -> Result<(), SessionError> {
        if !loaded.contiguous {
            return Ok(());
        }
        let titled = match loaded.next_seq {
            0 => false,
            _ => self
                .meta(id)
                .await?
                .is_some_and(|meta| meta.title.is_some()),
        };
        self.keep(
            id,
            Tail {
                messages: loaded.messages.iter().cloned().collect(),
                from: loaded.from,
                next_seq: loaded.next_seq,
                titled,
                layout: loaded.layout,
            },
        );
        Ok(())
    }

    /// The number of messages in the session's log, counted on from `known`
    /// (a number it is known to hold at least).
    async fn log_length(&self, id: &SessionId, known: u64) -> Result<u64, SessionError> {
        let mut length = known;
        loop {
            let batch = self
                .scope
                .read_log(&log_key(id)?, length, usize::MAX)
                .await?;
            if batch.is_empty() {
                return Ok(length);
            }
            length += batch.len() as u64;
        }
    }

    /// One read's worth of the session log's messages from `from`, each with
    /// its number; `None` for one that does not decode (skipped with a
    /// warning). Empty past the last.
    pub(crate) async fn log_messages(
        &self,
        id: &SessionId,
        from: u64,
    ) -> Result<Vec<(u64, Option<StoredMessage>)>, SessionError> {
        let records = self.scope.read_log(&log_key(id)?, from, usize::MAX).await?;
        Ok((from..)
            .zip(records)
            .map(|(seq, record)| (seq, decode(id, seq, &record)))
            .collect())
    }

    fn tail(&self, id: &SessionId) -> Option<Tail> {
        self.tails
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    fn keep(&self, id: &SessionId, mut tail: Tail) {
        while tail.messages.len() > CACHED_MESSAGES {
            if let Some(forgotten) = tail.messages.pop_front() {
                tail.from = forgotten.seq + 1;
            }
        }
        let mut tails = self.tails.lock().unwrap_or_else(PoisonError::into_inner);
        if tails.len() >= CACHED_SESSIONS && !tails.contains_key(id) {
            tails.clear();
        }
        tails.insert(id.clone(), tail);
    }

    /// Adds a message this store just created to what it knows of the session.
    fn remember(&self, id: &SessionId, message: StoredMessage) {
        let Some(mut tail) = self.tail(id) else {
            return;
        };
        if message.seq != tail.next_seq {
            // Someone else wrote in between: forget, and read it all next time.
            self.tails
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(id);
            return;
        }
        tail.titled |= title_of(&message.message).is_some();
        tail.next_seq = message.seq + 1;
        tail.messages.push_back(message);
        self.keep(id, tail);
    }

    /// Every session, most recently updated first.
    pub async fn list(&self) -> Result<Vec<SessionSummary>, SessionError> {
        let sessions = self.scope.scope(&key("sessions")?)?;
        // Session id → the numbers of its message objects and its log's
        // length; a session with only a `meta` has neither.
        let mut found: BTreeMap<String, (Vec<u64>, u64)> = BTreeMap::new();
        for entry in sessions.list().await? {
            let parts: Vec<&str> = entry.key.as_str().split('/').collect();
            match parts.as_slice() {
                [id, "meta"] => {
                    found.entry((*id).to_owned()).or_default();
                }
                [id, "messages", seq] => {
                    if let Ok(seq) = seq.parse() {
                        found.entry((*id).to_owned()).or_default().0.push(seq);
                    }
                }
                _ => {}
            }
        }
        for log in sessions.logs().await? {
            if let [id, "log"] = log.key.as_str().split('/').collect::<Vec<_>>().as_slice() {
                found.entry((*id).to_owned()).or_default().1 = log.records;
            }
        }
        let mut summaries = Vec::new();
        for (text, (seqs, logged)) in found {
            let Ok(id) = SessionId::parse(&text) else {
                continue;
            };
            let (first, last) = match logged.checked_sub(1) {
                Some(last) => (0, Some(last)),
                None => (seqs.first().copied().unwrap_or(0), seqs.last().copied()),
            };
            let last = match last {
                Some(seq) => self.read_message(&id, seq, logged > 0).await?,
                None => None,
            };
            match (self.meta(&id).await?, last) {
                (Some(meta), Some(last)) => summaries.push(SessionSummary {
                    id,
                    title: meta.title,
                    created: meta.created,
                    updated: last.at.max(meta.created),
                    message_count: last.seq + 1,
                }),
                (Some(meta), None) => summaries.push(SessionSummary {
                    id,
                    title: meta.title,
                    created: meta.created,
                    updated: meta.updated,
                    message_count: 0,
                }),
                (None, Some(last)) => {
                    // A crash between the session's first message and its summary.
                    if let Some(first) = self.read_message(&id, first, logged > 0).await? {
                        summaries.push(SessionSummary {
                            title: title_of(&first.message),
                            created: first.at,
                            updated: last.at,
                            message_count: last.seq + 1,
                            id,
                        });
                    }
                }
                (None, None) => {}
            }
        }
        summaries.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.id.cmp(&b.id)));
        Ok(summaries)
    }

    /// Message `seq` of the session, from its log or its objects.
    async fn read_message(
        &self,
        id: &SessionId,
        seq: u64,
        in_log: bool,
    ) -> Result<Option<StoredMessage>, SessionError> {
        if !in_log {
            return self.message(id, seq).await;
        }
        let records = self.scope.read_log(&log_key(id)?, seq, 1).await?;
        Ok(records.first().and_then(|record| decode(id, seq, record)))
    }

    /// Sequence numbers of the session's stored messages, ascending.
    pub(crate) async fn message_seqs(&self, id: &SessionId) -> Result<Vec<u64>, SessionError> {
        let messages = self.scope.scope(&messages_prefix(id)?)?;
        let mut seqs: Vec<u64> = messages
            .list()
            .await?
            .iter()
            .filter_map(|entry| entry.key.as_str().parse().ok())
            .collect();
        seqs.sort_unstable();
        Ok(seqs)
    }

    /// Message `seq` of a session kept as objects.
    pub(crate) async fn message(
        &self,
        id: &SessionId,
        seq: u64,
    ) -> Result<Option<StoredMessage>, SessionError> {
        let Some(stored) = self.scope.get(&message_key(id, seq)?).await? else {
            return Ok(None);
        };
        Ok(decode(id, seq, &stored.value))
    }

    async fn meta(&self, id: &SessionId) -> Result<Option<Meta>, SessionError> {
        let Some(stored) = self.scope.get(&meta_key(id)?).await? else {
            return Ok(None);
        };
        Ok(serde_json::from_slice(&stored.value).ok())
    }

    /// Writes the session's summary: on its first message, and until it has a
    /// title. Later messages do not touch it (listing reads the last message).
    async fn record_summary(&self, id: &SessionId, seq: u64, at: DateTime<Utc>, message: &Message) {
        let Ok(meta_key) = meta_key(id) else {
            return;
        };
        let updated = self
            .scope
            .modify(&meta_key, |current| {
                let meta = current.and_then(|bytes| serde_json::from_slice::<Meta>(bytes).ok());
                let mut meta = meta.unwrap_or(Meta {
                    title: None,
                    created: at,
                    updated: at,
                    message_count: 0,
                });
                meta.updated = meta.updated.max(at);
                meta.message_count = meta.message_count.max(seq + 1);
                if meta.title.is_none() {
                    meta.title = title_of(message);
                }
                let bytes = serde_json::to_vec(&meta).map_err(|source| SessionError::Encode {
                    session: id.clone(),
                    source,
                })?;
                Ok::<_, SessionError>(Modification::Write(bytes, ()))
            })
            .await;
        if let Err(e) = updated {
            tracing::warn!(session = %id, seq, error = %e, "message stored, but its session summary was not updated");
        }
    }
}

/// The session title a message gives: a user message's text on one line, cut to
/// [`TITLE_CHARS`] characters.
fn title_of(message: &Message) -> Option<String> {
    if message.role != Role::User {
        return None;
    }
    let text = message.text();
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return None;
    }
    let mut title: String = line.chars().take(TITLE_CHARS).collect();
    if line.chars().count() > TITLE_CHARS {
        title.push('…');
    }
    Some(title)
}

fn key(text: &str) -> Result<ObjectKey, StorageError> {
    Ok(ObjectKey::parse(text)?)
}

/// A stored message, or `None` (with a warning) when it does not decode or
/// names another number than the one it is stored as.
fn decode(id: &SessionId, seq: u64, bytes: &[u8]) -> Option<StoredMessage> {
    match serde_json::from_slice::<StoredMessage>(bytes) {
        Ok(message) if message.seq == seq => Some(message),
        Ok(message) => {
            tracing::warn!(session = %id, seq, claims = message.seq, "skipping a stored message stored under another number");
            None
        }
        Err(e) => {
            tracing::warn!(session = %id, seq, error = %e, "skipping a stored message that does not decode");
            None
        }
    }
}

fn log_key(id: &SessionId) -> Result<ObjectKey, StorageError> {
    key(&format!("sessions/{id}/log"))
}

fn messages_prefix(id: &SessionId) -> Result<ObjectKey, StorageError> {
    key(&format!("sessions/{id}/messages"))
}

fn message_key(id: &SessionId, seq: u64) -> Result<ObjectKey, StorageError> {
    key(&format!("sessions/{id}/messages/{seq:012}"))
}

fn meta_key(id: &SessionId) -> Result<ObjectKey, StorageError> {
    key(&format!("sessions/{id}/meta"))
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("scope", &self.scope)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_the_first_user_line_truncated() {
        assert_eq!(
            title_of(&Message::user("  Plan   my\ntrip ")),
            Some("Plan my trip".to_owned())
        );
        let long = title_of(&Message::user("x".repeat(200))).unwrap();
        assert_eq!(long.chars().count(), TITLE_CHARS + 1);
        assert!(long.ends_with('…'));
        assert_eq!(title_of(&Message::assistant("hello")), None);
        assert_eq!(title_of(&Message::user("   ")), None);
    }

    #[test]
    fn message_keys_sort_numerically() {
        let id = SessionId::parse("web-a").unwrap();
        let nine = message_key(&id, 9).unwrap();
        let ten = message_key(&id, 10).unwrap();
        assert_eq!(nine.as_str(), "sessions/web-a/messages/000000000009");
        assert!(nine < ten);
    }
}
