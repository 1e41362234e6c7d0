//! [`Limiter`]: one [`Quota`] applied to many keys, safe to share between threads,
//! with memory bounded however many distinct keys arrive.
//!
//! Keys are spread over up to 16 shards, each a `Mutex<HashMap>`, so concurrent
//! requests for different keys rarely wait on one lock. The shard is chosen with a
//! per-limiter random hash seed, so a client cannot aim many keys at one shard.
//!
//! Memory: every shard has a fixed share of `max_keys`. A key whose TAT is in the
//! past is spent (it would be admitted with a full burst anyway) and is dropped
//! when room is needed. When a shard is full of keys that are still limited, a new
//! key is **denied**: forgetting a limited key would hand its owner a fresh burst,
//! so a flood of new keys could be used to reset someone's limit; denying new keys
//! instead fails closed. Every stored TAT is at most `burst` intervals ahead of the
//! time it was set, so a full shard frees room within that time. Callers should
//! choose keys a client cannot mint freely (e.g. an IPv6 /64, not the full address).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::Quota;
use crate::gcra::{self, Decision, Tat};

/// Enough shards that two cores, or twenty, rarely contend on one lock.
const SHARDS: usize = 16;

/// Per-key rate limits under one quota, with at most `max_keys` keys remembered.
pub struct Limiter<K> {
    quota: Quota,
    max_keys: NonZeroUsize,
    shards: Box<[Mutex<Shard<K>>]>,
    router: RandomState,
}

struct Shard<K> {
    tats: HashMap<K, Tat>,
    capacity: usize,
    /// No TAT in this shard is earlier than this, so before it no key can be spent
    /// and a sweep would free nothing. TATs only grow, so it stays a lower bound
    /// without being updated on every request; it is refreshed by each sweep.
    earliest: Option<Tat>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(quota: Quota, max_keys: NonZeroUsize) -> Self {
        let count = max_keys.get().min(SHARDS);
        let base = max_keys.get() / count;
        let extra = max_keys.get() % count;
        let shards = (0..count)
            .map(|index| {
                Mutex::new(Shard {
                    tats: HashMap::new(),
                    capacity: base + usize::from(index < extra),
                    earliest: None,
                })
            })
            .collect();
        Self {
            quota,
            max_keys,
            shards,
            router: RandomState::new(),
        }
    }

    pub fn quota(&self) -> Quota {
        self.quota
    }

    pub fn max_keys(&self) -> NonZeroUsize {
        self.max_keys
    }

    /// Decides a request from `key` at `now` (time since the caller's monotonic
    /// origin; use the same origin for every call).
    pub fn check(&self, key: &K, now: Duration) -> Decision {
        let mut shard = self.lock(key);
        if let Some(tat) = shard.tats.get_mut(key) {
            let (decision, next) = gcra::check(Some(*tat), &self.quota, now);
            *tat = next;
            return decision;
        }
        if let Err(retry_after) = shard.make_room(now) {
            return Decision::Deny { retry_after };
        }
        let (decision, tat) = gcra::check(None, &self.quota, now);
        if decision.is_allowed() {
            shard.tats.insert(key.clone(), tat);
            shard.earliest = Some(shard.earliest.map_or(tat, |e| e.min(tat)));
        }
        decision
    }

    /// Whether a request from `key` at `now` would be admitted, without charging
    /// for it. For limits on failures: refuse a locked-out client before doing the
    /// work a failure costs, and charge only when a failure happens.
    pub fn peek(&self, key: &K, now: Duration) -> Decision {
        let shard = self.lock(key);
        let tat = shard.tats.get(key).copied();
        gcra::check(tat, &self.quota, now).0
    }

    /// Drops every spent key; returns how many. Optional: [`Limiter::check`]
    /// sweeps a shard itself when it needs room. Call it on a timer to give
    /// memory back between bursts of traffic.
    pub fn evict_expired(&self, now: Duration) -> usize {
        self.shards.iter().map(|shard| lock(shard).sweep(now)).sum()
    }

    /// Keys currently remembered.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).tats.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self, key: &K) -> MutexGuard<'_, Shard<K>> {
        let count = self.shards.len() as u64;
        let index = (self.router.hash_one(key) % count) as usize;
        lock(&self.shards[index])
    }
}

/// A panic elsewhere cannot leave a shard inconsistent (each update is a single
/// map write), so a poisoned lock is still safe to use.
fn lock<K>(shard: &Mutex<Shard<K>>) -> MutexGuard<'_, Shard<K>> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<K: Hash + Eq> Shard<K> {
    /// Ensures there is room for one more key, or says how long until there is.
    fn make_room(&mut self, now: Duration) -> Result<(), Duration> {
        if self.tats.len() < self.capacity {
            return Ok(());
        }
        if self.earliest.is_some_and(|earliest| earliest.is_spent(now)) {
            self.sweep(now);
        }
        if self.tats.len() < self.capacity {
            return Ok(());
        }
        // Full of limited keys: the earliest one is spent at `earliest`.
        let until = self.earliest.map_or(Duration::ZERO, Tat::as_duration);
        Err(until.saturating_sub(now).max(Duration::from_nanos(1)))
    }

    fn sweep(&mut self, now: Duration) -> usize {
        let before = self.tats.len();
        self.tats.retain(|_, tat| !tat.is_spent(now));
        self.earliest = self.tats.values().min().copied();
        before - self.tats.len()
    }
}

impl<K> std::fmt::Debug for Limiter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys (addresses, principals) stay out of debug output.
        f.debug_struct("Limiter")
            .field("quota", &self.quota)
            .field("max_keys", &self.max_keys)
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
