//! Replay refusal: the delivery ids already accepted, so a webhook delivered
//! twice (a platform retry, or an attacker replaying a captured request inside
//! the freshness window) is handled once.

use std::collections::{HashSet, VecDeque};

/// Longest delivery id kept. Real ids are far shorter (Telegram's update_id
/// is an integer, Slack's event_id about a dozen characters, a Discord
/// snowflake at most 20 digits, a WhatsApp `wamid.` under 100), so a longer
/// one is no platform's; refusing it keeps the set's memory bounded at
/// capacity × this many bytes.
pub const MAX_ID_BYTES: usize = 128;

/// A bounded set of delivery ids: when full, the oldest is forgotten.
#[derive(Debug, Clone)]
pub struct SeenIds {
    capacity: usize,
    order: VecDeque<Box<str>>,
    ids: HashSet<Box<str>>,
}

impl SeenIds {
    /// A set remembering the last `capacity` ids (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            order: VecDeque::with_capacity(capacity),
            ids: HashSet::with_capacity(capacity),
        }
    }

    /// True if `id` was not seen among the remembered ids, and remembers it.
    /// False for a repeat, and for an empty id or one over [`MAX_ID_BYTES`]:
    /// such an id cannot be remembered, so it can never be proved new, and
    /// the delivery is refused rather than risk handling it twice.
    pub fn first_time(&mut self, id: &str) -> bool {
        if id.is_empty() || id.len() > MAX_ID_BYTES || self.ids.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        let id: Box<str> = id.into();
        self.ids.insert(id.clone());
        self.order.push_back(id);
        true
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_id_is_not_first_time() {
        let mut seen = SeenIds::new(8);
        assert!(seen.first_time("Ev01"));
        assert!(!seen.first_time("Ev01"));
        assert!(seen.first_time("Ev02"));
    }

    #[test]
    fn the_oldest_id_is_forgotten_when_full() {
        let mut seen = SeenIds::new(2);
        assert!(seen.first_time("1"));
        assert!(seen.first_time("2"));
        assert!(seen.first_time("3"));
        assert_eq!(seen.len(), 2);
        assert!(!seen.first_time("2"));
        assert!(!seen.first_time("3"));
        assert!(seen.first_time("1"), "1 was evicted, so it reads as new");
    }

    #[test]
    fn overlong_and_empty_ids_are_refused() {
        let mut seen = SeenIds::new(4);
        let longest = "x".repeat(MAX_ID_BYTES);
        assert!(seen.first_time(&longest));
        let over = "x".repeat(MAX_ID_BYTES + 1);
        assert!(!seen.first_time(&over));
        assert!(!seen.first_time(&over), "never remembered, never accepted");
        assert!(!seen.first_time(""));
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn zero_capacity_still_refuses_an_immediate_replay() {
        let mut seen = SeenIds::new(0);
        assert!(seen.first_time("a"));
        assert!(!seen.first_time("a"));
    }
}
