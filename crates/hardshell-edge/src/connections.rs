//! The edge's open connections, so that idle ones cannot starve new clients.
//!
//! Opening a connection costs a client nothing, and every open one holds one of
//! the edge's slots until it times out. Two rules keep slots for real clients:
//! - one client address (an IPv6 /64, which one client owns) holds at most
//!   `per_address` connections; more are closed at once. Trusted proxies carry
//!   many clients and are exempt.
//! - near the cap, idle connections (none of their requests in the pipeline) are
//!   asked to close, the longest idle first, before a new one is accepted. A
//!   connection asked to close finishes the request it is serving, if any.
//!
//! A connection upgraded to a WebSocket leaves HTTP, and with it the task that
//! held its slot; its [`Occupancy`] goes with the relay instead, so that it
//! counts against both caps until it closes and, busy, is never shed as idle.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use hardshell_config::Cidr;
use tokio::sync::{Notify, OwnedSemaphorePermit, watch};

/// Who a connection counts against: keyed like the rate limits (an IPv6 /64
/// is the block one customer of a provider gets).
type Holder = hardshell_ratelimit::ClientKey;

struct Entry {
    /// `None` for a trusted proxy, which is not limited per address.
    holder: Option<Holder>,
    /// Requests of this connection in the pipeline now.
    busy: usize,
    /// When the connection last started or finished a request, as a sequence
    /// number: smaller is longer ago.
    last_active: u64,
    asked_to_close: bool,
    close: Arc<Notify>,
}

#[derive(Default)]
struct Open {
    entries: HashMap<u64, Entry>,
    per_holder: HashMap<Holder, usize>,
    clock: u64,
}

impl Open {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

pub(crate) struct Connections {
    per_address: usize,
    trusted: Vec<Cidr>,
    open: Mutex<Open>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Its address already holds `per_address` connections.
    AddressFull,
}

impl Connections {
    pub fn new(per_address: usize, trusted: Vec<Cidr>) -> Arc<Self> {
        Arc::new(Self {
            per_address,
            trusted,
            open: Mutex::new(Open::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        // Every update leaves the map consistent, so a panic elsewhere while
        // the lock was held does not make its contents wrong.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a connection from `peer`, or refuses it.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Conn, Refused> {
        let holder =
            (!self.trusted.iter().any(|cidr| cidr.contains(peer))).then(|| Holder::from(peer));
        let mut open = self.lock();
        if let Some(holder) = holder {
            let held = open.per_holder.entry(holder).or_default();
            if *held >= self.per_address {
                return Err(Refused::AddressFull);
            }
            *held += 1;
        }
        let id = open.tick();
        let close = Arc::new(Notify::new());
        open.entries.insert(
            id,
            Entry {
                holder,
                busy: 0,
                last_active: id,
                asked_to_close: false,
                close: close.clone(),
            },
        );
        Ok(Conn {
            id,
            close,
            connections: self.clone(),
        })
    }

    /// Asks up to `count` idle connections to close, the longest idle first;
    /// returns how many were asked.
    pub fn shed_idle(&self, count: usize) -> usize {
        let open = &mut *self.lock();
        let mut idle: Vec<(u64, u64)> = open
            .entries
            .iter()
            .filter(|(_, entry)| entry.busy == 0 && !entry.asked_to_close)
            .map(|(id, entry)| (entry.last_active, *id))
            .collect();
        idle.sort_unstable();
        let mut asked = 0;
        for (_, id) in idle.into_iter().take(count) {
            if let Some(entry) = open.entries.get_mut(&id) {
                entry.asked_to_close = true;
                // `notify_one` keeps the wake-up if the connection is not
                // waiting yet.
                entry.close.notify_one();
                asked += 1;
            }
        }
        asked
    }

    fn set_busy(&self, id: u64, starting: bool) {
        let open = &mut *self.lock();
        let now = open.tick();
        if let Some(entry) = open.entries.get_mut(&id) {
            if starting {
                entry.busy += 1;
            } else {
                entry.busy = entry.busy.saturating_sub(1);
            }
            entry.last_active = now;
        }
    }

    fn remove(&self, id: u64) {
        let open = &mut *self.lock();
        if let Some(entry) = open.entries.remove(&id)
            && let Some(holder) = entry.holder
            && let Some(held) = open.per_holder.get_mut(&holder)
        {
            *held = held.saturating_sub(1);
            if *held == 0 {
                open.per_holder.remove(&holder);
            }
        }
    }
}

/// One admitted connection; it leaves the registry when dropped.
pub(crate) struct Conn {
    id: u64,
    close: Arc<Notify>,
    connections: Arc<Connections>,
}

impl Conn {
    /// Marks a request in the pipeline until the returned guard is dropped.
    pub fn busy(&self) -> Busy {
        self.connections.set_busy(self.id, true);
        Busy {
            id: self.id,
            connections: self.connections.clone(),
        }
    }

    /// Completes when the edge asks this connection to close.
    pub async fn asked_to_close(&self) {
        self.close.notified().await;
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.connections.remove(self.id);
    }
}

/// What an open connection occupies: its registration (the per-address count)
/// and its slot under the global cap. Every request of the connection carries
/// one, for a handler that takes the connection over (a WebSocket relay).
#[derive(Clone)]
pub(crate) struct Occupancy {
    conn: Arc<Conn>,
    /// Held, never read: the slot is free again when the last holder drops it.
    _slot: Arc<OwnedSemaphorePermit>,
    stopping: watch::Receiver<bool>,
}

impl Occupancy {
    pub fn new(
        conn: Arc<Conn>,
        slot: Arc<OwnedSemaphorePermit>,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        Self {
            conn,
            _slot: slot,
            stopping,
        }
    }

    /// Keeps the connection counted, and busy, until the result is dropped.
    pub fn keep(self) -> Kept {
        Kept {
            _busy: self.conn.busy(),
            occupancy: self,
        }
    }
}

/// A connection taken over from HTTP, still counted and never idle.
pub(crate) struct Kept {
    _busy: Busy,
    occupancy: Occupancy,
}

impl Kept {
    /// Completes when the edge shuts down.
    pub async fn stopping(&mut self) {
        if self
            .occupancy
            .stopping
            .wait_for(|stop| *stop)
            .await
            .is_err()
        {
            // The server is gone: it will never ask.
            std::future::pending::<()>().await;
        }
    }
}

/// A request of a connection in the pipeline.
pub(crate) struct Busy {
    id: u64,
    connections: Arc<Connections>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.connections.set_busy(self.id, false);
    }
}

#[cfg(test)]
mod tests;
