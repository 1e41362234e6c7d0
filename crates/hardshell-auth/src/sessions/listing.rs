//! Sessions as an admin sees them: one entry per chain, named by its handle,
//! and ended by naming it.
//!
//! Listing reads every record (a personal instance has a handful); a chain is
//! shown once, with its live link's times. A record written before handles
//! existed is named by the first 16 hex digits of its storage key (a digest of
//! the cookie, not the cookie), so it too can be ended.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{SessionError, SessionRecord, SessionStore};
use crate::random;
use crate::{Method, Principal};

/// How many random bytes a handle has: 128 bits, hex.
const HANDLE_BYTES: usize = 16;

/// The admin-facing id of a session chain. Not a credential: it cannot be
/// presented as a cookie, and knowing it only lets an admin end the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SessionHandle(String);

impl SessionHandle {
    pub(super) fn generate() -> Result<Self, SessionError> {
        Ok(Self(random::hex_id(HANDLE_BYTES)?))
    }

    /// A handle as a pending hand-over stored it (`handoff.rs`): it names a
    /// chain only if a record carries it, so a made-up one names none.
    pub(crate) fn from_stored(handle: String) -> Self {
        Self(handle)
    }

    pub(super) fn into_string(self) -> String {
        self.0
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One live session, as `GET /admin/sessions` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    pub id: SessionHandle,
    pub subject: String,
    pub email: Option<String>,
    pub method: Method,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl SessionStore {
    /// Every live session chain, oldest first.
    pub async fn list(&self, now: DateTime<Utc>) -> Result<Vec<SessionInfo>, SessionError> {
        let mut sessions: Vec<SessionInfo> = Vec::new();
        for (digest, record) in self.records().await? {
            let live = now < record.expires_at
                && record
                    .replaced
                    .as_ref()
                    .is_none_or(|replaced| now < replaced.grace_until);
            let id = handle_of(&digest, &record);
            if !live || sessions.iter().any(|shown| shown.id == id) {
                continue;
            }
            sessions.push(SessionInfo {
                id,
                subject: record.principal.subject,
                email: record.principal.email,
                method: record.principal.method,
                created_at: record.created_at,
                expires_at: record.expires_at,
            });
        }
        sessions.sort_by_key(|session| session.created_at);
        Ok(sessions)
    }

    /// Ends every link of the chain named `id`, and announces it. Returns its
    /// principal, or `None` when no session has that id.
    pub async fn revoke_handle(&self, id: &str) -> Result<Option<Principal>, SessionError> {
        let mut ended = None;
        for (digest, record) in self.records().await? {
            let handle = handle_of(&digest, &record);
            if handle.as_str() == id {
                self.forget(&digest, Some(&record)).await?;
                ended = Some((handle, record.principal));
            }
        }
        Ok(ended.map(|(handle, principal)| {
            self.announce(handle);
            principal
        }))
    }

    /// Every readable record with its digest (its storage key).
    pub(super) async fn records(&self) -> Result<Vec<(String, SessionRecord)>, SessionError> {
        let mut records = Vec::new();
        for entry in self.scope.list().await? {
            let Some(object) = self.scope.get(&entry.key).await? else {
                continue;
            };
            match serde_json::from_slice::<SessionRecord>(&object.value) {
                Ok(record) => records.push((entry.key.as_str().to_owned(), record)),
                Err(_) => {
                    // Not named: its key is the cookie's digest, and the
                    // handle of a record from before handles existed.
                    tracing::warn!("skipping an unreadable session record")
                }
            }
        }
        Ok(records)
    }
}

/// The handle of the chain `record` (stored under `digest`) belongs to.
pub(super) fn handle_of(digest: &str, record: &SessionRecord) -> SessionHandle {
    match &record.handle {
        Some(handle) => SessionHandle(handle.clone()),
        None => SessionHandle(digest.chars().take(16).collect()),
    }
}
