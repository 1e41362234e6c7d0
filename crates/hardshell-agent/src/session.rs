//! Conversations in storage: one object per message, created only if absent, so
//! two writers can never both store message N of a session, and an appended
//! message is durable before its sequence number is returned.
//!
//! Layout under the agent's scope:
//! - `sessions/<id>/messages/<seq, 12 digits>`: a [`StoredMessage`] as JSON;
//! - `sessions/<id>/meta`: title and created time, written with the session's
//!   first message; a summary for listing that can always be rebuilt from the
//!   messages. The last message gives `updated` and the count.
//!
//! Stored messages never change, so each store keeps the recent tail of the
//! sessions it has seen in memory: a turn's history costs one read (is there a
//! message after the ones known?) instead of a listing and a read per message,
//! and a store sharing the scope with other writers still sees their messages.

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
/// message from `messages.front()` (or `next_seq` when empty) up to `next_seq`.
#[derive(Debug, Clone)]
struct Tail {
    messages: VecDeque<StoredMessage>,
    next_seq: u64,
    /// Whether the session's summary has a title.
    titled: bool,
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
        let known = self.tail(id);
        // Where to try first: what this store knows, else the summary's count —
        // only hints either way; the create-if-absent below is what decides.
        let mut seq = match &known {
            Some(tail) => tail.next_seq,
            None => self.meta(id).await?.map_or(0, |meta| meta.message_count),
        };
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
            match self.scope.create(&message_key(id, seq)?, &bytes).await {
                Ok(_) => {
                    let titled = known.as_ref().is_some_and(|tail| tail.titled);
                    if seq == 0 || (!titled && title_of(message).is_some()) {
                        self.record_summary(id, seq, at, message).await;
                    }
                    self.remember(id, stored);
                    return Ok(seq);
                }
                Err(e) if e.is_conflict() => {
                    let last = self.message_seqs(id).await?.last().copied().unwrap_or(0);
                    seq = (seq + 1).max(last + 1);
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
            while let Some(message) = self.message(id, tail.next_seq).await? {
                tail.next_seq = message.seq + 1;
                tail.messages.push_back(message);
            }
            let from_the_start = tail
                .messages
                .front()
                .map_or(tail.next_seq == 0, |m| m.seq == 0);
            if limit <= tail.messages.len() || from_the_start {
                let skip = tail.messages.len().saturating_sub(limit);
                let newest: Vec<StoredMessage> = tail.messages.iter().skip(skip).cloned().collect();
                self.keep(id, tail);
                return Ok(newest);
            }
        }
        let seqs = self.message_seqs(id).await?;
        let mut messages = Vec::new();
        for seq in &seqs[seqs.len().saturating_sub(limit.max(CACHED_MESSAGES))..] {
            if let Some(message) = self.message(id, *seq).await? {
                messages.push(message);
            }
        }
        // Only a tail without gaps can stand for the session's newest messages.
        let contiguous = messages
            .windows(2)
            .all(|pair| pair[1].seq == pair[0].seq + 1);
        if contiguous {
            let next_seq = seqs.last().map_or(0, |last| last + 1);
            if messages.last().is_none_or(|m| m.seq + 1 == next_seq) {
                let titled = self
                    .meta(id)
                    .await?
                    .is_some_and(|meta| meta.title.is_some());
                self.keep(
                    id,
                    Tail {
                        messages: messages.iter().cloned().collect(),
                        next_seq,
                        titled,
                    },
                );
            }
        }
        let skip = messages.len().saturating_sub(limit);
        Ok(messages.split_off(skip))
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
            tail.messages.pop_front();
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
            if message.seq == 0 {
                self.keep(
                    id,
                    Tail {
                        next_seq: 1,
                        titled: title_of(&message.message).is_some(),
                        messages: VecDeque::from([message]),
                    },
                );
            }
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
        // Session id → its message numbers; a session with only a `meta` has none.
        let mut found: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for entry in sessions.list().await? {
            let parts: Vec<&str> = entry.key.as_str().split('/').collect();
            match parts.as_slice() {
                [id, "meta"] => {
                    found.entry((*id).to_owned()).or_default();
                }
                [id, "messages", seq] => {
                    if let Ok(seq) = seq.parse() {
                        found.entry((*id).to_owned()).or_default().push(seq);
                    }
                }
                _ => {}
            }
        }
        let mut summaries = Vec::new();
        for (text, seqs) in found {
            let Ok(id) = SessionId::parse(&text) else {
                continue;
            };
            let last = match seqs.last() {
                Some(seq) => self.message(&id, *seq).await?,
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
                (None, _) => summaries.extend(self.rebuild_summary(id, &seqs).await?),
            }
        }
        summaries.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.id.cmp(&b.id)));
        Ok(summaries)
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

    pub(crate) async fn message(
        &self,
        id: &SessionId,
        seq: u64,
    ) -> Result<Option<StoredMessage>, SessionError> {
        let Some(stored) = self.scope.get(&message_key(id, seq)?).await? else {
            return Ok(None);
        };
        match serde_json::from_slice(&stored.value) {
            Ok(message) => Ok(Some(message)),
            Err(e) => {
                tracing::warn!(session = %id, seq, error = %e, "skipping a stored message that does not decode");
                Ok(None)
            }
        }
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

    /// A summary for a session whose `meta` is missing (a crash between its first
    /// message and the summary).
    async fn rebuild_summary(
        &self,
        id: SessionId,
        seqs: &[u64],
    ) -> Result<Option<SessionSummary>, SessionError> {
        let (Some(first), Some(last)) = (seqs.first(), seqs.last()) else {
            return Ok(None);
        };
        let first = self.message(&id, *first).await?;
        let last = self.message(&id, *last).await?;
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(None);
        };
        Ok(Some(SessionSummary {
            title: title_of(&first.message),
            created: first.at,
            updated: last.at,
            message_count: last.seq + 1,
            id,
        }))
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
