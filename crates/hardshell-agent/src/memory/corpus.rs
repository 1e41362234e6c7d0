//! The documents memory search ranks: notes, read fresh for each search, and
//! conversation messages, read once each (a stored message never changes) and
//! kept until they disappear from storage.

use std::collections::BTreeMap;

use futures::StreamExt;
use hardshell_llm::Role;
use hardshell_protocol::StoredMessage;
use hardshell_storage::{ObjectKey, Scope, StorageError};

use super::bm25::Terms;
use super::note::Note;
use super::{HitSource, MemoryError};
use crate::{Circle, SessionId, SessionStore};

/// How many messages are read from storage at once when the cache fills.
const PARALLEL_READS: usize = 8;

pub(crate) struct Document {
    pub source: HitSource,
    pub text: String,
    pub terms: Terms,
}

impl Document {
    pub fn of_note(slug: &str, note: Note) -> Self {
        let text = format!("{}\n{}\n{}", note.title, note.tags.join(" "), note.body);
        Self {
            terms: Terms::of(&text),
            source: HitSource::Note {
                slug: slug.to_owned(),
                title: note.title,
            },
            text,
        }
    }
}

/// What a stored message gives to search: user and assistant text only.
fn document(id: &SessionId, seq: u64, stored: Option<StoredMessage>) -> Option<Document> {
    let stored = stored?;
    let searchable = matches!(stored.message.role, Role::User | Role::Assistant);
    let text = stored.message.text();
    (searchable && !text.trim().is_empty()).then(|| Document {
        terms: Terms::of(&text),
        source: HitSource::Message {
            session: id.clone(),
            seq,
            role: stored.message.role,
            at: stored.at,
        },
        text,
    })
}

pub(crate) struct Corpus {
    sessions: SessionStore,
    /// Every stored message seen, by session and sequence number; `None` for
    /// messages with nothing to search (tool results, unreadable objects).
    messages: BTreeMap<(SessionId, u64), Option<Document>>,
}

impl Corpus {
    pub fn new(sessions: SessionStore) -> Self {
        Self {
            sessions,
            messages: BTreeMap::new(),
        }
    }

    /// Brings the message cache in line with storage: reads new messages, forgets
    /// deleted ones.
    pub async fn refresh(&mut self, scope: &Scope) -> Result<(), MemoryError> {
        let sessions = scope.scope(&ObjectKey::parse("sessions").map_err(StorageError::from)?)?;
        let mut listed = Vec::new();
        for entry in sessions.list().await? {
            let parts: Vec<&str> = entry.key.as_str().split('/').collect();
            if let [id, "messages", seq] = parts.as_slice()
                && let (Ok(id), Ok(seq)) = (SessionId::parse(id), seq.parse::<u64>())
            {
                listed.push((id, seq));
            }
        }
        // Sessions kept as logs: each log's records are its messages 0..n.
        let mut logs = Vec::new();
        for log in sessions.logs().await? {
            if let [id, "log"] = log.key.as_str().split('/').collect::<Vec<_>>().as_slice()
                && let Ok(id) = SessionId::parse(id)
            {
                listed.extend((0..log.records).map(|seq| (id.clone(), seq)));
                logs.push((id, log.records));
            }
        }
        let keep: std::collections::BTreeSet<&(SessionId, u64)> = listed.iter().collect();
        self.messages.retain(|key, _| keep.contains(key));
        let in_logs: std::collections::BTreeSet<&SessionId> =
            logs.iter().map(|(id, _)| id).collect();
        let missing: Vec<(SessionId, u64)> = listed
            .iter()
            .filter(|key| !in_logs.contains(&key.0) && !self.messages.contains_key(key))
            .cloned()
            .collect();
        let sessions = &self.sessions;
        let mut reads = futures::stream::iter(missing)
            .map(|(id, seq)| async move {
                let read = sessions.message(&id, seq).await;
                (id, seq, read)
            })
            .buffer_unordered(PARALLEL_READS);
        let mut fetched = Vec::new();
        while let Some((id, seq, read)) = reads.next().await {
            fetched.push(((id.clone(), seq), document(&id, seq, read?)));
        }
        drop(reads);
        // A log is read on from the first message not held, a read at a time.
        for (id, records) in &logs {
            let mut next = (0..*records)
                .find(|seq| !self.messages.contains_key(&(id.clone(), *seq)))
                .unwrap_or(*records);
            while next < *records {
                let batch = sessions.log_messages(id, next).await?;
                let Some(last) = batch.last().map(|(seq, _)| *seq) else {
                    break;
                };
                for (seq, read) in batch {
                    fetched.push(((id.clone(), seq), document(id, seq, read)));
                }
                next = last + 1;
            }
        }
        self.messages.extend(fetched);
        Ok(())
    }

    /// Notes first, then the messages of `circle`'s sessions in session and
    /// sequence order, leaving out the messages of `current_turn`.
    pub fn documents<'a>(
        &'a self,
        notes: &'a [Document],
        circle: &Circle,
        current_turn: Option<(&SessionId, u64)>,
    ) -> Vec<&'a Document> {
        let in_current_turn = |id: &SessionId, seq: u64| {
            current_turn.is_some_and(|(session, from)| session == id && seq >= from)
        };
        notes
            .iter()
            .chain(
                self.messages
                    .iter()
                    .filter(|((id, seq), _)| !in_current_turn(id, *seq))
                    .filter(|((id, _), _)| &Circle::of(id) == circle)
                    .filter_map(|(_, document)| document.as_ref()),
            )
            .collect()
    }
}
