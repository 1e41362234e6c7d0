//! Short-lived, single-use state kept server-side between two requests of one
//! ceremony: an OIDC login's state, nonce and PKCE verifier; a passkey challenge.
//!
//! The browser holds only an id: `<expiry as unix seconds>.<192 random bits>`.
//! Taking the state consumes it with a compare-and-swap, so a replayed id finds
//! nothing, even when two requests race.
//!
//! Anyone may start a login, so the store is bounded: each write first deletes
//! the states whose expiry (readable from their names, without reading them)
//! has passed, and refuses a new state while `cap` live ones exist
//! ([`EphemeralError::Full`]). [`Ephemeral::sweep`] does the same deletion and
//! is meant to run on a timer, so abandoned ceremonies do not linger until the
//! next write. The expiry in the id is not trusted for anything but deletion:
//! the stored envelope's own expiry decides whether a state may be used.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hardshell_storage::{ObjectKey, Scope, StorageError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::random::{self, RandomError};

const ID_BYTES: usize = 24;
const CONSUMED: &[u8] = b"consumed";
/// An object under a kind's prefix whose name carries no expiry (written
/// before ids carried one) is deleted once it is this old; no ceremony lasts
/// anywhere near as long.
const UNNAMED_EXPIRY: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum EphemeralError {
    #[error("no such pending {kind} (expired, already used, or never issued)")]
    Missing { kind: &'static str },
    #[error("{cap} pending {kind} states exist already; refusing another until some expire")]
    Full { kind: &'static str, cap: usize },
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error("pending-state store: {0}")]
    Storage(#[from] StorageError),
    #[error("pending {kind} is unreadable")]
    Corrupt { kind: &'static str },
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    expires_at: DateTime<Utc>,
    value: T,
}

/// Single-use pending states of one kind (`oidc`, `passkey-login`, ...), at
/// most `cap` live at once.
#[derive(Debug, Clone)]
pub struct Ephemeral {
    scope: Scope,
    kind: &'static str,
    cap: usize,
}

impl Ephemeral {
    pub fn new(scope: Scope, kind: &'static str, cap: usize) -> Self {
        Self { scope, kind, cap }
    }

    /// Stores `value` for `ttl`; returns the id to hand to the browser.
    /// Deletes expired states first; refuses with [`EphemeralError::Full`]
    /// while `cap` live ones remain.
    pub async fn put<T: Serialize>(
        &self,
        value: &T,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<String, EphemeralError> {
        let live = self.sweep(now).await?;
        if live >= self.cap {
            return Err(EphemeralError::Full {
                kind: self.kind,
                cap: self.cap,
            });
        }
        let expires_at = now + chrono::Duration::from_std(ttl).unwrap_or_default();
        let id = format!(
            "{}.{}",
            expires_at.timestamp(),
            random::token(ID_BYTES)?.as_str()
        );
        let envelope = Envelope { expires_at, value };
        let bytes = serde_json::to_vec(&envelope)
            .map_err(|_| EphemeralError::Corrupt { kind: self.kind })?;
        self.scope.create(&self.key(&id)?, &bytes).await?;
        Ok(id)
    }

    /// Returns the state stored under `id` and makes sure nobody gets it again.
    pub async fn take<T: DeserializeOwned>(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<T, EphemeralError> {
        let missing = EphemeralError::Missing { kind: self.kind };
        if parse_id(id).is_none() {
            return Err(missing);
        }
        let key = self.key(id)?;
        let Some(object) = self.scope.get(&key).await? else {
            return Err(missing);
        };
        if object.value.as_slice() == CONSUMED {
            return Err(missing);
        }
        // Consume first; only the request whose swap wins may use the state.
        match self.scope.update(&key, CONSUMED, &object.version).await {
            Ok(_) => {}
            Err(StorageError::Conflict { .. }) => return Err(missing),
            Err(e) => return Err(e.into()),
        }
        self.scope.delete(&key).await?;
        let envelope: Envelope<T> = serde_json::from_slice(&object.value)
            .map_err(|_| EphemeralError::Corrupt { kind: self.kind })?;
        if now >= envelope.expires_at {
            return Err(missing);
        }
        Ok(envelope.value)
    }

    /// Deletes every state of this kind that expired by `now`; returns how
    /// many live ones remain. One listing, no reads: the expiry is in the name.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<usize, EphemeralError> {
        let kind = self.kind_scope()?;
        let mut live = 0;
        for entry in kind.list().await? {
            let expired = match parse_id(entry.key.as_str()) {
                Some(expires_at) => expires_at <= now.timestamp(),
                None => {
                    let unnamed = chrono::Duration::from_std(UNNAMED_EXPIRY).unwrap_or_default();
                    entry.last_modified + unnamed <= now
                }
            };
            if expired {
                kind.delete(&entry.key).await?;
            } else {
                live += 1;
            }
        }
        Ok(live)
    }

    fn kind_scope(&self) -> Result<Scope, EphemeralError> {
        let kind = ObjectKey::segment(self.kind).map_err(StorageError::from)?;
        Ok(self.scope.scope(&kind)?)
    }

    fn key(&self, id: &str) -> Result<ObjectKey, EphemeralError> {
        let kind = ObjectKey::segment(self.kind).map_err(StorageError::from)?;
        let id = ObjectKey::segment(id).map_err(StorageError::from)?;
        Ok(kind.join(&id).map_err(StorageError::from)?)
    }
}

/// The expiry (unix seconds) an id names, if it has the shape [`Ephemeral::put`]
/// gives ids: up to 12 digits, a dot, then [`ID_BYTES`] of base64url.
fn parse_id(id: &str) -> Option<i64> {
    let (expiry, token) = id.split_once('.')?;
    let digits =
        !expiry.is_empty() && expiry.len() <= 12 && expiry.bytes().all(|b| b.is_ascii_digit());
    if !digits || !random::is_token_shaped(token, ID_BYTES) {
        return None;
    }
    expiry.parse().ok()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use hardshell_testkit::TestStore;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn state_is_returned_once() {
        let t = TestStore::new().await;
        let pending = Ephemeral::new(t.scope("pending"), "oidc", 100);
        let id = pending
            .put(&"nonce-1".to_owned(), Duration::from_secs(600), now())
            .await
            .unwrap();
        assert_eq!(pending.take::<String>(&id, now()).await.unwrap(), "nonce-1");
        assert!(matches!(
            pending.take::<String>(&id, now()).await,
            Err(EphemeralError::Missing { .. })
        ));
    }

    #[tokio::test]
    async fn racing_takes_yield_one_winner() {
        let t = TestStore::new().await;
        let pending = Ephemeral::new(t.scope("pending"), "oidc", 100);
        let id = pending
            .put(&1u32, Duration::from_secs(600), now())
            .await
            .unwrap();
        let (a, b) = tokio::join!(
            pending.take::<u32>(&id, now()),
            pending.take::<u32>(&id, now())
        );
        assert_eq!(usize::from(a.is_ok()) + usize::from(b.is_ok()), 1);
    }

    #[tokio::test]
    async fn expired_unknown_and_foreign_ids_find_nothing() {
        let t = TestStore::new().await;
        let pending = Ephemeral::new(t.scope("pending"), "oidc", 100);
        let other = Ephemeral::new(t.scope("pending"), "passkey-login", 100);
        let id = pending
            .put(&1u32, Duration::from_secs(60), now())
            .await
            .unwrap();
        assert!(other.take::<u32>(&id, now()).await.is_err());
        let later = now() + chrono::Duration::seconds(61);
        assert!(pending.take::<u32>(&id, later).await.is_err());
        for bad in ["", "../x", "short", "1.short", &format!("x{id}")] {
            assert!(pending.take::<u32>(bad, now()).await.is_err());
        }
    }

    /// What the pending scope holds for `kind`, by name.
    async fn stored(t: &TestStore, kind: &str) -> Vec<String> {
        let scope = t
            .scope("pending")
            .scope(&ObjectKey::segment(kind).unwrap())
            .unwrap();
        scope
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|entry| entry.key.as_str().to_owned())
            .collect()
    }

    /// The red team's finding: every anonymous login start stored about 1 KB
    /// that was still there hours later.
    #[tokio::test]
    async fn expired_states_are_deleted_by_the_next_write() {
        let t = TestStore::new().await;
        let pending = Ephemeral::new(t.scope("pending"), "passkey-login", 100);
        let abandoned = pending
            .put(&1u32, Duration::from_secs(300), now())
            .await
            .unwrap();
        let later = now() + chrono::Duration::hours(2);
        let fresh = pending
            .put(&2u32, Duration::from_secs(300), later)
            .await
            .unwrap();
        assert_eq!(stored(&t, "passkey-login").await, [fresh]);
        assert!(!stored(&t, "passkey-login").await.contains(&abandoned));
    }

    #[tokio::test]
    async fn a_sweep_deletes_expired_states_and_keeps_live_ones() {
        let t = TestStore::new().await;
        let pending = Ephemeral::new(t.scope("pending"), "oidc", 100);
        let other_kind = Ephemeral::new(t.scope("pending"), "passkey-login", 100);
        let short = pending
            .put(&1u32, Duration::from_secs(60), now())
            .await
            .unwrap();
        let long = pending
            .put(&2u32, Duration::from_secs(600), now())
            .await
            .unwrap();
        let other = other_kind
            .put(&3u32, Duration::from_secs(60), now())
            .await
            .unwrap();
        let later = now() + chrono::Duration::seconds(61);
        assert_eq!(pending.sweep(later).await.unwrap(), 1);
        assert_eq!(stored(&t, "oidc").await, std::slice::from_ref(&long));
        assert!(pending.take::<u32>(&short, now()).await.is_err());
        assert_eq!(pending.take::<u32>(&long, later).await.unwrap(), 2);
        // Another kind's states are its own sweep's business.
        assert_eq!(stored(&t, "passkey-login").await, [other]);
    }

    #[tokio::test]
    async fn past_the_cap_a_new_state_is_refused_until_one_expires() {
        let t = TestStore::new().await;
        let pending = Ephemeral::new(t.scope("pending"), "passkey-login", 3);
        for _ in 0..3 {
            pending
                .put(&1u32, Duration::from_secs(60), now())
                .await
                .unwrap();
        }
        let refused = pending.put(&1u32, Duration::from_secs(60), now()).await;
        assert!(
            matches!(refused, Err(EphemeralError::Full { cap: 3, .. })),
            "{refused:?}"
        );
        assert_eq!(stored(&t, "passkey-login").await.len(), 3);
        let later = now() + chrono::Duration::seconds(60);
        pending
            .put(&1u32, Duration::from_secs(60), later)
            .await
            .unwrap();
        assert_eq!(stored(&t, "passkey-login").await.len(), 1);
    }

    #[tokio::test]
    async fn a_forged_expiry_in_the_id_finds_nothing() {
        let t = TestStore::new().await;
        let pending = Ephemeral::new(t.scope("pending"), "oidc", 100);
        let id = pending
            .put(&1u32, Duration::from_secs(60), now())
            .await
            .unwrap();
        let (_, token) = id.split_once('.').unwrap();
        let forged = format!("{}.{token}", now().timestamp() + 86_400);
        let later = now() + chrono::Duration::seconds(61);
        assert!(pending.take::<u32>(&forged, later).await.is_err());
        assert!(pending.take::<u32>(&id, later).await.is_err());
    }
}
