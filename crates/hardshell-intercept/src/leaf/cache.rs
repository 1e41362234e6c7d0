//! The bounded leaf cache: at most `capacity` hosts, the oldest issued
//! dropped first, an entry past its renewal time treated as absent.
//!
//! Oldest-issued, not least-recently-used: a busy host's leaf is reissued
//! daily anyway, and a host list of 1024 is past what one install reaches.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::sign::CertifiedKey;

pub(super) struct LeafCache {
    entries: HashMap<String, Cached>,
    /// Hosts in the order their current leaf was issued.
    order: VecDeque<String>,
    capacity: usize,
}

struct Cached {
    leaf: Arc<CertifiedKey>,
    renew_at: SystemTime,
}

impl LeafCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// The leaf for `host` if it is not yet due for renewal at `now`.
    pub(super) fn get(&self, host: &str, now: SystemTime) -> Option<Arc<CertifiedKey>> {
        let cached = self.entries.get(host)?;
        (now < cached.renew_at).then(|| cached.leaf.clone())
    }

    /// Keeps `leaf` for `host` (replacing a due one), dropping the oldest
    /// host's leaf if the cache is full.
    pub(super) fn insert(&mut self, host: String, leaf: Arc<CertifiedKey>, renew_at: SystemTime) {
        if self.entries.contains_key(&host) {
            self.order.retain(|h| h != &host);
        }
        while self.entries.len() >= self.capacity && !self.entries.contains_key(&host) {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        self.order.push_back(host.clone());
        self.entries.insert(host, Cached { leaf, renew_at });
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }
}
