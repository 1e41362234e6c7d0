//! The signed identity the edge hands to the workload in `X-Hardshell-Identity`.
//!
//! The workload never sees the client's credentials (cookies, tokens, JWTs); it
//! sees this assertion instead, signed with the edge's Ed25519 key and
//! short-lived. The workload verifies it with the edge's public key, so
//! neither a client nor a compromised workload can mint one.
//!
//! One assertion serves a principal for a few minutes ([`AssertionCache`]):
//! signed when first needed and again a minute before it ends, as
//! Cloudflare Access hands the origin one JWT for a whole session, instead
//! of an Ed25519 signature on every request. What names the request is
//! `X-Request-Id`, beside it. A replay of an assertion can only come from
//! the upstream itself: the edge strips the header from every client.
//!
//! Format: `v1.<base64url(JSON claims)>.<base64url(signature over "v1." + claims part)>`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{Method, Principal, TokenScope};

/// The header the upstream receives.
pub const IDENTITY_HEADER: &str = "x-hardshell-identity";
const VERSION: &str = "v1";
/// How long an assertion is valid.
pub const ASSERTION_LIFETIME_SECS: i64 = 300;
/// An assertion is signed again this long before it ends, so whatever the
/// upstream receives is valid for at least this long.
pub const ASSERTION_RENEW_SECS: i64 = 60;

/// What the edge asserts about a request's principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityClaims {
    pub sub: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
    pub method: Method,
    pub scope: Option<TokenScope>,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("the identity key is not a valid Ed25519 PKCS#8 document")]
    BadKey,
    #[error("the key generator failed")]
    KeyGeneration,
    #[error("malformed identity assertion")]
    Malformed,
    #[error("identity assertion signature does not verify")]
    BadSignature,
    #[error("identity assertion expired or not yet valid")]
    Expired,
}

/// The edge's signing key. Redacted in `Debug`.
pub struct IdentitySigner {
    key: Ed25519KeyPair,
}

impl IdentitySigner {
    /// A new key, as PKCS#8 bytes to store in the secret store.
    pub fn generate_pkcs8() -> Result<Zeroizing<Vec<u8>>, IdentityError> {
        let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| IdentityError::KeyGeneration)?;
        Ok(Zeroizing::new(document.as_ref().to_vec()))
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, IdentityError> {
        Ed25519KeyPair::from_pkcs8(pkcs8)
            .map(|key| Self { key })
            .map_err(|_| IdentityError::BadKey)
    }

    /// The public key (32 bytes) the workload verifies with.
    pub fn public_key(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }

    /// The header value asserting `principal`, valid from `now` for
    /// [`ASSERTION_LIFETIME_SECS`].
    pub fn sign(&self, principal: &Principal, now: DateTime<Utc>) -> String {
        let claims = IdentityClaims {
            sub: principal.subject.clone(),
            email: principal.email.clone(),
            groups: principal.groups.clone(),
            method: principal.method,
            scope: principal.token_scope,
            iat: now.timestamp(),
            exp: now.timestamp() + ASSERTION_LIFETIME_SECS,
        };
        // Serialising plain strings, numbers and enums cannot fail.
        let json = serde_json::to_vec(&claims).unwrap_or_default();
        let signed_part = format!("{VERSION}.{}", URL_SAFE_NO_PAD.encode(json));
        let signature = self.key.sign(signed_part.as_bytes());
        format!(
            "{signed_part}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}

impl fmt::Debug for IdentitySigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentitySigner")
            .field("public_key", &URL_SAFE_NO_PAD.encode(self.public_key()))
            .finish_non_exhaustive()
    }
}

/// What an assertion says of its principal: the key it is kept under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Asserted {
    subject: String,
    email: Option<String>,
    groups: Vec<String>,
    method: Method,
    scope: Option<TokenScope>,
}

impl Asserted {
    fn of(principal: &Principal) -> Self {
        Self {
            subject: principal.subject.clone(),
            email: principal.email.clone(),
            groups: principal.groups.clone(),
            method: principal.method,
            scope: principal.token_scope,
        }
    }
}

/// The most principals whose assertions are kept; past it, the cache is
/// emptied and fills again (each entry is one signature to make again).
const MAX_CACHED: usize = 4096;

/// Assertions signed once per principal and handed out until
/// [`ASSERTION_RENEW_SECS`] before they end. A principal is what the
/// claims say of it (subject, email, groups, method, scope), so a token's
/// requests share one assertion, and a login whose groups changed gets
/// its own. Revocation is not the cache's business: a principal the edge no
/// longer admits never reaches it.
pub struct AssertionCache {
    signer: IdentitySigner,
    cached: Mutex<HashMap<Asserted, (Arc<str>, i64)>>,
}

impl AssertionCache {
    pub fn new(signer: IdentitySigner) -> Self {
        Self {
            signer,
            cached: Mutex::new(HashMap::new()),
        }
    }

    /// The public key (32 bytes) the workload verifies with.
    pub fn public_key(&self) -> Vec<u8> {
        self.signer.public_key()
    }

    /// An assertion of `principal` valid at `now` for at least
    /// [`ASSERTION_RENEW_SECS`] more.
    pub fn assertion(&self, principal: &Principal, now: DateTime<Utc>) -> Arc<str> {
        let asserted = Asserted::of(principal);
        let renew_at = |issued: i64| issued + ASSERTION_LIFETIME_SECS - ASSERTION_RENEW_SECS;
        // A poisoned lock held only a map of signed strings: still sound.
        let mut cached = self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((header, issued)) = cached.get(&asserted) {
            // Not before it was issued either: a clock set back signs anew.
            if (*issued..renew_at(*issued)).contains(&now.timestamp()) {
                return Arc::clone(header);
            }
        }
        let header: Arc<str> = self.signer.sign(principal, now).into();
        if cached.len() >= MAX_CACHED {
            cached.clear();
        }
        cached.insert(asserted, (Arc::clone(&header), now.timestamp()));
        header
    }
}

impl fmt::Debug for AssertionCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionCache")
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

/// Verifies an assertion with the edge's public key; what a workload calls.
pub fn verify(
    header: &str,
    public_key: &[u8],
    now: DateTime<Utc>,
) -> Result<IdentityClaims, IdentityError> {
    let (signed_part, signature) = header.rsplit_once('.').ok_or(IdentityError::Malformed)?;
    let claims_part = signed_part
        .strip_prefix(VERSION)
        .and_then(|rest| rest.strip_prefix('.'))
        .ok_or(IdentityError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| IdentityError::Malformed)?;
    UnparsedPublicKey::new(&signature::ED25519, public_key)
        .verify(signed_part.as_bytes(), &signature)
        .map_err(|_| IdentityError::BadSignature)?;
    let json = URL_SAFE_NO_PAD
        .decode(claims_part)
        .map_err(|_| IdentityError::Malformed)?;
    let claims: IdentityClaims =
        serde_json::from_slice(&json).map_err(|_| IdentityError::Malformed)?;
    let now = now.timestamp();
    // Saturating: `iat` is whatever the signed JSON holds, down to i64::MIN.
    if now < claims.iat.saturating_sub(5) || now >= claims.exp {
        return Err(IdentityError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
    }

    fn signer() -> IdentitySigner {
        IdentitySigner::from_pkcs8(&IdentitySigner::generate_pkcs8().unwrap()).unwrap()
    }

    fn owner() -> Principal {
        Principal {
            subject: "owner".into(),
            email: Some("me@example.com".into()),
            groups: vec!["admins".into()],
            method: Method::Passkey,
            authenticated_at: now(),
            token_scope: None,
        }
    }

    #[test]
    fn a_signed_assertion_verifies_with_the_public_key() {
        let signer = signer();
        let header = signer.sign(&owner(), now());
        let claims = verify(&header, &signer.public_key(), now()).unwrap();
        assert_eq!(claims.sub, "owner");
        assert_eq!(claims.exp - claims.iat, ASSERTION_LIFETIME_SECS);
        assert_eq!(claims.email.as_deref(), Some("me@example.com"));
    }

    #[test]
    fn another_key_tampering_and_expiry_are_refused() {
        let signer = signer();
        let header = signer.sign(&owner(), now());
        assert_eq!(
            verify(&header, &self::signer().public_key(), now()),
            Err(IdentityError::BadSignature)
        );
        let (head, sig) = header.rsplit_once('.').unwrap();
        let forged_claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"attacker"}"#);
        let forged = format!("v1.{forged_claims}.{sig}");
        assert_eq!(
            verify(&forged, &signer.public_key(), now()),
            Err(IdentityError::BadSignature)
        );
        assert!(verify(&format!("{head}."), &signer.public_key(), now()).is_err());
        assert!(verify("garbage", &signer.public_key(), now()).is_err());
        let later = now() + chrono::Duration::seconds(ASSERTION_LIFETIME_SECS);
        assert_eq!(
            verify(&header, &signer.public_key(), later),
            Err(IdentityError::Expired)
        );
    }

    /// Found by reading `verify` while writing the `identity_assertion` fuzz
    /// target: `iat - 5` overflowed (a panic in debug builds).
    #[test]
    fn an_assertion_issued_at_the_dawn_of_time_is_checked_without_overflow() {
        let pkcs8 = IdentitySigner::generate_pkcs8().unwrap();
        let key = Ed25519KeyPair::from_pkcs8(&pkcs8).unwrap();
        let claims = format!(
            r#"{{"sub":"owner","email":null,"groups":[],"method":"passkey","scope":null,"iat":{},"exp":{}}}"#,
            i64::MIN,
            now().timestamp() + 30
        );
        let signed_part = format!("{VERSION}.{}", URL_SAFE_NO_PAD.encode(claims));
        let signature = key.sign(signed_part.as_bytes());
        let header = format!(
            "{signed_part}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        );
        let public_key = key.public_key().as_ref().to_vec();
        assert!(verify(&header, &public_key, now()).is_ok());
    }

    #[test]
    fn one_assertion_serves_a_principal_until_a_minute_before_it_ends() {
        let cache = AssertionCache::new(signer());
        let first = cache.assertion(&owner(), now());
        let renew = ASSERTION_LIFETIME_SECS - ASSERTION_RENEW_SECS;
        let just_before = now() + chrono::Duration::seconds(renew - 1);
        assert_eq!(cache.assertion(&owner(), just_before), first);
        // What is handed out is valid for at least a minute more.
        let claims = verify(&first, &cache.public_key(), just_before).unwrap();
        assert!(claims.exp - just_before.timestamp() > ASSERTION_RENEW_SECS);

        let renewed_at = now() + chrono::Duration::seconds(renew);
        let renewed = cache.assertion(&owner(), renewed_at);
        assert_ne!(renewed, first);
        assert_eq!(
            verify(&renewed, &cache.public_key(), renewed_at)
                .unwrap()
                .iat,
            renewed_at.timestamp()
        );
        // A clock set back is not handed an assertion from its future.
        let earlier = now() - chrono::Duration::seconds(30);
        let again = cache.assertion(&owner(), earlier);
        assert_eq!(
            verify(&again, &cache.public_key(), earlier).unwrap().iat,
            earlier.timestamp()
        );
    }

    #[test]
    fn the_cache_holds_at_most_max_cached_principals() {
        let cache = AssertionCache::new(signer());
        let principal = |n: usize| {
            let mut p = owner();
            p.subject = format!("user-{n}");
            p
        };
        for n in 0..MAX_CACHED {
            cache.assertion(&principal(n), now());
        }
        let held = || cache.cached.lock().unwrap().len();
        assert_eq!(held(), MAX_CACHED);
        // One more principal than the bound: emptied, then only it kept.
        let last = cache.assertion(&principal(MAX_CACHED), now());
        assert_eq!(held(), 1);
        assert_eq!(cache.assertion(&principal(MAX_CACHED), now()), last);
    }

    #[test]
    fn each_principal_has_its_own_assertion_and_a_token_one_for_all_its_requests() {
        let cache = AssertionCache::new(signer());
        let owner_one = cache.assertion(&owner(), now());
        let mut other_groups = owner();
        other_groups.groups = vec!["readers".into()];
        let other = cache.assertion(&other_groups, now());
        assert_ne!(owner_one, other);
        assert_eq!(
            verify(&other, &cache.public_key(), now()).unwrap().groups,
            ["readers"]
        );
        // A token's principal is proven anew on each request: the same
        // assertion all the same.
        let token = |at| Principal {
            subject: "token:abc".into(),
            email: None,
            groups: Vec::new(),
            method: Method::ApiToken,
            authenticated_at: at,
            token_scope: Some(TokenScope::Chat),
        };
        let once = cache.assertion(&token(now()), now());
        let later = now() + chrono::Duration::seconds(10);
        assert_eq!(cache.assertion(&token(later), later), once);
    }

    #[test]
    fn debug_shows_only_the_public_key() {
        let pkcs8 = IdentitySigner::generate_pkcs8().unwrap();
        let signer = IdentitySigner::from_pkcs8(&pkcs8).unwrap();
        let shown = format!("{signer:?}");
        assert!(shown.contains(&URL_SAFE_NO_PAD.encode(signer.public_key())));
        assert!(!shown.contains(&URL_SAFE_NO_PAD.encode(&pkcs8[..])));
    }
}
