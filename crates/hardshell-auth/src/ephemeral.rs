//! Short-lived, single-use state kept server-side between two requests of one
//! ceremony: an OIDC login's state, nonce and PKCE verifier; a passkey challenge.
//!
//! The browser holds only a random id. Taking the state consumes it with a
//! compare-and-swap, so a replayed id finds nothing, even when two requests race.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hardshell_storage::{ObjectKey, Scope, StorageError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::random::{self, RandomError};

const ID_BYTES: usize = 24;
const CONSUMED: &[u8] = b"consumed";

#[derive(Debug, thiserror::Error)]
pub enum EphemeralError {
    #[error("no such pending {kind} (expired, already used, or never issued)")]
    Missing { kind: &'static str },
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

/// Single-use pending states of one kind (`oidc`, `passkey-login`, ...).
#[derive(Debug, Clone)]
pub struct Ephemeral {
    scope: Scope,
    kind: &'static str,
}

impl Ephemeral {
    pub fn new(scope: Scope, kind: &'static str) -> Self {
        Self { scope, kind }
    }

    /// Stores `value` for `ttl`; returns the id to hand to the browser.
    pub async fn put<T: Serialize>(
        &self,
        value: &T,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<String, EphemeralError> {
        let id = random::token(ID_BYTES)?;
        let envelope = Envelope {
            expires_at: now + chrono::Duration::from_std(ttl).unwrap_or_default(),
            value,
        };
        let bytes = serde_json::to_vec(&envelope)
            .map_err(|_| EphemeralError::Corrupt { kind: self.kind })?;
        self.scope.create(&self.key(&id)?, &bytes).await?;
        Ok(id.to_string())
    }

    /// Returns the state stored under `id` and makes sure nobody gets it again.
    pub async fn take<T: DeserializeOwned>(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<T, EphemeralError> {
        let missing = EphemeralError::Missing { kind: self.kind };
        if !random::is_token_shaped(id, ID_BYTES) {
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

    fn key(&self, id: &str) -> Result<ObjectKey, EphemeralError> {
        let kind = ObjectKey::segment(self.kind).map_err(StorageError::from)?;
        let id = ObjectKey::segment(id).map_err(StorageError::from)?;
        Ok(kind.join(&id).map_err(StorageError::from)?)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::test_store::TestStore;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn state_is_returned_once() {
        let t = TestStore::new().await;
        let pending = Ephemeral::new(t.scope("pending"), "oidc");
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
        let pending = Ephemeral::new(t.scope("pending"), "oidc");
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
        let pending = Ephemeral::new(t.scope("pending"), "oidc");
        let other = Ephemeral::new(t.scope("pending"), "passkey-login");
        let id = pending
            .put(&1u32, Duration::from_secs(60), now())
            .await
            .unwrap();
        assert!(other.take::<u32>(&id, now()).await.is_err());
        let later = now() + chrono::Duration::seconds(61);
        assert!(pending.take::<u32>(&id, later).await.is_err());
        for bad in ["", "../x", "short"] {
            assert!(pending.take::<u32>(bad, now()).await.is_err());
        }
    }
}
