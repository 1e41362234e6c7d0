//! The agent's long-term memory: markdown notes under `memory/notes/<slug>.md`
//! that the owner can read and edit, and ranked full-text search over those notes
//! and every past conversation.
//!
//! There is no stored index to drift out of date: the search corpus is rebuilt
//! from storage on each search. Stored messages never change once written, so
//! they are read once and kept; notes can be edited by anyone, so they are
//! re-read every time (there are few).

mod bm25;
mod corpus;
mod note;
mod notebook;

pub use notebook::{MAX_NOTE_FILE_BYTES, NoteFile, NoteSummary, Notebook};

use std::sync::Arc;

use hardshell_storage::{Modification, ObjectKey, Scope, StorageError};
use serde::Serialize;

use crate::{Circle, Clock, SessionError, SessionId, SessionStore};

use corpus::Corpus;

/// Largest note body the agent may save.
pub const MAX_NOTE_BODY_BYTES: usize = 64 * 1024;
/// Most results one search returns.
pub const MAX_SEARCH_RESULTS: usize = 20;

/// Notes and conversation search over the agent's storage scope.
#[derive(Clone)]
pub struct Memory {
    scope: Scope,
    clock: Arc<dyn Clock>,
    corpus: Arc<tokio::sync::Mutex<Corpus>>,
}

/// A note to save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteDraft {
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
}

/// Where a saved note went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedNote {
    pub slug: String,
    /// Whether a note with this slug existed and was replaced.
    pub replaced: bool,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    pub source: HitSource,
    pub score: f64,
    /// The text around the first matching term.
    pub snippet: String,
}

/// What a search result was found in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HitSource {
    Note {
        slug: String,
        title: String,
    },
    Message {
        session: SessionId,
        seq: u64,
        role: hardshell_llm::Role,
        at: chrono::DateTime<chrono::Utc>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("note {title:?}: {reason}")]
    InvalidNote { title: String, reason: String },
    #[error("note {slug:?} changed since it was read; nothing was written")]
    Changed { slug: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl Memory {
    /// Memory under `scope` (the agent's own scope), reading conversations through
    /// `sessions`, which must be over the same scope.
    pub fn new(scope: Scope, sessions: SessionStore, clock: Arc<dyn Clock>) -> Self {
        Self {
            scope,
            clock,
            corpus: Arc::new(tokio::sync::Mutex::new(Corpus::new(sessions))),
        }
    }

    /// Saves a note under the slug of its title, replacing a note with the same
    /// slug (keeping its `created` time). The write is a compare-and-swap on the
    /// version read, retried on conflict, so concurrent saves are applied one after
    /// the other, whole, and none is lost to a torn or blind overwrite.
    pub async fn save(&self, circle: &Circle, draft: &NoteDraft) -> Result<SavedNote, MemoryError> {
        let title = note::clean_title(&draft.title);
        let invalid = |reason: String| MemoryError::InvalidNote {
            title: title.clone(),
            reason,
        };
        if title.is_empty() {
            return Err(invalid("the title is empty".into()));
        }
        if draft.body.trim().is_empty() {
            return Err(invalid("the body is empty".into()));
        }
        if draft.body.len() > MAX_NOTE_BODY_BYTES {
            return Err(invalid(format!(
                "the body is {} bytes, more than {MAX_NOTE_BODY_BYTES}",
                draft.body.len()
            )));
        }
        let slug = note::slug(&title);
        let key = note_key(circle, &slug)?;
        let mut note = note::Note {
            title,
            tags: note::clean_tags(&draft.tags),
            created: None,
            body: draft.body.clone(),
        };
        let now = self.clock.now();
        let replaced = self
            .scope
            .modify(&key, |current| {
                note.created = current
                    .map(|bytes| note::parse(&slug, &String::from_utf8_lossy(bytes)))
                    .and_then(|old| old.created);
                let text = note::render(&note, now);
                Ok::<_, StorageError>(Modification::Write(text.into_bytes(), current.is_some()))
            })
            .await?;
        Ok(SavedNote { slug, replaced })
    }

    /// The `limit` best matches for `query` among `circle`'s notes and past
    /// messages, best first. `current_turn` (a session and the sequence number of the message
    /// that began the turn) leaves that turn's own messages out, so a search does
    /// not find the question that asked for it.
    pub async fn search(
        &self,
        circle: &Circle,
        query: &str,
        limit: usize,
        current_turn: Option<(&SessionId, u64)>,
    ) -> Result<Vec<SearchHit>, MemoryError> {
        let limit = limit.min(MAX_SEARCH_RESULTS);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let notes = self.notes(circle).await?;
        let mut corpus = self.corpus.lock().await;
        corpus.refresh(&self.scope).await?;
        let documents = corpus.documents(&notes, circle, current_turn);
        let terms: Vec<&bm25::Terms> = documents.iter().map(|d| &d.terms).collect();
        Ok(bm25::rank(&terms, query)
            .into_iter()
            .take(limit)
            .map(|(index, score)| SearchHit {
                source: documents[index].source.clone(),
                score: (score * 1000.0).round() / 1000.0,
                snippet: snippet(&documents[index].text, query),
            })
            .collect())
    }

    /// Every note of `circle`, read fresh.
    async fn notes(&self, circle: &Circle) -> Result<Vec<corpus::Document>, MemoryError> {
        let notes = self
            .scope
            .scope(&ObjectKey::parse(&circle.notes()).map_err(StorageError::from)?)?;
        let mut documents = Vec::new();
        for entry in notes.list().await? {
            let Some(slug) = entry.key.as_str().strip_suffix(".md") else {
                continue;
            };
            if slug.contains('/') {
                continue;
            }
            let Some(stored) = notes.get(&entry.key).await? else {
                continue;
            };
            let note = note::parse(slug, &String::from_utf8_lossy(&stored.value));
            documents.push(corpus::Document::of_note(slug, note));
        }
        Ok(documents)
    }
}

fn note_key(circle: &Circle, slug: &str) -> Result<ObjectKey, StorageError> {
    Ok(ObjectKey::parse(&format!("{}/{slug}.md", circle.notes()))?)
}

/// Characters of context kept before and after the first match.
const SNIPPET_BEFORE: usize = 60;
const SNIPPET_AFTER: usize = 180;

/// The text around the first term of `query` found in `text`, on one line.
fn snippet(text: &str, query: &str) -> String {
    let wanted: Vec<String> = bm25::tokenize(query).into_iter().map(|t| t.term).collect();
    let start = bm25::tokenize(text)
        .into_iter()
        .find(|token| wanted.contains(&token.term))
        .map_or(0, |token| token.start);
    let before: Vec<char> = text[..start].chars().collect();
    let from = before.len().saturating_sub(SNIPPET_BEFORE);
    let head: String = before[from..].iter().collect();
    let tail: String = text[start..].chars().take(SNIPPET_AFTER).collect();
    let mut snippet = String::new();
    if from > 0 {
        snippet.push('…');
    }
    snippet.push_str(
        &format!("{head}{tail}")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    );
    if text[start..].chars().count() > SNIPPET_AFTER {
        snippet.push('…');
    }
    snippet
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("scope", &self.scope)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_centre_on_the_first_match() {
        let text = format!(
            "{} the espresso machine is broken {}",
            "x ".repeat(100),
            "y ".repeat(200)
        );
        let cut = snippet(&text, "Espresso");
        assert!(cut.starts_with('…') && cut.ends_with('…'), "{cut}");
        assert!(cut.contains("the espresso machine is broken"));
        assert_eq!(snippet("short\n\ntext", "text"), "short text");
        assert_eq!(snippet("no match here", "zebra"), "no match here");
    }
}
