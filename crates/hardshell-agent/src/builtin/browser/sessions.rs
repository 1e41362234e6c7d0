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

    /// `session`'s slot, made if new; idle pages and, to make room, the
    /// least recently used one are closed first.
    pub fn slot(self: &Arc<Self>, session: &str) -> Slot {
        self.start_sweeping();
        let now = Instant::now();
        let mut closing = Vec::new();
        let slot = {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            entries.retain(|name, entry| {
                let keep = name == session || now.duration_since(entry.used) < self.idle;
                if !keep {
                    closing.push(entry.slot.clone());
                }
                keep
            });
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

    /// Closes `session`'s page, if it has one.
    pub async fn close(&self, session: &str) -> bool {
        let entry = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(session);
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
        let now = Instant::now();
        let mut closing = Vec::new();
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, entry| {
                let keep = now.duration_since(entry.used) < self.idle;
                if !keep {
                    closing.push(entry.slot.clone());
                }
                keep
            });
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
