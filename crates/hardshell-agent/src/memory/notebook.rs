//! The owner's side of memory: notes listed, read, replaced and deleted as the
//! markdown files they are (`hardshell memory`). A replacement names the version
//! it was edited from, so an edit never silently overwrites a note the agent
//! saved in the meantime.

use hardshell_storage::{ObjectKey, Scope, StorageError, Version};

use super::{MAX_NOTE_BODY_BYTES, MemoryError, note};

/// Largest note file the owner may store: the agent's body limit plus room for
/// the front matter.
pub const MAX_NOTE_FILE_BYTES: usize = MAX_NOTE_BODY_BYTES + 4096;

/// Memory notes as files.
#[derive(Debug, Clone)]
pub struct Notebook {
    notes: Scope,
}

/// One note as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSummary {
    pub slug: String,
    pub title: String,
    pub tags: Vec<String>,
    pub bytes: usize,
}

/// A note file and the version it was read at.
#[derive(Debug, Clone)]
pub struct NoteFile {
    pub text: String,
    pub version: Version,
}

impl Notebook {
    /// The notes in `agent` (the agent's storage scope).
    pub fn new(agent: &Scope) -> Result<Self, MemoryError> {
        Ok(Self {
            notes: agent.scope(&ObjectKey::parse("memory/notes").map_err(StorageError::from)?)?,
        })
    }

    /// Every note, sorted by slug.
    pub async fn list(&self) -> Result<Vec<NoteSummary>, MemoryError> {
        let mut notes = Vec::new();
        for entry in self.notes.list().await? {
            let Some(slug) = entry.key.as_str().strip_suffix(".md") else {
                continue;
            };
            if slug.contains('/') {
                continue;
            }
            let Some(stored) = self.notes.get(&entry.key).await? else {
                continue; // deleted since the listing
            };
            let parsed = note::parse(slug, &String::from_utf8_lossy(&stored.value));
            notes.push(NoteSummary {
                slug: slug.to_owned(),
                title: parsed.title,
                tags: parsed.tags,
                bytes: stored.value.len(),
            });
        }
        Ok(notes)
    }

    /// A note's file, or `None` when there is no such note.
    pub async fn read(&self, slug: &str) -> Result<Option<NoteFile>, MemoryError> {
        let Some(stored) = self.notes.get(&key(slug)?).await? else {
            return Ok(None);
        };
        Ok(Some(NoteFile {
            text: String::from_utf8_lossy(&stored.value).into_owned(),
            version: stored.version,
        }))
    }

    /// Stores `text` as the note `slug`: as a new note when `edited_from` is
    /// `None` (refused if one exists), else only if the note is still at that
    /// version ([`MemoryError::Changed`] if it is not).
    pub async fn write(
        &self,
        slug: &str,
        text: &str,
        edited_from: Option<&Version>,
    ) -> Result<Version, MemoryError> {
        let key = key(slug)?;
        if text.trim().is_empty() {
            return Err(invalid(slug, "the note is empty (use delete to remove it)"));
        }
        if text.len() > MAX_NOTE_FILE_BYTES {
            return Err(invalid(
                slug,
                &format!(
                    "the note is {} bytes, more than {MAX_NOTE_FILE_BYTES}",
                    text.len()
                ),
            ));
        }
        let written = match edited_from {
            None => self.notes.create(&key, text.as_bytes()).await,
            Some(version) => self.notes.update(&key, text.as_bytes(), version).await,
        };
        written.map_err(|e| match e {
            StorageError::Conflict { .. } => MemoryError::Changed {
                slug: slug.to_owned(),
            },
            e => e.into(),
        })
    }

    /// Deletes a note; `false` when there was none.
    pub async fn delete(&self, slug: &str) -> Result<bool, MemoryError> {
        let key = key(slug)?;
        if self.notes.get(&key).await?.is_none() {
            return Ok(false);
        }
        self.notes.delete(&key).await?;
        Ok(true)
    }
}

/// The object key of a note, refusing anything that is not a slug as the agent
/// makes them (lower-case ASCII letters, digits and single dashes).
fn key(slug: &str) -> Result<ObjectKey, MemoryError> {
    if !note::is_slug(slug) {
        return Err(invalid(
            slug,
            "not a note name: use lower-case letters, digits and dashes, as `hardshell memory list` shows them",
        ));
    }
    Ok(ObjectKey::parse(&format!("{slug}.md")).map_err(StorageError::from)?)
}

fn invalid(slug: &str, reason: &str) -> MemoryError {
    MemoryError::InvalidNote {
        title: slug.to_owned(),
        reason: reason.to_owned(),
    }
}
