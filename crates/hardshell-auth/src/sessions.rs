//! Browser sessions: the cookie carries 256 random bits; storage holds only their
//! SHA-256, so a copied store yields no usable cookie.
//!
//! A session ends at a fixed time after login whatever the activity, and is
//! rotated (a new id issued, the old one kept for a short grace so requests
//! already in flight still pass) every [`ROTATE_EVERY`]. Logout deletes the
//! whole chain — the record, its successors and the predecessors still in
//! their grace: revocation is server-side and immediate.
//!
//! Every link of a chain carries the same [`SessionHandle`], a random id that is
//! not the cookie (nor derived from it): what an admin sees in a listing and
//! names to revoke someone's session ([`SessionStore::list`],
//! [`SessionStore::revoke_handle`]).
//!
//! A session may have children on origins of the upstream's own (`origin.rs`):
//! records of the same chain, valid only on the host they name, which end
//! with it.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hardshell_storage::{ObjectKey, Scope, StorageError};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::Principal;
use crate::random::{self, RandomError};
use crate::revocation::{RevocationFeed, Revoked};

mod listing;
mod origin;

pub use listing::{SessionHandle, SessionInfo};

const ID_BYTES: usize = 32;
/// Links followed in either direction of a chain; a chain is a few links at
/// most (one per rotation within a grace period).
const MAX_CHAIN: usize = 16;
/// How often a session's id is replaced.
pub const ROTATE_EVERY: Duration = Duration::from_secs(15 * 60);
/// How long a replaced id keeps working, for requests already in flight.
pub const ROTATION_GRACE: Duration = Duration::from_secs(60);

/// A session id as the cookie carries it. Redacted in `Debug`.
pub struct SessionId(Zeroizing<String>);

impl SessionId {
    /// The cookie value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionRecord {
    principal: Principal,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    rotate_after: DateTime<Utc>,
    /// Set when rotated: the successor's digest and when this id stops working.
    replaced: Option<Replacement>,
    /// The digest of the record this one replaced, so logout can reach a
    /// predecessor still in its grace. Absent in records written before it was.
    #[serde(default)]
    predecessor: Option<String>,
    /// The chain's handle, shared by every link. Absent in records written
    /// before it was; see [`listing`].
    #[serde(default)]
    handle: Option<String>,
    /// The host a child session is valid on (`origin.rs`); `None` for the
    /// edge's own sessions. A cookie is valid only where its record says.
    #[serde(default)]
    audience: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Replacement {
    successor: String,
    grace_until: DateTime<Utc>,
}

/// A session found valid.
#[derive(Debug)]
pub struct ResolvedSession {
    pub principal: Principal,
    /// The chain's handle: what a [`RevocationFeed`] announces when the
    /// session ends.
    pub handle: SessionHandle,
    /// When the session ends whatever the activity: a child session handed to
    /// another origin ends no later.
    pub expires_at: DateTime<Utc>,
    /// A new id to send as the cookie, when this request rotated the session.
    pub rotated_to: Option<SessionId>,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no such session")]
    Unknown,
    #[error("the session expired")]
    Expired,
    #[error("the session was replaced and its grace period is over")]
    Replaced,
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error("session store: {0}")]
    Storage(#[from] StorageError),
    #[error("a session record is unreadable")]
    Corrupt,
}

impl SessionError {
    /// A short, stable reason for audit records and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            SessionError::Unknown => "unknown_session",
            SessionError::Expired => "expired_session",
            SessionError::Replaced => "replaced_session",
            _ => "error",
        }
    }
}

/// Sessions kept in a storage scope (the edge uses `sessions`).
#[derive(Debug, Clone)]
pub struct SessionStore {
    scope: Scope,
    lifetime: chrono::Duration,
    revocations: Option<RevocationFeed>,
}

impl SessionStore {
    /// Sessions that end `lifetime` after login.
    pub fn new(scope: Scope, lifetime: Duration) -> Self {
        Self {
            scope,
            lifetime: chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::hours(12)),
            revocations: None,
        }
    }

    /// Announces every session this store ends on `feed`.
    pub fn announcing_to(mut self, feed: RevocationFeed) -> Self {
        self.revocations = Some(feed);
        self
    }

    fn announce(&self, handle: SessionHandle) {
        if let Some(feed) = &self.revocations {
            feed.announce(Revoked::Session(handle));
        }
    }

    /// Starts a session for a principal that just logged in.
    pub async fn create(
        &self,
        principal: Principal,
        now: DateTime<Utc>,
    ) -> Result<SessionId, SessionError> {
        let record = SessionRecord {
            principal,
            created_at: now,
            expires_at: now + self.lifetime,
            rotate_after: now + rotate_every(),
            replaced: None,
            predecessor: None,
            handle: Some(SessionHandle::generate()?.into_string()),
            audience: None,
        };
        self.insert(&record).await
    }

    async fn insert(&self, record: &SessionRecord) -> Result<SessionId, SessionError> {
        let id = random::token(ID_BYTES)?;
        let bytes = serde_json::to_vec(record).map_err(|_| SessionError::Corrupt)?;
        self.scope
            .create(&key_for_digest(&random::digest_hex(&id))?, &bytes)
            .await?;
        Ok(SessionId(id))
    }

    /// Looks up the edge's own session a cookie names, rotating it when it is
    /// due. A child session handed to another origin is unknown here.
    pub async fn resolve(
        &self,
        cookie: &str,
        now: DateTime<Utc>,
    ) -> Result<ResolvedSession, SessionError> {
        self.resolve_for(cookie, None, now).await
    }

    /// Looks up a session valid on `audience` (`None`: the edge's own host;
    /// `Some(host)`: a child session of that host, see `origin.rs`). A record
    /// for any other audience is unknown, whatever cookie name carried it.
    pub async fn resolve_for(
        &self,
        cookie: &str,
        audience: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ResolvedSession, SessionError> {
        if !is_cookie_shaped(cookie) {
            return Err(SessionError::Unknown);
        }
        let key = key_for_digest(&random::digest_hex(cookie))?;
        let object = self.scope.get(&key).await?.ok_or(SessionError::Unknown)?;
        let record: SessionRecord =
            serde_json::from_slice(&object.value).map_err(|_| SessionError::Corrupt)?;
        if record.audience.as_deref() != audience {
            return Err(SessionError::Unknown);
        }
        if now >= record.expires_at {
            self.scope
                .delete_void_after(&key, record.expires_at)
                .await?;
            return Err(SessionError::Expired);
        }
        let expires_at = record.expires_at;
        let handle = listing::handle_of(key.as_str(), &record);
        if let Some(replaced) = &record.replaced {
            return if now < replaced.grace_until {
                Ok(ResolvedSession {
                    principal: record.principal,
                    handle: handle.clone(),
                    expires_at,
                    rotated_to: None,
                })
            } else {
                Err(SessionError::Replaced)
            };
        }
        if now < record.rotate_after {
            return Ok(ResolvedSession {
                principal: record.principal,
                handle: handle.clone(),
                expires_at,
                rotated_to: None,
            });
        }
        self.rotate(&key, object.version, record, now).await
    }

    /// Issues a successor and marks this record replaced, with compare-and-swap:
    /// of two requests rotating at once, one issues the new cookie and the other
    /// continues on the old id within its grace.
    async fn rotate(
        &self,
        key: &ObjectKey,
        version: hardshell_storage::Version,
        record: SessionRecord,
        now: DateTime<Utc>,
    ) -> Result<ResolvedSession, SessionError> {
        let handle = listing::handle_of(key.as_str(), &record);
        let successor = SessionRecord {
            rotate_after: now + rotate_every(),
            replaced: None,
            predecessor: Some(key.as_str().to_owned()),
            handle: Some(handle.as_str().to_owned()),
            ..record.clone()
        };
        let new_id = self.insert(&successor).await?;
        let retired = SessionRecord {
            replaced: Some(Replacement {
                successor: random::digest_hex(new_id.expose()),
                grace_until: now + chrono::Duration::from_std(ROTATION_GRACE).unwrap_or_default(),
            }),
            ..record.clone()
        };
        let bytes = serde_json::to_vec(&retired).map_err(|_| SessionError::Corrupt)?;
        match self.scope.update(key, &bytes, &version).await {
            Ok(_) => Ok(ResolvedSession {
                principal: record.principal,
                handle: handle.clone(),
                expires_at: record.expires_at,
                rotated_to: Some(new_id),
            }),
            Err(StorageError::Conflict { .. }) => {
                // Another request rotated first; ours is an orphan nobody holds.
                self.scope
                    .delete_void_after(
                        &key_for_digest(&random::digest_hex(new_id.expose()))?,
                        successor.expires_at,
                    )
                    .await?;
                Ok(ResolvedSession {
                    principal: record.principal,
                    handle: handle.clone(),
                    expires_at: record.expires_at,
                    rotated_to: None,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Ends the session a cookie names: the whole chain, its predecessors in
    /// their grace and its successors, the child sessions handed to other
    /// origins, and announces it. Unknown cookies are ignored. Returns the principal of the ended session, if there was one.
    pub async fn revoke(&self, cookie: &str) -> Result<Option<Principal>, SessionError> {
        if !is_cookie_shaped(cookie) {
            return Ok(None);
        }
        let start = random::digest_hex(cookie);
        let Some(record) = self.read(&start).await? else {
            return Ok(None);
        };
        let handle = listing::handle_of(&start, &record);
        // Predecessors first, while the record naming them still exists.
        let mut older = record.predecessor.clone();
        for _ in 0..MAX_CHAIN {
            let Some(digest) = older else { break };
            let link = self.read(&digest).await?;
            older = link.as_ref().and_then(|r| r.predecessor.clone());
            self.forget(&digest, link.as_ref()).await?;
        }
        let mut newer = Some(start);
        for _ in 0..MAX_CHAIN {
            let Some(digest) = newer else { break };
            let link = self.read(&digest).await?;
            newer = link
                .as_ref()
                .and_then(|r| r.replaced.as_ref().map(|r| r.successor.clone()));
            self.forget(&digest, link.as_ref()).await?;
        }
        self.end_children(&handle).await?;
        self.announce(handle);
        Ok(Some(record.principal))
    }

    /// Deletes the record under `digest`. A record read is void after its own
    /// expiry, so its tombstone in the version register lasts only until then.
    async fn forget(
        &self,
        digest: &str,
        record: Option<&SessionRecord>,
    ) -> Result<(), SessionError> {
        let key = key_for_digest(digest)?;
        match record {
            Some(record) => {
                self.scope
                    .delete_void_after(&key, record.expires_at)
                    .await?
            }
            None => self.scope.delete(&key).await?,
        }
        Ok(())
    }

    /// The record stored under `digest`; `None` if absent or unreadable (an
    /// unreadable record is deleted like any other when a chain ends).
    async fn read(&self, digest: &str) -> Result<Option<SessionRecord>, SessionError> {
        Ok(self
            .scope
            .get(&key_for_digest(digest)?)
            .await?
            .and_then(|object| serde_json::from_slice(&object.value).ok()))
    }
}

/// Whether a cookie value could be a session id: base64url of [`ID_BYTES`] bytes.
/// Anything else is unknown without a storage read.
pub(crate) fn is_cookie_shaped(cookie: &str) -> bool {
    random::is_token_shaped(cookie, ID_BYTES)
}

fn rotate_every() -> chrono::Duration {
    chrono::Duration::from_std(ROTATE_EVERY).unwrap_or(chrono::Duration::minutes(15))
}

fn key_for_digest(digest: &str) -> Result<ObjectKey, SessionError> {
    Ok(ObjectKey::segment(digest).map_err(StorageError::from)?)
}

#[cfg(test)]
mod tests;
