//! Every platform's messages, handled one chat at a time but many chats at
//! once: each chat has a lane (its messages in order, one turn at a time),
//! lanes run side by side up to [`TURNS_AT_ONCE`] turns, so one long turn
//! holds up its own chat only.
//!
//! Every message taken is spooled in the sealed store before the platform is
//! told it was taken (Telegram's offset) or before the channel forgets it (a
//! webhook delivery already answered 200, drained into the spool when the
//! channel stops), and deleted once its turn is answered: a restart replays
//! what was taken and not yet answered, in the order it was taken, and a
//! message already taken is never taken twice. (A turn answered whose spool
//! entry was not yet deleted when the process died is answered again after
//! the restart: the window is one storage delete.)
//!
//! A message is known by its platform's key (Telegram's update id, WhatsApp's
//! message id, Slack's event id, Discord's message id). Keys are platform
//! input: the spool names an entry by the SHA-256 of its key, never by the
//! key itself, so no key chooses a storage path or an unbounded name.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hardshell_storage::{ObjectKey, Scope, StorageError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::dispatch::{Dispatcher, Inbound};
use crate::outbox::Outbox;

/// Turns running at once, over all chats.
pub(crate) const TURNS_AT_ONCE: usize = 8;
/// Messages waiting in one chat's lane; past it the taker waits.
const LANE_DEPTH: usize = 64;
/// A lane with nothing to do for this long ends (a new message starts another).
const LANE_IDLE: Duration = Duration::from_secs(300);

/// Builds the outbox a message is answered through (WhatsApp's replies to
/// the message it answers, so each message has its own).
pub(crate) type OutboxFor = Arc<dyn Fn(&Inbound) -> Box<dyn Outbox> + Send + Sync>;

/// A message taken, as spooled.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Spooled {
    /// Where it comes in the order messages were taken; replay sorts by it.
    /// (Telegram's spool, before it was shared, wrote the update id here.)
    #[serde(alias = "update")]
    taken: u64,
    inbound: Inbound,
}

/// A platform's key for a message, as the spool names it: the hex SHA-256
/// of the key, so any key, however long or strange, is one safe name of 64
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EntryName(String);

impl EntryName {
    fn of(platform_key: &str) -> Self {
        Self(hex::encode(Sha256::digest(platform_key.as_bytes())))
    }

    fn key(&self) -> Result<ObjectKey, StorageError> {
        Ok(ObjectKey::parse(&self.0)?)
    }
}

/// The chats' lanes; see the module.
pub(crate) struct Lanes {
    /// The platform's name, for the logs.
    platform: &'static str,
    dispatcher: Arc<Dispatcher>,
    outbox_for: OutboxFor,
    spool: Scope,
    turns: Arc<Semaphore>,
    lanes: HashMap<String, mpsc::Sender<(EntryName, Inbound)>>,
    /// Messages spooled and not yet answered.
    in_hand: Arc<Mutex<HashSet<EntryName>>>,
    /// The last order number given; see [`Lanes::next_order`].
    order: AtomicU64,
    tasks: JoinSet<()>,
    stop: watch::Sender<bool>,
}

impl Lanes {
    /// `spool` is the channel's own spool scope (e.g. `channels/telegram/spool`).
    pub(crate) fn new(
        platform: &'static str,
        dispatcher: Arc<Dispatcher>,
        outbox_for: OutboxFor,
        spool: Scope,
    ) -> Self {
        Self {
            platform,
            dispatcher,
            outbox_for,
            spool,
            turns: Arc::new(Semaphore::new(TURNS_AT_ONCE)),
            lanes: HashMap::new(),
            in_hand: Arc::new(Mutex::new(HashSet::new())),
            order: AtomicU64::new(0),
            tasks: JoinSet::new(),
            stop: watch::channel(false).0,
        }
    }

    /// The lanes of a channel whose sealed-store scope is `state` (e.g.
    /// `channels/whatsapp`), spooling in its `spool`, with what a previous
    /// run left unanswered back in them; `None` when the spool cannot be
    /// opened (logged: the channel cannot take a message it could lose).
    pub(crate) async fn open(
        platform: &'static str,
        dispatcher: Arc<Dispatcher>,
        outbox_for: OutboxFor,
        state: &Scope,
    ) -> Option<Self> {
        let spool = match ObjectKey::parse("spool")
            .map_err(StorageError::from)
            .and_then(|key| state.scope(&key))
        {
            Ok(spool) => spool,
            Err(e) => {
                tracing::error!(error = %e, "{platform}: the spool cannot be opened");
                return None;
            }
        };
        let mut lanes = Self::new(platform, dispatcher, outbox_for, spool);
        match lanes.replay().await {
            Ok(0) => {}
            Ok(count) => tracing::info!(
                count,
                "{platform}: messages taken before a restart are handled now"
            ),
            Err(e) => {
                tracing::error!(error = %e, "{platform}: the spool could not be read; what it holds waits for the next start")
            }
        }
        Some(lanes)
    }

    /// Whether the message of `platform_key` was taken and is not answered yet.
    pub(crate) fn is_taken(&self, platform_key: &str) -> bool {
        self.is_in_hand(&EntryName::of(platform_key))
    }

    /// Spools the message and hands it to its chat's lane; a message already
    /// in hand is passed over. `Err` when it could not be spooled: the caller
    /// must not tell the platform it was taken.
    pub(crate) async fn take(
        &mut self,
        platform_key: &str,
        inbound: Inbound,
    ) -> Result<(), StorageError> {
        let name = EntryName::of(platform_key);
        if self.is_in_hand(&name) {
            return Ok(());
        }
        let spooled = Spooled {
            taken: self.next_order(),
            inbound,
        };
        let bytes = serde_json::to_vec(&spooled).unwrap_or_default();
        self.spool.put(&name.key()?, &bytes).await?;
        self.route(name, spooled.inbound).await;
        Ok(())
    }

    /// Spools the message without handing it to a lane: for what a stopping
    /// channel still holds, so the next start handles it.
    pub(crate) async fn keep(
        &mut self,
        platform_key: &str,
        inbound: Inbound,
    ) -> Result<(), StorageError> {
        let name = EntryName::of(platform_key);
        if self.is_in_hand(&name) {
            return Ok(());
        }
        let spooled = Spooled {
            taken: self.next_order(),
            inbound,
        };
        let bytes = serde_json::to_vec(&spooled).unwrap_or_default();
        self.spool.put(&name.key()?, &bytes).await?;
        Ok(())
    }

    /// The messages a previous run took and did not answer, back in their
    /// lanes in the order they were taken.
    pub(crate) async fn replay(&mut self) -> Result<usize, StorageError> {
        let mut waiting = Vec::new();
        for entry in self.spool.list().await? {
            let Some(stored) = self.spool.get(&entry.key).await? else {
                continue;
            };
            match serde_json::from_slice::<Spooled>(&stored.value) {
                Ok(spooled) => waiting.push((EntryName(entry.key.to_string()), spooled)),
                Err(_) => {
                    tracing::warn!(entry = %entry.key, "{}: an unreadable spool entry was dropped", self.platform);
                    self.spool.delete(&entry.key).await?;
                }
            }
        }
        waiting.sort_by_key(|(_, spooled)| spooled.taken);
        if let Some((_, last)) = waiting.last() {
            self.order.fetch_max(last.taken, Ordering::SeqCst);
        }
        let count = waiting.len();
        for (name, spooled) in waiting {
            self.route(name, spooled.inbound).await;
        }
        Ok(count)
    }

    fn is_in_hand(&self, name: &EntryName) -> bool {
        in_hand(&self.in_hand).contains(name)
    }

    /// The next order number: the clock in microseconds, or one past the
    /// last given if the clock is behind it (a clock set back, or a replay
    /// of a run whose clock was ahead), so taken order survives restarts.
    fn next_order(&self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let mut last = self.order.load(Ordering::SeqCst);
        loop {
            let next = now.max(last.saturating_add(1));
            match self
                .order
                .compare_exchange(last, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next,
                Err(actual) => last = actual,
            }
        }
    }

    async fn route(&mut self, name: EntryName, inbound: Inbound) {
        in_hand(&self.in_hand).insert(name.clone());
        let chat = inbound.chat.clone();
        let mut message = (name, inbound);
        loop {
            let lane = match self.lanes.get(&chat) {
                Some(lane) if !lane.is_closed() => lane.clone(),
                _ => self.open_lane(&chat),
            };
            match lane.send(message).await {
                Ok(()) => return,
                // The lane ended between the check and the send: another.
                Err(mpsc::error::SendError(back)) => {
                    self.lanes.remove(&chat);
                    message = back;
                }
            }
        }
    }

    fn open_lane(&mut self, chat: &str) -> mpsc::Sender<(EntryName, Inbound)> {
        self.lanes.retain(|_, lane| !lane.is_closed());
        let (sender, receiver) = mpsc::channel(LANE_DEPTH);
        self.lanes.insert(chat.to_owned(), sender.clone());
        let lane = Lane {
            platform: self.platform,
            dispatcher: self.dispatcher.clone(),
            outbox_for: self.outbox_for.clone(),
            spool: self.spool.clone(),
            turns: self.turns.clone(),
            in_hand: self.in_hand.clone(),
            stop: self.stop.subscribe(),
        };
        self.tasks.spawn(lane.run(receiver));
        sender
    }

    /// Lets each lane finish the message it is handling and waits for them;
    /// what is still queued stays spooled for the next start.
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.send(true);
        self.lanes.clear();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// The entries in hand. A poisoned lock is still the record: a panic
/// elsewhere must not let a message be taken twice.
fn in_hand(lock: &Mutex<HashSet<EntryName>>) -> std::sync::MutexGuard<'_, HashSet<EntryName>> {
    lock.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct Lane {
    platform: &'static str,
    dispatcher: Arc<Dispatcher>,
    outbox_for: OutboxFor,
    spool: Scope,
    turns: Arc<Semaphore>,
    in_hand: Arc<Mutex<HashSet<EntryName>>>,
    stop: watch::Receiver<bool>,
}

impl Lane {
    async fn run(mut self, mut messages: mpsc::Receiver<(EntryName, Inbound)>) {
        loop {
            let next = tokio::select! {
                biased;
                _ = self.stop.wait_for(|stop| *stop) => return,
                next = tokio::time::timeout(LANE_IDLE, messages.recv()) => next,
            };
            match next {
                Ok(Some((name, inbound))) => self.handle(name, inbound).await,
                Ok(None) => return,
                Err(_idle) => {
                    // No new message is taken from here on; the ones that
                    // came meanwhile are handled before the lane ends.
                    messages.close();
                    while let Some((name, inbound)) = messages.recv().await {
                        if *self.stop.borrow() {
                            return;
                        }
                        self.handle(name, inbound).await;
                    }
                    return;
                }
            }
        }
    }

    async fn handle(&self, name: EntryName, inbound: Inbound) {
        let Ok(_turn) = self.turns.acquire().await else {
            return;
        };
        let platform = self.platform;
        let outbox = (self.outbox_for)(&inbound);
        match self.dispatcher.handle(inbound, outbox.as_ref()).await {
            Ok(handled) => {
                tracing::debug!(entry = %name.0, ?handled, "{platform}: message handled")
            }
            Err(e) => {
                tracing::error!(entry = %name.0, error = %e, "{platform}: a message could not be handled")
            }
        }
        let deleted = match name.key() {
            Ok(key) => self.spool.delete(&key).await,
            Err(e) => Err(e),
        };
        if let Err(e) = deleted {
            tracing::error!(entry = %name.0, error = %e, "{platform}: a handled message stays spooled; a restart handles it again");
        }
        in_hand(&self.in_hand).remove(&name);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_name_is_a_safe_bounded_key_whatever_the_platform_sent() {
        for hostile in ["../../etc/passwd", "", "a/b", &"x".repeat(100_000), "\0\n"] {
            let name = EntryName::of(hostile);
            assert_eq!(name.0.len(), 64);
            assert!(name.0.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(name.key().is_ok());
        }
        assert_ne!(EntryName::of("1"), EntryName::of("2"));
        assert_eq!(EntryName::of("wamid.1"), EntryName::of("wamid.1"));
    }

    #[test]
    fn a_poisoned_record_of_entries_in_hand_still_keeps_them() {
        let lock = Arc::new(Mutex::new(HashSet::new()));
        in_hand(&lock).insert(EntryName::of("wamid.1"));
        let poisoner = lock.clone();
        let _ = std::thread::spawn(move || {
            let _held = poisoner.lock();
            panic!("a panic while the record is held");
        })
        .join();
        assert!(lock.is_poisoned());
        // Still read and written: a message in hand is not taken twice.
        assert!(in_hand(&lock).contains(&EntryName::of("wamid.1")));
        in_hand(&lock).remove(&EntryName::of("wamid.1"));
        assert!(in_hand(&lock).is_empty());
    }

    #[test]
    fn an_entry_telegram_spooled_before_the_lanes_were_shared_is_still_read() {
        let inbound = Inbound {
            sender: crate::Sender::parse(crate::Platform::Telegram, "101").unwrap(),
            chat: "101".to_owned(),
            place: crate::Place::Direct,
            text: "hello".to_owned(),
            message: Some("7".to_owned()),
            files: Vec::new(),
        };
        let before = serde_json::json!({"update": 42, "inbound": inbound});
        let read: Spooled = serde_json::from_value(before).unwrap();
        assert_eq!(read.taken, 42);
        assert_eq!(read.inbound.text, "hello");
        assert_eq!(read.inbound.chat, "101");
    }
}
