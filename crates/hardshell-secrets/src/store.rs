//! The secret store: one sealed object per secret under the `secrets/` scope.
//!
//! An object is a one-line JSON header (format version, creation and update times)
//! followed by a newline and the raw value. The value never passes through a JSON
//! string, so no intermediate copy escapes zeroizing.

use chrono::{DateTime, Utc};
use hardshell_storage::{Modification, ObjectKey, Scope, StorageError};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{SecretName, SecretValue};

/// Errors name the secret and the step; none carries a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "secret name {name:?} is not valid: use A-Z, 0-9 and _, starting with a letter (at most 64)"
    )]
    InvalidName { name: String },
    #[error("the secret value is empty")]
    EmptyValue,
    #[error(
        "the secret value is {len} bytes; the limit is {} bytes",
        crate::MAX_SECRET_BYTES
    )]
    TooLarge { len: usize },
    #[error("no secret named {name}")]
    NotFound { name: String },
    #[error("secret {name} is stored in an unreadable format")]
    Corrupt { name: String },
    #[error("secret store: {0}")]
    Storage(#[from] StorageError),
}

/// What `put` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    Replaced,
}

/// A secret as `list` shows it: name and dates, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    pub name: SecretName,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    v: u32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const FORMAT_VERSION: u32 = 1;

/// Secrets kept in a storage scope.
#[derive(Debug, Clone)]
pub struct SecretStore {
    scope: Scope,
}

impl SecretStore {
    /// A store over `scope`; give it a scope of its own (the edge uses `secrets`).
    pub fn new(scope: Scope) -> Self {
        Self { scope }
    }

    /// Stores `value` under `name`, keeping the creation time if it already existed.
    pub async fn put(
        &self,
        name: &SecretName,
        value: &SecretValue,
    ) -> Result<PutOutcome, SecretsError> {
        let key = key(name)?;
        let now = Utc::now();
        self.scope
            .modify(&key, |current| {
                let (created_at, outcome) = match current {
                    Some(bytes) => (decode(name, bytes)?.0.created_at, PutOutcome::Replaced),
                    None => (now, PutOutcome::Created),
                };
                let header = Header {
                    v: FORMAT_VERSION,
                    created_at,
                    updated_at: now,
                };
                Ok::<_, SecretsError>(Modification::Write(
                    encode(name, &header, value)?.to_vec(),
                    outcome,
                ))
            })
            .await
    }

    /// Stores `value` under `name` only if nothing is stored there yet, and
    /// returns what is stored afterwards: `value`, or the one that was there.
    /// A compare-and-swap decides, so of two processes creating the same
    /// secret at once exactly one value wins and both get it back.
    pub async fn put_if_absent(
        &self,
        name: &SecretName,
        value: &SecretValue,
    ) -> Result<SecretValue, SecretsError> {
        let key = key(name)?;
        let now = Utc::now();
        self.scope
            .modify(&key, |current| match current {
                Some(bytes) => Ok(Modification::Keep(decode(name, bytes)?.1)),
                None => {
                    let header = Header {
                        v: FORMAT_VERSION,
                        created_at: now,
                        updated_at: now,
                    };
                    Ok::<_, SecretsError>(Modification::Write(
                        encode(name, &header, value)?.to_vec(),
                        value.clone(),
                    ))
                }
            })
            .await
    }

    /// The value stored under `name`, if any.
    pub async fn get(&self, name: &SecretName) -> Result<Option<SecretValue>, SecretsError> {
        let Some(object) = self.scope.get(&key(name)?).await? else {
            return Ok(None);
        };
        Ok(Some(decode(name, &object.value)?.1))
    }

    /// Like [`get`](Self::get), but a missing secret is an error naming it.
    pub async fn require(&self, name: &SecretName) -> Result<SecretValue, SecretsError> {
        self.get(name).await?.ok_or_else(|| SecretsError::NotFound {
            name: name.to_string(),
        })
    }

    /// Every secret's name and dates, sorted by name.
    pub async fn list(&self) -> Result<Vec<SecretInfo>, SecretsError> {
        let mut infos = Vec::new();
        for entry in self.scope.list().await? {
            let Ok(name) = SecretName::parse(entry.key.as_str()) else {
                tracing::warn!(object = %entry.key, "skipping an object in the secrets scope that is not a secret");
                continue;
            };
            // Listed a moment ago; if it vanished since, it is simply not listed.
            let Some(object) = self.scope.get(&entry.key).await? else {
                continue;
            };
            let (header, _value) = decode(&name, &object.value)?;
            infos.push(SecretInfo {
                name,
                created_at: header.created_at,
                updated_at: header.updated_at,
            });
        }
        Ok(infos)
    }

    /// What the store holds, as one listing shows it (each object's name,
    /// size and time), reading no value: it changes whenever a secret is
    /// stored, replaced or removed, so a reader can tell when to read again.
    pub async fn fingerprint(&self) -> Result<String, SecretsError> {
        let mut fingerprint = String::new();
        for entry in self.scope.list().await? {
            // The tag too: a value replaced by one of the same size within
            // the clock's granularity changes nothing else.
            fingerprint.push_str(&format!(
                "{} {} {} {}\n",
                entry.key,
                entry.size,
                entry
                    .last_modified
                    .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                entry.tag.as_deref().unwrap_or("-")
            ));
        }
        Ok(fingerprint)
    }

    /// Deletes `name`; `Ok(false)` if there was no such secret.
    pub async fn remove(&self, name: &SecretName) -> Result<bool, SecretsError> {
        let key = key(name)?;
        if self.scope.get(&key).await?.is_none() {
            return Ok(false);
        }
        self.scope.delete(&key).await?;
        Ok(true)
    }
}

fn key(name: &SecretName) -> Result<ObjectKey, SecretsError> {
    Ok(ObjectKey::segment(name.as_str()).map_err(StorageError::from)?)
}

fn encode(
    name: &SecretName,
    header: &Header,
    value: &SecretValue,
) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    let json = serde_json::to_vec(header).map_err(|_| SecretsError::Corrupt {
        name: name.to_string(),
    })?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(json.len() + 1 + value.len()));
    bytes.extend_from_slice(&json);
    bytes.push(b'\n');
    bytes.extend_from_slice(value.expose());
    Ok(bytes)
}

fn decode(name: &SecretName, bytes: &[u8]) -> Result<(Header, SecretValue), SecretsError> {
    let corrupt = || SecretsError::Corrupt {
        name: name.to_string(),
    };
    let newline = bytes.iter().position(|&b| b == b'\n').ok_or_else(corrupt)?;
    let header: Header = serde_json::from_slice(&bytes[..newline]).map_err(|_| corrupt())?;
    if header.v != FORMAT_VERSION {
        return Err(corrupt());
    }
    let value =
        SecretValue::new(Zeroizing::new(bytes[newline + 1..].to_vec())).map_err(|_| corrupt())?;
    Ok((header, value))
}
