//! Commands sent to the browser and not yet answered, under the proxy's own
//! ids: the client's ids are its own business, and the proxy sends commands
//! of its own (closing a page past the limit) whose answers it must not pass
//! on. Bounded: past `max`, a command is refused, not queued.

use std::collections::HashMap;

use serde_json::Number;

/// Whose command an answer belongs to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Waiting {
    /// The client's: answered under its id (and session).
    Client {
        id: Number,
        session_id: Option<String>,
        /// A screenshot the session's trail keeps (the agent's sessions).
        capture: bool,
    },
    /// The proxy's own: the answer is not passed on.
    Own,
}

#[derive(Debug)]
pub(crate) struct Pending {
    waiting: HashMap<u64, Waiting>,
    next: u64,
    max: usize,
}

impl Pending {
    pub(crate) fn new(max: usize) -> Pending {
        Pending {
            waiting: HashMap::new(),
            next: 1,
            max,
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.waiting.len() >= self.max
    }

    /// A fresh proxy id for `waiting`; `None` when full.
    pub(crate) fn insert(&mut self, waiting: Waiting) -> Option<u64> {
        if self.is_full() {
            return None;
        }
        let id = self.next;
        self.next = self.next.wrapping_add(1).max(1);
        self.waiting.insert(id, waiting);
        Some(id)
    }

    /// Who waits for the answer to `id`; `None` for an id the proxy never
    /// sent (a hostile browser's invention) or already answered.
    pub(crate) fn answer(&mut self, id: u64) -> Option<Waiting> {
        self.waiting.remove(&id)
    }

    /// Every client command still waiting, for their error answers.
    pub(crate) fn drain_clients(&mut self) -> Vec<(Number, Option<String>)> {
        self.waiting
            .drain()
            .filter_map(|(_, waiting)| match waiting {
                Waiting::Client { id, session_id, .. } => Some((id, session_id)),
                Waiting::Own => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: u64) -> Waiting {
        Waiting::Client {
            id: Number::from(id),
            session_id: None,
            capture: false,
        }
    }

    #[test]
    fn answers_find_their_command_once() {
        let mut pending = Pending::new(4);
        let a = pending.insert(client(7)).unwrap();
        let b = pending.insert(client(7)).unwrap();
        assert_ne!(a, b, "the client may reuse ids; the proxy's are its own");
        assert_eq!(pending.answer(a), Some(client(7)));
        assert_eq!(pending.answer(a), None);
        assert_eq!(pending.answer(999), None);
    }

    #[test]
    fn past_the_bound_a_command_is_refused() {
        let mut pending = Pending::new(2);
        assert!(pending.insert(client(1)).is_some());
        assert!(pending.insert(Waiting::Own).is_some());
        assert!(pending.insert(client(2)).is_none());
        assert_eq!(pending.drain_clients().len(), 1);
        assert!(!pending.is_full());
    }
}
