//! Which conversation has which page, kept between turns: bounded (the
//! least recently used is closed to make room) and closed when idle. Each
//! browser is a Chromium the edge runs for us, so none is kept longer than
//! it is used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::time::Instant;

use super::page::Page;

/// A conversation's page, `None` until opened or once lost. Locked for the
/// length of one action, so a conversation's actions run one at a time.
pub type Slot = Arc<tokio::sync::Mutex<Option<Page>>>;

/// How often idle pages are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Entry {
    slot: Slot,
    used: Instant,
}

/// The open pages, by conversation.
#[derive(Debug)]
pub struct Sessions {
    entries: Mutex<HashMap<String, Entry>>,
    max: usize,
    idle: Duration,
    sweeping: std::sync::atomic::AtomicBool,
}

impl Sessions {
    pub fn new(max: usize, idle: Duration) -> Arc<Self> {
        Arc::new(Self {
            entries: Mutex::new(HashMap::new()),
            max: max.max(1),
            idle,
            sweeping: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// `session`'s slot for opening a page, made if new; idle pages and, to
    /// make room, the least recently used one are closed first.
    pub fn open(self: &Arc<Self>, session: &str) -> Slot {
        self.start_sweeping();
        let now = Instant::now();
        let mut closing = Vec::new();
        let slot = {
            let mut entries = self.lock();
            self.drop_idle(&mut entries, session, now, &mut closing);
            if !entries.contains_key(session) && entries.len() >= self.max {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, entry)| entry.used)
                    .map(|(name, _)| name.clone());
                if let Some(entry) = oldest.and_then(|name| entries.remove(&name)) {
                    closing.push(entry.slot);
                }
            }
            let entry = entries.entry(session.to_owned()).or_insert_with(|| Entry {
                slot: Slot::default(),
                used: now,
            });
            entry.used = now;
            entry.slot.clone()
        };
        closing.into_iter().for_each(close_later);
        slot
    }

    /// `session`'s slot if it has one: acting on a page never makes room
    /// for one, so it cannot close another conversation's.
    pub fn existing(&self, session: &str) -> Option<Slot> {
        let now = Instant::now();
        let mut closing = Vec::new();
        let slot = {
            let mut entries = self.lock();
            self.drop_idle(&mut entries, session, now, &mut closing);
            entries.get_mut(session).map(|entry| {
                entry.used = now;
                entry.slot.clone()
            })
        };
        closing.into_iter().for_each(close_later);
        slot
    }

    /// Forgets `session`'s `slot` once it holds no page (it was lost), so
    /// it takes no room.
    pub fn forget_if_empty(&self, session: &str, slot: &Slot) {
        let mut entries = self.lock();
        let empty = slot.try_lock().is_ok_and(|page| page.is_none());
        if empty
            && entries
                .get(session)
                .is_some_and(|e| Arc::ptr_eq(&e.slot, slot))
        {
            entries.remove(session);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes out the pages, other than `session`'s, unused for too long.
    fn drop_idle(
        &self,
        entries: &mut HashMap<String, Entry>,
        session: &str,
        now: Instant,
        closing: &mut Vec<Slot>,
    ) {
        entries.retain(|name, entry| {
            let keep = name == session || now.duration_since(entry.used) < self.idle;
            if !keep {
                closing.push(entry.slot.clone());
            }
            keep
        });
    }

    /// Closes `session`'s page, if it has one.
    pub async fn close(&self, session: &str) -> bool {
        let entry = self.lock().remove(session);
        let Some(entry) = entry else {
            return false;
        };
        let page = entry.slot.lock().await.take();
        match page {
            Some(page) => {
                page.close().await;
                true
            }
            None => false,
        }
    }

    /// Closes idle pages every [`SWEEP_EVERY`], for as long as this lives.
    fn start_sweeping(self: &Arc<Self>) {
        if self
            .sweeping
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let sessions: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SWEEP_EVERY).await;
                let Some(sessions) = sessions.upgrade() else {
                    return;
                };
                sessions.sweep();
            }
        });
    }

    fn sweep(&self) {
        let mut closing = Vec::new();
        self.drop_idle(&mut self.lock(), "", Instant::now(), &mut closing);
        closing.into_iter().for_each(close_later);
    }
}

/// Closes the page in `slot` once the action holding it (if any) ends.
fn close_later(slot: Slot) {
    tokio::spawn(async move {
        if let Some(page) = slot.lock().await.take() {
            page.close().await;
        }
    });
}
