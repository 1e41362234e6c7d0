//! A cached JSON Web Key Set that is fetched again only when it must be, and
//! never more than once per interval.
//!
//! Verifying a token must not cost a request to the identity provider: an
//! attacker could otherwise make hardshell hammer the provider (or stall on it)
//! by sending tokens with made-up key ids. So the set is fetched on first use,
//! again when it is older than `max_age` (keys can be withdrawn), and again when
//! a token names a key the set lacks (keys are rotated) — but at most once per
//! `min_refresh_interval`, and concurrent callers share that one fetch.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use url::Url;

use crate::fetch::{FetchError, Fetcher};

/// How often a key set may be fetched and how long it is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySetPolicy {
    /// At most one fetch per this interval, whatever the tokens say.
    pub min_refresh_interval: Duration,
    /// A set older than this is fetched again on next use, so a key the
    /// provider withdrew stops being trusted. If that fetch fails, the old set
    /// is kept: an unreachable provider must not lock everyone out.
    pub max_age: Duration,
}

impl Default for KeySetPolicy {
    fn default() -> Self {
        Self {
            min_refresh_interval: Duration::from_secs(30),
            max_age: Duration::from_secs(60 * 60),
        }
    }
}

/// Why no usable key set could be had.
#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    #[error("fetching the key set failed: {0}")]
    Fetch(#[from] FetchError),
    #[error("the key set at {url} is not a valid JWKS: {source}")]
    Parse {
        url: String,
        #[source]
        source: KeySetParseError,
    },
    #[error(
        "no key set yet and the last attempt was under {} s ago",
        .interval.as_secs()
    )]
    RateLimited { interval: Duration },
}

/// Why a fetched body is not a usable key set.
#[derive(Debug, thiserror::Error)]
pub enum KeySetParseError {
    /// Not JSON, or not a JWKS (as the OIDC client reads it).
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Not a JWKS document (as the Cloudflare Access verifier reads it).
    #[error("not a JWKS document: {0}")]
    NotJwks(#[source] serde_json::Error),
    #[error("it has no RSA signing key with a key id")]
    NoSigningKey,
}

/// Turns a fetched body into the verifier's own key type.
pub(crate) type ParseKeySet<S> = fn(&[u8]) -> Result<S, KeySetParseError>;

struct Cached<S> {
    set: Arc<S>,
    fetched_at: Instant,
}

pub(crate) struct KeySetCache<S> {
    url: Url,
    fetcher: Fetcher,
    policy: KeySetPolicy,
    parse: ParseKeySet<S>,
    cached: RwLock<Option<Cached<S>>>,
    /// Held across a fetch so concurrent callers wait for it instead of
    /// starting their own; holds the time of the last attempt.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
}

impl<S> std::fmt::Debug for KeySetCache<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySetCache")
            .field("url", &self.url.as_str())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync + 'static> KeySetCache<S> {
    pub(crate) fn new(
        url: Url,
        fetcher: Fetcher,
        policy: KeySetPolicy,
        parse: ParseKeySet<S>,
    ) -> Self {
        Self {
            url,
            fetcher,
            policy,
            parse,
            cached: RwLock::new(None),
            last_attempt: tokio::sync::Mutex::new(None),
        }
    }

    /// Seeds the cache with a set fetched elsewhere (OIDC discovery fetches
    /// the provider's keys itself).
    pub(crate) fn seed(&self, set: S) {
        self.store(Arc::new(set));
    }

    /// The cached set: fetched on first use and when older than `max_age`.
    pub(crate) async fn current(&self) -> Result<Arc<S>, KeySetError> {
        match self.cached_set() {
            Some((set, fetched_at)) if fetched_at.elapsed() < self.policy.max_age => Ok(set),
            Some((stale, _)) => match self.refresh(Some(&stale)).await {
                Ok(set) => Ok(set),
                Err(err) => {
                    tracing::warn!(url = %self.url, error = %err, "keeping a stale key set");
                    Ok(stale)
                }
            },
            None => self.refresh(None).await,
        }
    }

    /// Called when a token names a key that `seen` lacks. Returns a newer set
    /// if another caller already fetched one, fetches if the interval allows,
    /// and otherwise returns the current set unchanged.
    pub(crate) async fn refresh_after_miss(&self, seen: &Arc<S>) -> Result<Arc<S>, KeySetError> {
        self.refresh(Some(seen)).await
    }

    async fn refresh(&self, seen: Option<&Arc<S>>) -> Result<Arc<S>, KeySetError> {
        let mut last_attempt = self.last_attempt.lock().await;
        let current = self.cached_set().map(|(set, _)| set);
        if let Some(current) = &current {
            let newer_than_seen = seen.is_none_or(|seen| !Arc::ptr_eq(seen, current));
            if newer_than_seen {
                // Someone fetched while we waited for the lock.
                return Ok(Arc::clone(current));
            }
        }
        if let Some(at) = *last_attempt
            && at.elapsed() < self.policy.min_refresh_interval
        {
            return current.ok_or(KeySetError::RateLimited {
                interval: self.policy.min_refresh_interval,
            });
        }
        *last_attempt = Some(Instant::now());
        let body = self.fetcher.get(&self.url).await?;
        let set = (self.parse)(&body).map_err(|source| KeySetError::Parse {
            url: self.url.to_string(),
            source,
        })?;
        let set = Arc::new(set);
        self.store(Arc::clone(&set));
        tracing::info!(url = %self.url, "fetched the key set");
        Ok(set)
    }

    fn cached_set(&self) -> Option<(Arc<S>, Instant)> {
        let cached = self
            .cached
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        cached
            .as_ref()
            .map(|cached| (Arc::clone(&cached.set), cached.fetched_at))
    }

    fn store(&self, set: Arc<S>) {
        let mut cached = self
            .cached
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        *cached = Some(Cached {
            set,
            fetched_at: Instant::now(),
        });
    }
}
