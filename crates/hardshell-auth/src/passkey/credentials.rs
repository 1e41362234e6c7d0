//! The owner's registered passkeys, one record each, keyed by a hash of the
//! credential id (ids can be up to 1023 bytes, too long for a key segment).
//!
//! Each record keeps its own copy of the highest signature counter accepted. The
//! WebAuthn library compares a login's counter with the one the login *started*
//! with; two logins started together would both pass that. The record is updated
//! with compare-and-swap, and the check here is against what is stored now.

use chrono::{DateTime, Utc};
use hardshell_storage::{Modification, ObjectKey, Scope, StorageError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{AuthenticationResult, CredentialID, Passkey, Uuid};

use super::PasskeyError;

const FORMAT_VERSION: u32 = 1;

/// Identifies one registered passkey: SHA-256 of its credential id, hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasskeyId(String);

/// A registered passkey as an admin sees it. Holds no key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PasskeyInfo {
    pub id: PasskeyId,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, Deserialize)]
struct Record {
    v: u32,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    /// Highest signature counter accepted at a login (0: none, or the
    /// authenticator keeps no counter, as synced passkeys do not).
    sign_count: u32,
    passkey: Passkey,
}

#[derive(Serialize, Deserialize)]
struct Owner {
    v: u32,
    /// The WebAuthn user handle. Fixed, so that every device's passkey belongs to
    /// the same account and an authenticator replaces rather than duplicates it.
    user_id: Uuid,
    /// A removal under way, and until when it holds the others off: the
    /// passkeys are objects of their own, so two removals that each saw two
    /// could otherwise remove both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    removing: Option<DateTime<Utc>>,
}

/// How long a removal holds others off; one that died meanwhile frees it then.
const REMOVAL_HOLD: chrono::Duration = chrono::Duration::seconds(30);

/// What [`Credentials::remove_unless_last`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// No passkey has that id.
    NotFound,
    /// It is the owner's only passkey: kept.
    Last,
    /// Another removal is under way: try again in a moment.
    Busy,
}

impl PasskeyId {
    pub(crate) fn of(credential_id: &[u8]) -> Self {
        Self(hex::encode(Sha256::digest(credential_id)))
    }

    /// Reads an id as an admin typed it; `None` unless it is 64 lower-case hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        let valid =
            text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn key(&self) -> Result<ObjectKey, PasskeyError> {
        Ok(ObjectKey::segment(&self.0).map_err(StorageError::from)?)
    }
}

impl std::fmt::Display for PasskeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone)]
pub(super) struct Credentials {
    /// The passkey scope itself, for the `owner` object.
    root: Scope,
    /// `credentials/`.
    scope: Scope,
}

impl Credentials {
    pub(super) fn new(root: Scope, scope: Scope) -> Self {
        Self { root, scope }
    }

    /// The owner's user handle, made at the first call; concurrent first calls
    /// agree on one (the loser of the create re-reads the winner's).
    pub(super) async fn owner_user_id(&self) -> Result<Uuid, PasskeyError> {
        let key = ObjectKey::segment("owner").map_err(StorageError::from)?;
        self.root
            .modify(&key, |current| match current {
                Some(bytes) => Ok(Modification::Keep(decode::<Owner>(&key, bytes)?.user_id)),
                None => {
                    let owner = Owner {
                        v: FORMAT_VERSION,
                        user_id: Uuid::new_v4(),
                        removing: None,
                    };
                    Ok(Modification::Write(encode(&key, &owner)?, owner.user_id))
                }
            })
            .await
    }

    pub(super) async fn passkeys(&self) -> Result<Vec<Passkey>, PasskeyError> {
        Ok(self
            .records()
            .await?
            .into_iter()
            .map(|(_, r)| r.passkey)
            .collect())
    }

    pub(super) async fn credential_ids(&self) -> Result<Vec<CredentialID>, PasskeyError> {
        Ok(self
            .passkeys()
            .await?
            .iter()
            .map(|passkey| passkey.cred_id().clone())
            .collect())
    }

    pub(super) async fn list(&self) -> Result<Vec<PasskeyInfo>, PasskeyError> {
        let mut infos: Vec<PasskeyInfo> = self
            .records()
            .await?
            .into_iter()
            .map(|(id, record)| info(id, &record))
            .collect();
        infos.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(infos)
    }

    async fn records(&self) -> Result<Vec<(PasskeyId, Record)>, PasskeyError> {
        let mut records = Vec::new();
        for entry in self.scope.list().await? {
            let Some(id) = PasskeyId::parse(entry.key.as_str()) else {
                tracing::warn!(object = %entry.key, "skipping an object in the passkey scope that is not a passkey");
                continue;
            };
            // Listed a moment ago; if it was removed since, it is simply not listed.
            let Some(object) = self.scope.get(&entry.key).await? else {
                continue;
            };
            records.push((id, decode::<Record>(&entry.key, &object.value)?));
        }
        Ok(records)
    }

    pub(super) async fn ensure_absent(&self, id: &PasskeyId) -> Result<(), PasskeyError> {
        match self.scope.get(&id.key()?).await? {
            Some(_) => Err(PasskeyError::DuplicatePasskey {
                passkey: id.clone(),
            }),
            None => Ok(()),
        }
    }

    pub(super) async fn create(
        &self,
        passkey: Passkey,
        now: DateTime<Utc>,
    ) -> Result<PasskeyInfo, PasskeyError> {
        let id = PasskeyId::of(passkey.cred_id());
        let key = id.key()?;
        let record = Record {
            v: FORMAT_VERSION,
            created_at: now,
            last_used_at: None,
            sign_count: 0,
            passkey,
        };
        match self.scope.create(&key, &encode(&key, &record)?).await {
            Ok(_) => Ok(info(id, &record)),
            Err(StorageError::Conflict { .. }) => {
                Err(PasskeyError::DuplicatePasskey { passkey: id })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Applies a verified login to its passkey's record, refusing a counter that
    /// did not advance past the stored one. Returns the passkey's id.
    pub(super) async fn record_use(
        &self,
        result: &AuthenticationResult,
        now: DateTime<Utc>,
    ) -> Result<PasskeyId, PasskeyError> {
        let id = PasskeyId::of(result.cred_id());
        let key = id.key()?;
        let presented = result.counter();
        self.scope
            .modify(&key, |current| {
                // Removed between the two halves of the login: no longer the owner's.
                let Some(bytes) = current else {
                    return Err(PasskeyError::UnknownCredential { passkey: id.clone() });
                };
                let mut record = decode::<Record>(&key, bytes)?;
                let counted = presented > 0 || record.sign_count > 0;
                if counted && presented <= record.sign_count {
                    tracing::warn!(passkey = %id, stored = record.sign_count, presented, "passkey signature counter went backwards");
                    return Err(PasskeyError::CounterRegressed { passkey: id.clone() });
                }
                if record.passkey.update_credential(result).is_none() {
                    return Err(PasskeyError::Corrupt {
                        key: key.to_string(),
                        reason: "stored under another credential's id".into(),
                    });
                }
                record.sign_count = presented;
                record.last_used_at = Some(now);
                Ok(Modification::Write(encode(&key, &record)?, id.clone()))
            })
            .await
    }

    /// Removes a passkey unless it is the owner's last one. Removals take
    /// turns through the `owner` record, by compare-and-swap, so concurrent
    /// ones (two admins, two replicas) cannot between them remove the last.
    pub(super) async fn remove_unless_last(
        &self,
        id: &PasskeyId,
        now: DateTime<Utc>,
    ) -> Result<Removal, PasskeyError> {
        let owner = ObjectKey::segment("owner").map_err(StorageError::from)?;
        let held = self
            .root
            .modify(&owner, |current| {
                // No owner record: the first passkey makes it, so there is
                // nothing to remove. None is made here: a record made by a
                // removal would give the owner a new user id.
                let Some(bytes) = current else {
                    return Ok::<_, PasskeyError>(Modification::Keep(None));
                };
                let mut record = decode::<Owner>(&owner, bytes)?;
                if record.removing.is_some_and(|until| until > now) {
                    return Ok(Modification::Keep(Some(false)));
                }
                record.removing = Some(now + REMOVAL_HOLD);
                Ok(Modification::Write(encode(&owner, &record)?, Some(true)))
            })
            .await?;
        match held {
            Some(true) => {}
            Some(false) => return Ok(Removal::Busy),
            None if self.list().await?.is_empty() => return Ok(Removal::NotFound),
            None => {
                return Err(PasskeyError::Corrupt {
                    key: owner.to_string(),
                    reason: "passkeys are stored but the owner record is missing".into(),
                });
            }
        }
        let removal = async {
            let listed = self.list().await?;
            if !listed.iter().any(|passkey| passkey.id == *id) {
                return Ok(Removal::NotFound);
            }
            if listed.len() == 1 {
                return Ok(Removal::Last);
            }
            Ok(match self.remove(id).await? {
                true => Removal::Removed,
                false => Removal::NotFound,
            })
        }
        .await;
        let released = self
            .root
            .modify(&owner, |current| {
                let Some(bytes) = current else {
                    return Ok::<_, PasskeyError>(Modification::Keep(()));
                };
                let mut record = decode::<Owner>(&owner, bytes)?;
                record.removing = None;
                Ok(Modification::Write(encode(&owner, &record)?, ()))
            })
            .await;
        if let Err(e) = &released {
            tracing::warn!(error = %e, "releasing the passkey removal's hold failed; it lapses in 30 s");
        }
        removal
    }

    pub(super) async fn remove(&self, id: &PasskeyId) -> Result<bool, PasskeyError> {
        let key = id.key()?;
        if self.scope.get(&key).await?.is_none() {
            return Ok(false);
        }
        self.scope.delete(&key).await?;
        Ok(true)
    }
}

fn info(id: PasskeyId, record: &Record) -> PasskeyInfo {
    PasskeyInfo {
        id,
        created_at: record.created_at,
        last_used_at: record.last_used_at,
    }
}

fn encode<T: Serialize>(key: &ObjectKey, value: &T) -> Result<Vec<u8>, PasskeyError> {
    serde_json::to_vec(value).map_err(|e| PasskeyError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

fn decode<T: serde::de::DeserializeOwned + Versioned>(
    key: &ObjectKey,
    bytes: &[u8],
) -> Result<T, PasskeyError> {
    let value: T = serde_json::from_slice(bytes).map_err(|e| PasskeyError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })?;
    if value.version() != FORMAT_VERSION {
        return Err(PasskeyError::Corrupt {
            key: key.to_string(),
            reason: format!("unknown format version {}", value.version()),
        });
    }
    Ok(value)
}

trait Versioned {
    fn version(&self) -> u32;
}

impl Versioned for Record {
    fn version(&self) -> u32 {
        self.v
    }
}

impl Versioned for Owner {
    fn version(&self) -> u32 {
        self.v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passkey_id_is_the_hex_sha256_of_the_credential_id() {
        let id = PasskeyId::of(b"credential");
        assert_eq!(id.as_str().len(), 64);
        assert_eq!(PasskeyId::parse(id.as_str()), Some(id));
    }

    #[test]
    fn passkey_id_parse_refuses_anything_else() {
        let upper = "A".repeat(64);
        let short = "a".repeat(63);
        let path = format!("../{}", "a".repeat(61));
        for text in ["", upper.as_str(), short.as_str(), path.as_str()] {
            assert_eq!(PasskeyId::parse(text), None, "{text:?}");
        }
    }
}
