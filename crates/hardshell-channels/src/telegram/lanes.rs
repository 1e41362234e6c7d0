//! Telegram's messages, handled one chat at a time but many chats at once:
//! each chat has a lane (its messages in order, one turn at a time), lanes
//! run side by side up to [`TURNS_AT_ONCE`] turns, so one long turn holds up
//! its own chat only.
//!
//! Every message taken is spooled in the sealed store (`spool/<update id>`)
//! before the poller moves Telegram's offset past it, and deleted once its
//! turn is answered: a restart replays what was taken and not yet answered,
//! so nothing is lost, and an update id already taken is never taken twice.
//! (A turn stored by the agent whose spool entry was not yet deleted when
//! the process died is answered again after the restart: the window is the
//! time between the answer's last message and one storage delete.)

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardshell_storage::{ObjectKey, Scope, StorageError};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use super::TelegramOutbox;
use super::api::TelegramApi;
use crate::dispatch::{Dispatcher, Inbound};

/// Turns running at once, over all chats.
pub(super) const TURNS_AT_ONCE: usize = 8;
/// Messages waiting in one chat's lane; past it the poller waits.
const LANE_DEPTH: usize = 64;
/// A lane with nothing to do for this long ends (a new message starts another).
const LANE_IDLE: Duration = Duration::from_secs(300);

/// A message taken, as spooled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Spooled {
    pub update: i64,
    pub inbound: Inbound,
}

/// The chats' lanes; see the module.
pub(super) struct Lanes {
    dispatcher: Arc<Dispatcher>,
    api: Arc<TelegramApi>,
    spool: Scope,
    turns: Arc<Semaphore>,
    lanes: HashMap<String, mpsc::Sender<Spooled>>,
    /// Update ids spooled and not yet answered.
    taken: Arc<Mutex<HashSet<i64>>>,
    tasks: JoinSet<()>,
    stop: watch::Sender<bool>,
}

impl Lanes {
    /// `spool` is the channel's `channels/telegram/spool` scope.
    pub(super) fn new(dispatcher: Arc<Dispatcher>, api: Arc<TelegramApi>, spool: Scope) -> Self {
        Self {
            dispatcher,
            api,
            spool,
            turns: Arc::new(Semaphore::new(TURNS_AT_ONCE)),
            lanes: HashMap::new(),
            taken: Arc::new(Mutex::new(HashSet::new())),
            tasks: JoinSet::new(),
            stop: watch::channel(false).0,
        }
    }

    /// Whether update `id` was taken and is not answered yet.
    pub(super) fn is_taken(&self, id: i64) -> bool {
        self.taken.lock().is_ok_and(|taken| taken.contains(&id))
    }

    /// Spools the message and hands it to its chat's lane. `Err` when it
    /// could not be spooled: the caller must not move the offset past it.
    pub(super) async fn take(&mut self, spooled: Spooled) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(&spooled).unwrap_or_default();
        self.spool.put(&spool_key(spooled.update)?, &bytes).await?;
        self.route(spooled).await;
        Ok(())
    }

    /// The messages a previous run took and did not answer, back in their
    /// lanes in update order.
    pub(super) async fn replay(&mut self) -> Result<usize, StorageError> {
        let mut waiting = Vec::new();
        for entry in self.spool.list().await? {
            let Some(stored) = self.spool.get(&entry.key).await? else {
                continue;
            };
            match serde_json::from_slice::<Spooled>(&stored.value) {
                Ok(spooled) => waiting.push(spooled),
                Err(_) => {
                    tracing::warn!(entry = %entry.key, "telegram: an unreadable spool entry was dropped");
                    self.spool.delete(&entry.key).await?;
                }
            }
        }
        waiting.sort_by_key(|spooled| spooled.update);
        let count = waiting.len();
        for spooled in waiting {
            self.route(spooled).await;
        }
        Ok(count)
    }

    async fn route(&mut self, spooled: Spooled) {
        if let Ok(mut taken) = self.taken.lock() {
            taken.insert(spooled.update);
        }
        let chat = spooled.inbound.chat.clone();
        let mut spooled = spooled;
        loop {
            let lane = match self.lanes.get(&chat) {
                Some(lane) if !lane.is_closed() => lane.clone(),
                _ => self.open_lane(&chat),
            };
            match lane.send(spooled).await {
                Ok(()) => return,
                // The lane ended between the check and the send: another.
                Err(mpsc::error::SendError(back)) => {
                    self.lanes.remove(&chat);
                    spooled = back;
                }
            }
        }
    }

    fn open_lane(&mut self, chat: &str) -> mpsc::Sender<Spooled> {
        self.lanes.retain(|_, lane| !lane.is_closed());
        let (sender, receiver) = mpsc::channel(LANE_DEPTH);
        self.lanes.insert(chat.to_owned(), sender.clone());
        let lane = Lane {
            dispatcher: self.dispatcher.clone(),
            outbox: TelegramOutbox {
                api: self.api.clone(),
            },
            spool: self.spool.clone(),
            turns: self.turns.clone(),
            taken: self.taken.clone(),
            stop: self.stop.subscribe(),
        };
        self.tasks.spawn(lane.run(receiver));
        sender
    }

    /// Lets each lane finish the message it is handling and waits for them;
    /// what is still queued stays spooled for the next start.
    pub(super) async fn stop(mut self) {
        let _ = self.stop.send(true);
        self.lanes.clear();
        while self.tasks.join_next().await.is_some() {}
    }
}

struct Lane {
    dispatcher: Arc<Dispatcher>,
    outbox: TelegramOutbox,
    spool: Scope,
    turns: Arc<Semaphore>,
    taken: Arc<Mutex<HashSet<i64>>>,
    stop: watch::Receiver<bool>,
}

impl Lane {
    async fn run(mut self, mut messages: mpsc::Receiver<Spooled>) {
        loop {
            let next = tokio::select! {
                biased;
                _ = self.stop.wait_for(|stop| *stop) => return,
                next = tokio::time::timeout(LANE_IDLE, messages.recv()) => next,
            };
            match next {
                Ok(Some(spooled)) => self.handle(spooled).await,
                Ok(None) => return,
                Err(_idle) => {
                    // No new message is taken from here on; the ones that
                    // came meanwhile are handled before the lane ends.
                    messages.close();
                    while let Some(spooled) = messages.recv().await {
                        if *self.stop.borrow() {
                            return;
                        }
                        self.handle(spooled).await;
                    }
                    return;
                }
            }
        }
    }

    async fn handle(&self, spooled: Spooled) {
        let Ok(_turn) = self.turns.acquire().await else {
            return;
        };
        let update = spooled.update;
        match self.dispatcher.handle(spooled.inbound, &self.outbox).await {
            Ok(handled) => tracing::debug!(update, ?handled, "telegram: update handled"),
            Err(e) => {
                tracing::error!(update, error = %e, "telegram: an update could not be handled")
            }
        }
        let deleted = match spool_key(update) {
            Ok(key) => self.spool.delete(&key).await,
            Err(e) => Err(e),
        };
        if let Err(e) = deleted {
            tracing::error!(update, error = %e, "telegram: a handled update stays spooled; a restart handles it again");
        }
        if let Ok(mut taken) = self.taken.lock() {
            taken.remove(&update);
        }
    }
}

/// Spool keys sort in update order (update ids are positive).
fn spool_key(update: i64) -> Result<ObjectKey, StorageError> {
    Ok(ObjectKey::parse(&format!("{:020}", update.max(0)))?)
}
