//! Discord, through its gateway: the edge opens a WebSocket to Discord
//! (twilight-gateway: identify, heartbeats, resume), so nothing listens for
//! Discord and no inbound route exists, unless the owner also takes
//! interactions over HTTP (see [`interactions`]).
//!
//! - When it starts running, the channel reads the bot's own id (`GET
//!   /users/@me`), to spot mentions and drop its own messages; retried with
//!   backoff, since Discord may be unreachable then.
//! - Intents: guild messages, direct messages and message content, nothing
//!   else; without the privileged Message Content intent enabled in the
//!   developer portal Discord closes the gateway (4014), reported as what
//!   to fix and tried again slowly.
//! - Messages are handled in their channel's lane (`crate::lanes`: a
//!   channel's messages in order, many channels at once, so one long turn
//!   holds up its own channel only), fed by one task through a bounded
//!   queue while the gateway keeps being read: a long turn must not stop
//!   the heartbeats. A message seen again (events replayed after a resume)
//!   is dropped by its id. Each message is spooled in the sealed store
//!   (`channels/discord/spool`) as it is taken, and what is still queued
//!   when the channel stops is spooled then: a restart answers it, once.
//! - Messages from bots (the bot's own included), webhooks and the
//!   platform's notices are dropped before the dispatch.
//! - Replies go through the REST API, threaded to the message they answer,
//!   with `allowed_mentions` empty: the agent's text never pings anyone.
//!   The owner's questions carry two buttons, "Run it" and "Don't run".
//! - Interactions (a press of those buttons, the slash command registered
//!   at start) come over the gateway, or over HTTP when the owner set the
//!   application's public key; either way one task answers them at once,
//!   apart from the messages' queue (see [`answering`]).
//!
//! - Attachments come with a message as its files (their CDN URL, name and
//!   announced size); they are fetched only from `cdn_hosts`, without the
//!   token, within the caller's bound whatever size was announced. Files
//!   the agent shares are uploaded as documents (multipart `files[0]`).
//!
//! Messages written while hardshell is down are not delivered by the
//! gateway and are not fetched afterwards.

mod answering;
pub mod api;
pub mod event;
mod gateway;
pub mod interaction;
pub mod interactions;
pub mod outbox;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use hardshell_secrets::SecretValue;
use hardshell_storage::Scope;
use tokio::sync::{mpsc, watch};
use twilight_gateway::error::ReceiveMessageErrorType;
use twilight_gateway::{CloseFrame, Message, Shard};
use url::Url;

use crate::Platform;
use crate::dispatch::{Dispatcher, Inbound};
use crate::lanes::{Lanes, OutboxFor};
use crate::outbox::Outbox;
use crate::verify::VerifyError;
use crate::webhook::WebhookEndpoint;
use answering::{Answering, Arrived, Via};
use api::{DiscordApi, DiscordError};
use gateway::{Intake, Taken};
pub use interactions::DiscordInteractions;
use outbox::DiscordOutbox;

/// Messages waiting to be taken into their lanes; past it, a flood is
/// dropped rather than stalling the gateway's heartbeats.
const QUEUE: usize = 256;
/// Wait after Discord refused the token or the intents: the owner's to fix.
const REFUSED_WAIT: Duration = Duration::from_secs(300);
/// Longest wait between failed starts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum DiscordChannelError {
    #[error("discord: the api root is not a URL")]
    Root,
    #[error("discord: building the REST client: {0}")]
    Client(#[source] DiscordError),
    #[error("discord: the local gateway URL is not ws(s) on a loopback host without a query")]
    GatewayUrl,
    #[error("discord: reading the bot's identity (GET /users/@me): {0}")]
    Identify(#[source] DiscordError),
    #[error("discord: reading the emulator's gateway URL (GET /gateway/bot): {0}")]
    Gateway(#[source] DiscordError),
    #[error("discord: the application's public key: {0}")]
    PublicKey(#[source] VerifyError),
}

/// The Discord channel, on the gateway; see the module.
pub struct DiscordChannel {
    api: Arc<DiscordApi>,
    token: SecretValue,
    dispatcher: Arc<Dispatcher>,
    /// A local gateway named by the caller (an emulator, or a relay to one).
    gateway: Option<String>,
    /// The slash command's name.
    command: String,
    /// Interactions taken (the gateway's and the HTTP endpoint's), for the
    /// answering task.
    interactions: (mpsc::Sender<Arrived>, mpsc::Receiver<Arrived>),
    /// The HTTP endpoint, when the owner set the public key.
    webhook: Option<Arc<DiscordInteractions>>,
    /// Where attachments may be fetched from.
    cdn_hosts: Vec<String>,
    /// The sealed store's `channels/discord` scope, for the spool.
    state: Scope,
}

impl std::fmt::Debug for DiscordChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordChannel")
            .field("api", &self.api)
            .field("token", &self.token)
            .field("gateway", &self.gateway)
            .field("command", &self.command)
            .field("webhook", &self.webhook.is_some())
            .finish_non_exhaustive()
    }
}

impl DiscordChannel {
    /// The channel of `[channels.discord]` with its `token` (the secret
    /// store's). Nothing is asked of Discord until [`DiscordChannel::run`].
    /// The gateway is Discord's own (`wss://gateway.discord.gg`), except
    /// behind a loopback API root (a local emulator), whose `GET
    /// /gateway/bot` names its own. `state` is the sealed store's
    /// `channels/discord` scope, where taken messages are spooled.
    pub fn new(
        config: &hardshell_config::Discord,
        token: SecretValue,
        dispatcher: Dispatcher,
        state: Scope,
    ) -> Result<Self, DiscordChannelError> {
        debug_assert_eq!(dispatcher.platform(), Platform::Discord);
        let root = Url::parse(config.api_root.as_str()).map_err(|_| DiscordChannelError::Root)?;
        let api = DiscordApi::new(root, &token).map_err(DiscordChannelError::Client)?;
        let (taken, waiting) = mpsc::channel(answering::QUEUE);
        let webhook = config
            .public_key
            .as_ref()
            .map(|key| DiscordInteractions::feeding(key, taken.clone()))
            .transpose()
            .map_err(DiscordChannelError::PublicKey)?;
        Ok(Self {
            api: Arc::new(api),
            token,
            dispatcher: Arc::new(dispatcher),
            gateway: None,
            command: config.command.as_str().to_owned(),
            interactions: (taken, waiting),
            webhook,
            cdn_hosts: config.cdn_hosts.clone(),
            state,
        })
    }

    /// The `/hooks/discord` route, when `[channels.discord] public_key` is
    /// set: the edge serves it, and what it takes is answered by
    /// [`DiscordChannel::run`].
    pub fn webhook(&self) -> Option<Arc<dyn WebhookEndpoint>> {
        self.webhook
            .clone()
            .map(|webhook| webhook as Arc<dyn WebhookEndpoint>)
    }

    /// Connects to the gateway at `url` instead, which must be ws(s) on a
    /// loopback host: a local emulator, or a relay in front of one.
    pub fn on_local_gateway(mut self, url: &Url) -> Result<Self, DiscordChannelError> {
        self.gateway = Some(gateway::local_gateway(url).ok_or(DiscordChannelError::GatewayUrl)?);
        Ok(self)
    }

    /// The bot's id and its shard.
    async fn prepare(&self) -> Result<(String, Shard), DiscordChannelError> {
        let bot = self.api.me().await.map_err(DiscordChannelError::Identify)?;
        self.register_command().await;
        let local = match &self.gateway {
            Some(url) => Some(url.clone()),
            None if self.api.is_local() => {
                let url = self
                    .api
                    .gateway_url()
                    .await
                    .map_err(DiscordChannelError::Gateway)?;
                Some(gateway::local_gateway(&url).ok_or(DiscordChannelError::GatewayUrl)?)
            }
            None => None,
        };
        // `new` checked the token's grammar; the text is twilight's to keep,
        // behind its own redacting Debug.
        let token = self.token.expose_str().unwrap_or_default().to_owned();
        tracing::info!(bot = %bot.id, "discord: connecting to the gateway");
        Ok((bot.id, gateway::shard(token, local.as_deref())))
    }

    /// Registers the slash command. Its failure is reported and the channel
    /// runs without it: messages still work, and the next start tries again.
    async fn register_command(&self) {
        let registered = match self.api.application_id().await {
            Ok(application) => self.api.register_command(&application, &self.command).await,
            Err(e) => Err(e),
        };
        match registered {
            Ok(()) => tracing::info!(command = %self.command, "discord: slash command registered"),
            Err(e) => tracing::warn!(
                command = %self.command,
                error = %e,
                "discord: the slash command could not be registered; messages still work"
            ),
        }
    }

    /// Reads the gateway until `shutdown` completes. Getting ready is
    /// retried (Discord may be unreachable at start), and so is a gateway
    /// Discord closed for good (a refused token, intents not enabled),
    /// slowly. What a previous run left unanswered is answered first. At
    /// shutdown the turns running are finished; what is still waiting stays
    /// spooled for the next start.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let outbox = DiscordOutbox::with_cdn_hosts(self.api.clone(), self.cdn_hosts.clone());
        let outbox_for: OutboxFor =
            Arc::new(move |_: &Inbound| Box::new(outbox.clone()) as Box<dyn Outbox>);
        // Without its spool the channel does not take a message it could
        // lose: it does not connect.
        let Some(lanes) =
            Lanes::open("discord", self.dispatcher.clone(), outbox_for, &self.state).await
        else {
            return;
        };
        let (queue, waiting) = mpsc::channel(QUEUE);
        let stopping = Arc::new(AtomicBool::new(false));
        let handler = tokio::spawn(take_into_lanes(waiting, lanes, stopping.clone()));
        let (taken, arrived) = {
            let (_, closed) = mpsc::channel(1);
            let arrived = std::mem::replace(&mut self.interactions.1, closed);
            (self.interactions.0.clone(), arrived)
        };
        let (stop_answering, answering_stopped) = watch::channel(false);
        let answering = tokio::spawn(
            Answering {
                dispatcher: self.dispatcher.clone(),
                api: self.api.clone(),
                messages: queue.clone(),
                command: self.command.clone(),
            }
            .run(arrived, answering_stopped),
        );
        let mut shutdown = std::pin::pin!(shutdown.fuse());
        let mut backoff = Duration::from_secs(1);
        loop {
            let prepared = tokio::select! {
                () = &mut shutdown => break,
                prepared = self.prepare() => prepared,
            };
            let wait = match prepared {
                Ok((bot, mut shard)) => {
                    backoff = Duration::from_secs(1);
                    let intake = Intake::new(bot);
                    let ended = read(&mut shard, intake, &queue, &taken, &mut shutdown).await;
                    shard.close(CloseFrame::NORMAL);
                    if ended == Ended::Shutdown {
                        break;
                    }
                    REFUSED_WAIT
                }
                Err(e @ DiscordChannelError::Identify(DiscordError::Unauthorized)) => {
                    tracing::error!("{e}; trying again in {}s", REFUSED_WAIT.as_secs());
                    REFUSED_WAIT
                }
                Err(e) => {
                    tracing::error!(error = %e, "discord: not ready to connect");
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    wait
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        stopping.store(true, Ordering::SeqCst);
        let _ = stop_answering.send(true);
        if answering.await.is_err() {
            tracing::error!("discord: the interaction handler failed");
        }
        drop(queue);
        if handler.await.is_err() {
            tracing::error!("discord: the message handler failed");
        }
    }
}

/// Why reading the gateway ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    Shutdown,
    /// Discord closed the gateway with a code twilight does not reconnect
    /// after; it was reported as what to fix.
    ClosedForGood,
}

async fn read(
    shard: &mut Shard,
    mut intake: Intake,
    queue: &mpsc::Sender<Inbound>,
    interactions: &mpsc::Sender<Arrived>,
    shutdown: &mut Pin<&mut futures::future::Fuse<impl Future<Output = ()>>>,
) -> Ended {
    loop {
        let item = tokio::select! {
            () = &mut *shutdown => return Ended::Shutdown,
            item = shard.next() => item,
        };
        match item {
            None => return Ended::ClosedForGood,
            Some(Ok(Message::Text(text))) => pass_on(intake.take(&text), queue, interactions),
            Some(Ok(Message::Close(frame))) => gateway::report_close(frame.as_ref()),
            Some(Err(e)) => match e.kind() {
                // Its Display would quote the event, a person's text.
                ReceiveMessageErrorType::Deserializing { .. } => {
                    tracing::warn!("discord: unreadable gateway event ignored");
                }
                ReceiveMessageErrorType::Reconnect => {
                    tracing::warn!("discord: reconnecting to the gateway failed; retrying");
                }
                _ => tracing::warn!("discord: gateway error"),
            },
        }
    }
}

/// Hands what a gateway event gave to the messages' queue or, apart from
/// it, to the interactions' (a press must not wait behind a turn).
fn pass_on(
    taken: Option<Taken>,
    queue: &mpsc::Sender<Inbound>,
    interactions: &mpsc::Sender<Arrived>,
) {
    let dropped = match taken {
        None => None,
        Some(Taken::Message(inbound)) => queue.try_send(inbound).err().map(|_| "messages"),
        Some(Taken::Interaction(interaction)) => {
            let arrived = Arrived {
                interaction,
                via: Via::Gateway,
            };
            interactions.try_send(arrived).err().map(|_| "interactions")
        }
    };
    if let Some(what) = dropped {
        tracing::warn!("discord: too many {what} waiting; one was dropped");
    }
}

/// Spools each message taken and hands it to its channel's lane, in the
/// order it came, until the queue closes. Once the channel is stopping, what
/// is still queued is only spooled, for the next start; then the lanes
/// finish their running turns.
async fn take_into_lanes(
    mut waiting: mpsc::Receiver<Inbound>,
    mut lanes: Lanes,
    stopping: Arc<AtomicBool>,
) {
    while let Some(inbound) = waiting.recv().await {
        let key = spool_key(&inbound);
        let spooled = if stopping.load(Ordering::SeqCst) {
            lanes.keep(&key, inbound).await
        } else {
            lanes.take(&key, inbound).await
        };
        if let Err(e) = spooled {
            tracing::error!(error = %e, "discord: a message taken could not be spooled; it is lost");
        }
    }
    lanes.stop().await;
}

/// A message's key for the spool: its id; a slash command, which has none
/// (and is never delivered twice), one unique to this take: the time and a
/// count within the run.
fn spool_key(inbound: &Inbound) -> String {
    static COMMANDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    match &inbound.message {
        Some(id) => format!("message:{id}"),
        None => {
            let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
            let count = COMMANDS.fetch_add(1, Ordering::SeqCst);
            format!("command:{now}:{count}")
        }
    }
}
