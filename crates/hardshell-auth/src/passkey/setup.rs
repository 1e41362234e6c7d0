//! One-time setup links: the only way to register a passkey.
//!
//! A link carries a [`SetupToken`] of 32 random bytes in its fragment
//! (`/login#setup=...`), so it never reaches a server log. The store keeps only the
//! token's SHA-256, as the object's key: whoever reads the store cannot rebuild a
//! link. A token is live for [`SETUP_LINK_TTL`] and is used up by one successful
//! registration; using it up is a compare-and-swap, so of two concurrent uses
//! exactly one wins.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hardshell_storage::{ObjectKey, Scope, StorageError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;
use zeroize::Zeroizing;

use super::PasskeyError;

/// How long a setup link can be used after it is issued.
pub const SETUP_LINK_TTL: Duration = Duration::from_secs(15 * 60);

/// Marks the token for people and secret scanners alike.
const TOKEN_PREFIX: &str = "hs_setup_";
const TOKEN_BYTES: usize = 32;
const FORMAT_VERSION: u32 = 1;

/// The secret in a setup link. `Debug` redacts it.
pub struct SetupToken(Zeroizing<String>);

/// SHA-256 of a token, hex: what the store and the registration state keep.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct SetupDigest(String);

#[derive(Serialize, Deserialize)]
struct Record {
    v: u32,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
}

/// The setup links that are live, used, or not yet pruned.
#[derive(Debug, Clone)]
pub struct SetupLinks {
    scope: Scope,
}

impl SetupToken {
    fn generate() -> Result<Self, PasskeyError> {
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        getrandom::fill(bytes.as_mut()).map_err(|e| PasskeyError::Random(e.to_string()))?;
        let mut text = Zeroizing::new(String::with_capacity(TOKEN_PREFIX.len() + 43));
        text.push_str(TOKEN_PREFIX);
        URL_SAFE_NO_PAD.encode_string(bytes.as_ref(), &mut text);
        Ok(Self(text))
    }

    /// Reads a token as a client sent it. Only the shape is checked here; whether
    /// it is live is for [`SetupLinks`] to say.
    pub fn parse(text: &str) -> Result<Self, PasskeyError> {
        let encoded = text
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(PasskeyError::MalformedSetupToken)?;
        let decoded = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(encoded)
                .map_err(|_| PasskeyError::MalformedSetupToken)?,
        );
        if decoded.len() != TOKEN_BYTES {
            return Err(PasskeyError::MalformedSetupToken);
        }
        Ok(Self(Zeroizing::new(text.to_owned())))
    }

    /// The token itself, to print once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The link to print: `<origin>/login#setup=<token>`.
    pub fn link(&self, origin: &Url) -> Zeroizing<String> {
        let origin = origin.as_str().trim_end_matches('/');
        Zeroizing::new(format!("{origin}/login#setup={}", self.expose()))
    }

    pub(crate) fn digest(&self) -> SetupDigest {
        SetupDigest(hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

impl std::fmt::Debug for SetupToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetupToken(<redacted>)")
    }
}

impl SetupDigest {
    /// A short, non-secret handle for logs and errors.
    pub(crate) fn short(&self) -> String {
        self.0.chars().take(12).collect()
    }

    fn key(&self) -> Result<ObjectKey, PasskeyError> {
        Ok(ObjectKey::segment(&self.0).map_err(StorageError::from)?)
    }
}

impl std::fmt::Debug for SetupDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SetupDigest({})", self.short())
    }
}

impl SetupLinks {
    pub(super) fn new(scope: Scope) -> Self {
        Self { scope }
    }

    /// Issues a new link, live for [`SETUP_LINK_TTL`] from `now`. Each issued link
    /// admits one passkey: call this only for the first setup or from an admin
    /// action behind a fresh login.
    pub async fn issue(&self, now: DateTime<Utc>) -> Result<SetupToken, PasskeyError> {
        let token = SetupToken::generate()?;
        let record = Record {
            v: FORMAT_VERSION,
            issued_at: now,
            expires_at: now + ttl(),
            used_at: None,
        };
        let key = token.digest().key()?;
        self.scope.create(&key, &encode(&record)?).await?;
        tracing::info!(token = %token.digest().short(), expires_at = %record.expires_at, "setup link issued");
        Ok(token)
    }

    /// Uses `token` up: succeeds once, for a live token, and never twice even when
    /// called concurrently from several processes.
    pub async fn redeem(&self, token: &SetupToken, now: DateTime<Utc>) -> Result<(), PasskeyError> {
        self.redeem_digest(&token.digest(), now).await
    }

    /// Checks that `token` is live and unused, without using it up.
    pub(super) async fn check(
        &self,
        token: &SetupToken,
        now: DateTime<Utc>,
    ) -> Result<SetupDigest, PasskeyError> {
        let digest = token.digest();
        self.read_live(&digest, now).await?;
        Ok(digest)
    }

    pub(super) async fn redeem_digest(
        &self,
        digest: &SetupDigest,
        now: DateTime<Utc>,
    ) -> Result<(), PasskeyError> {
        let (mut record, version) = self.read_live(digest, now).await?;
        record.used_at = Some(now);
        match self
            .scope
            .update(&digest.key()?, &encode(&record)?, &version)
            .await
        {
            Ok(_) => Ok(()),
            // The only other writers are a concurrent redeem and prune (which deletes
            // only expired links): either way this use lost.
            Err(StorageError::Conflict { .. }) => Err(PasskeyError::UsedSetupToken {
                token: digest.short(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    async fn read_live(
        &self,
        digest: &SetupDigest,
        now: DateTime<Utc>,
    ) -> Result<(Record, hardshell_storage::Version), PasskeyError> {
        let key = digest.key()?;
        let token = digest.short();
        let Some(object) = self.scope.get(&key).await? else {
            return Err(PasskeyError::UnknownSetupToken { token });
        };
        let record = decode(&key, &object.value)?;
        if record.used_at.is_some() {
            return Err(PasskeyError::UsedSetupToken { token });
        }
        if now >= record.expires_at {
            return Err(PasskeyError::ExpiredSetupToken {
                token,
                expired_at: record.expires_at,
            });
        }
        Ok((record, object.version))
    }

    /// Deletes links whose time is up, used or not.
    pub(super) async fn prune(&self, now: DateTime<Utc>) -> Result<(), PasskeyError> {
        for entry in self.scope.list().await? {
            let Some(object) = self.scope.get(&entry.key).await? else {
                continue;
            };
            // An unreadable record admits nobody; drop it too.
            let expired = decode(&entry.key, &object.value).map_or(true, |r| now >= r.expires_at);
            if expired {
                self.scope.delete(&entry.key).await?;
            }
        }
        Ok(())
    }
}

fn ttl() -> chrono::Duration {
    chrono::Duration::from_std(SETUP_LINK_TTL).unwrap_or(chrono::Duration::minutes(15))
}

fn encode(record: &Record) -> Result<Vec<u8>, PasskeyError> {
    serde_json::to_vec(record).map_err(|e| PasskeyError::Corrupt {
        key: "setup record".into(),
        reason: e.to_string(),
    })
}

fn decode(key: &ObjectKey, bytes: &[u8]) -> Result<Record, PasskeyError> {
    let record: Record = serde_json::from_slice(bytes).map_err(|e| PasskeyError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })?;
    if record.v != FORMAT_VERSION {
        return Err(PasskeyError::Corrupt {
            key: key.to_string(),
            reason: format!("unknown format version {}", record.v),
        });
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_token_parses_back_to_the_same_digest() {
        let token = SetupToken::generate().unwrap();
        assert!(token.expose().starts_with(TOKEN_PREFIX));
        assert_eq!(token.expose().len(), TOKEN_PREFIX.len() + 43);
        let parsed = SetupToken::parse(token.expose()).unwrap();
        assert!(parsed.digest() == token.digest());
    }

    #[test]
    fn tokens_are_distinct() {
        let a = SetupToken::generate().unwrap();
        let b = SetupToken::generate().unwrap();
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = SetupToken::generate().unwrap();
        let without_prefix = good.expose().trim_start_matches(TOKEN_PREFIX).to_owned();
        let short = &good.expose()[..good.expose().len() - 1];
        let padded = format!("{}=", good.expose());
        for text in [
            "",
            TOKEN_PREFIX,
            &without_prefix,
            short,
            &padded,
            "hs_setup_!!",
        ] {
            assert!(
                matches!(
                    SetupToken::parse(text),
                    Err(PasskeyError::MalformedSetupToken)
                ),
                "{text:?}"
            );
        }
    }

    #[test]
    fn debug_redacts_the_token() {
        let token = SetupToken::generate().unwrap();
        let shown = format!("{token:?}");
        assert!(!shown.contains(token.expose().trim_start_matches(TOKEN_PREFIX)));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn link_puts_the_token_in_the_fragment() {
        let token = SetupToken::generate().unwrap();
        let origin = Url::parse("http://localhost:8787").unwrap();
        assert_eq!(
            *token.link(&origin),
            format!("http://localhost:8787/login#setup={}", token.expose())
        );
    }
}
