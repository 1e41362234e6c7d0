//! API tokens for the CLI and programmatic clients: shown once, stored hashed,
//! scoped, expiring, revocable.
//!
//! A token reads `hs_tok_<id>_<secret>`: a 16-hex-digit id that names the stored
//! record, and 256 random bits of secret. Only SHA-256 of the secret is stored.
//! Verified records are cached briefly so a busy client does not cost a storage
//! read per request; revocation through this store clears the cache at once, and
//! another edge replica notices within [`CACHE_TTL`].
//!
//! A token's last use is kept to the day ([`USE_RECORDED_EVERY`]): the first
//! verification of a day writes it, so `doctor` can name tokens nobody uses,
//! and a busy client costs one write a day, not one a request.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hardshell_storage::{Modification, ObjectKey, Scope, StorageError};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::random::{self, RandomError};
use crate::revocation::{RevocationFeed, Revoked};
use crate::{Method, Principal, TokenScope};

pub const TOKEN_PREFIX: &str = "hs_tok_";
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;
/// How long a verified record is trusted without re-reading storage.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
const CACHE_MAX: usize = 10_000;
/// How stale a token's recorded last use may be before a verification
/// writes it again.
pub const USE_RECORDED_EVERY: chrono::TimeDelta = chrono::TimeDelta::days(1);
/// Longest lifetime a token may be created with.
pub const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

/// A token as the client holds it. Shown once at creation; redacted in `Debug`.
pub struct ApiToken(Zeroizing<String>);

impl ApiToken {
    /// The token text, to print once or send in `Authorization: Bearer`.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// What is stored for a token: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub scope: TokenScope,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it last verified, to the day; `None` until its first use (and in
    /// records from before this was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    secret_sha256: String,
}

/// Why a token was refused or could not be made. Never carries the token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("not a hardshell API token")]
    Malformed,
    #[error("no token with id {id}")]
    Unknown { id: String },
    #[error("token {id} was revoked")]
    Revoked { id: String },
    #[error("token {id} expired")]
    Expired { id: String },
    #[error("token {id}: wrong secret")]
    WrongSecret { id: String },
    #[error(
        "token name {name:?} is not valid: 1-64 characters of letters, digits, space, '.', '_' or '-'"
    )]
    InvalidName { name: String },
    #[error("token lifetime must be between one minute and {} days", MAX_TTL.as_secs() / 86_400)]
    InvalidLifetime,
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error("token store: {0}")]
    Storage(#[from] StorageError),
    #[error("token record {id} is unreadable")]
    Corrupt { id: String },
}

impl TokenError {
    /// A short, stable reason for audit records and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::Unknown { .. } => "unknown",
            TokenError::Revoked { .. } => "revoked",
            TokenError::Expired { .. } => "expired",
            TokenError::WrongSecret { .. } => "wrong_secret",
            _ => "error",
        }
    }
}

/// API tokens kept in a storage scope (the edge uses `tokens`).
pub struct TokenStore {
    scope: Scope,
    cache: Mutex<HashMap<String, (TokenRecord, Instant)>>,
    revocations: Option<RevocationFeed>,
}

impl TokenStore {
    pub fn new(scope: Scope) -> Self {
        Self {
            scope,
            cache: Mutex::new(HashMap::new()),
            revocations: None,
        }
    }

    /// Announces every token this store revokes on `feed`.
    pub fn announcing_to(mut self, feed: RevocationFeed) -> Self {
        self.revocations = Some(feed);
        self
    }

    /// Makes a token. The returned [`ApiToken`] is the only copy of its secret.
    pub async fn create(
        &self,
        name: &str,
        scope: TokenScope,
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> Result<(TokenRecord, ApiToken), TokenError> {
        if !is_valid_name(name) {
            return Err(TokenError::InvalidName {
                name: name.chars().take(80).collect(),
            });
        }
        if lifetime < Duration::from_secs(60) || lifetime > MAX_TTL {
            return Err(TokenError::InvalidLifetime);
        }
        let lifetime =
            chrono::Duration::from_std(lifetime).map_err(|_| TokenError::InvalidLifetime)?;
        let id = random::hex_id(ID_BYTES)?;
        let secret = random::token(SECRET_BYTES)?;
        let record = TokenRecord {
            id: id.clone(),
            name: name.to_owned(),
            scope,
            created_at: now,
            expires_at: now + lifetime,
            revoked_at: None,
            last_used_at: None,
            secret_sha256: random::digest_hex(&secret),
        };
        let bytes =
            serde_json::to_vec(&record).map_err(|_| TokenError::Corrupt { id: id.clone() })?;
        self.scope.create(&key(&id)?, &bytes).await?;
        let token = ApiToken(Zeroizing::new(format!(
            "{TOKEN_PREFIX}{id}_{}",
            secret.as_str()
        )));
        Ok((record, token))
    }

    /// Every token, revoked and expired ones included, sorted by creation time.
    pub async fn list(&self) -> Result<Vec<TokenRecord>, TokenError> {
        let mut records = Vec::new();
        for entry in self.scope.list().await? {
            if let Some(object) = self.scope.get(&entry.key).await? {
                match serde_json::from_slice::<TokenRecord>(&object.value) {
                    Ok(record) => records.push(record),
                    Err(_) => {
                        tracing::warn!(object = %entry.key, "skipping an unreadable token record")
                    }
                }
            }
        }
        records.sort_by_key(|r| r.created_at);
        Ok(records)
    }

    /// Revokes token `id` and announces it. `Ok(None)` if there is no such
    /// token; the record is kept (marked revoked) so listings and audits still
    /// show it.
    pub async fn revoke(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenRecord>, TokenError> {
        if !is_id_shaped(id) {
            return Ok(None);
        }
        let result = self
            .scope
            .modify(&key(id)?, |current| {
                let Some(bytes) = current else {
                    return Ok(Modification::Keep(None));
                };
                let mut record: TokenRecord = serde_json::from_slice(bytes)
                    .map_err(|_| TokenError::Corrupt { id: id.to_owned() })?;
                if record.revoked_at.is_some() {
                    return Ok(Modification::Keep(Some(record)));
                }
                record.revoked_at = Some(now);
                let bytes = serde_json::to_vec(&record)
                    .map_err(|_| TokenError::Corrupt { id: id.to_owned() })?;
                Ok::<_, TokenError>(Modification::Write(bytes, Some(record)))
            })
            .await?;
        self.forget(id);
        if let (Some(feed), Some(_)) = (&self.revocations, &result) {
            feed.announce(Revoked::Token(id.to_owned()));
        }
        Ok(result)
    }

    /// Checks a presented token and returns the principal it proves.
    pub async fn verify(
        &self,
        presented: &str,
        now: DateTime<Utc>,
    ) -> Result<Principal, TokenError> {
        let (id, secret) = parse(presented).ok_or(TokenError::Malformed)?;
        let record = self.record(id).await?;
        if !random::same(&random::digest_hex(secret), &record.secret_sha256) {
            return Err(TokenError::WrongSecret { id: id.to_owned() });
        }
        if record.revoked_at.is_some() {
            return Err(TokenError::Revoked { id: id.to_owned() });
        }
        if now >= record.expires_at {
            return Err(TokenError::Expired { id: id.to_owned() });
        }
        if record
            .last_used_at
            .is_none_or(|at| now - at >= USE_RECORDED_EVERY)
        {
            self.record_use(id, now).await;
        }
        Ok(Principal {
            subject: format!("token:{id}"),
            email: None,
            groups: Vec::new(),
            method: Method::ApiToken,
            authenticated_at: now,
            token_scope: Some(record.scope),
        })
    }

    async fn record(&self, id: &str) -> Result<TokenRecord, TokenError> {
        if let Ok(cache) = self.cache.lock()
            && let Some((record, at)) = cache.get(id)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(record.clone());
        }
        let object = self
            .scope
            .get(&key(id)?)
            .await?
            .ok_or_else(|| TokenError::Unknown { id: id.to_owned() })?;
        let record: TokenRecord = serde_json::from_slice(&object.value)
            .map_err(|_| TokenError::Corrupt { id: id.to_owned() })?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            cache.insert(id.to_owned(), (record.clone(), Instant::now()));
        }
        Ok(record)
    }

    /// Writes `now` as token `id`'s last use, and caches the record as
    /// written so the next verifications of the day write nothing. A failed
    /// write is logged, not the request's failure: the use is a record for
    /// `doctor`, not a condition of access.
    async fn record_use(&self, id: &str, now: DateTime<Utc>) {
        // `id` was parsed as a token's, so it is a valid key.
        let Ok(key) = key(id) else {
            return;
        };
        let written = self
            .scope
            .modify(&key, |current| {
                let Some(bytes) = current else {
                    return Ok(Modification::Keep(None));
                };
                let mut record: TokenRecord = serde_json::from_slice(bytes)
                    .map_err(|_| TokenError::Corrupt { id: id.to_owned() })?;
                // Another replica wrote it today already.
                if record
                    .last_used_at
                    .is_some_and(|at| now - at < USE_RECORDED_EVERY)
                {
                    return Ok(Modification::Keep(Some(record)));
                }
                record.last_used_at = Some(now);
                let bytes = serde_json::to_vec(&record)
                    .map_err(|_| TokenError::Corrupt { id: id.to_owned() })?;
                Ok::<_, TokenError>(Modification::Write(bytes, Some(record)))
            })
            .await;
        match written {
            Ok(Some(record)) => {
                if let Ok(mut cache) = self.cache.lock() {
                    cache.insert(id.to_owned(), (record, Instant::now()));
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(token = id, error = %e, "recording a token's use failed"),
        }
    }

    fn forget(&self, id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(id);
        }
    }
}

impl fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStore")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// `hs_tok_<id>_<secret>` → (id, secret), checking the shape of both.
pub(crate) fn parse(presented: &str) -> Option<(&str, &str)> {
    let rest = presented.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (is_id_shaped(id) && random::is_token_shaped(secret, SECRET_BYTES)).then_some((id, secret))
}

fn is_id_shaped(id: &str) -> bool {
    id.len() == ID_BYTES * 2 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'.' | b'_' | b'-'))
}

fn key(id: &str) -> Result<ObjectKey, TokenError> {
    Ok(ObjectKey::segment(id).map_err(StorageError::from)?)
}

#[cfg(test)]
mod tests;
