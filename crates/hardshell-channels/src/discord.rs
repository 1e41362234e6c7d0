//! Discord, through its gateway: the edge opens a WebSocket to Discord
//! (twilight-gateway: identify, heartbeats, resume), so nothing listens for
//! Discord and no inbound route exists, unless the owner also takes
//! interactions over HTTP (see [`interactions`]).
//!
//! - At start the bot's own id is read (`GET /users/@me`), to spot mentions
//!   and drop its own messages.
//! - Intents: guild messages, direct messages and message content, nothing
//!   else; without the privileged Message Content intent enabled in the
//!   developer portal Discord closes the gateway (4014), reported as what
//!   to fix.
//! - Messages are handled one at a time, in order, each to its end, by one
//!   task fed through a bounded queue, while the gateway keeps being read:
//!   a long turn must not stop the heartbeats. A message seen again (events
//!   replayed after a resume) is dropped by its id.
//! - Messages from bots (the bot's own included), webhooks and the
//!   platform's notices are dropped before the dispatch.
//! - Replies go through the REST API, threaded to the message they answer,
//!   with `allowed_mentions` empty: the agent's text never pings anyone.
//!
//! Messages written while hardshell is down are not delivered by the
//! gateway and are not fetched afterwards.

pub mod api;
pub mod event;
pub mod interactions;
pub mod outbox;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{FutureExt, StreamExt};
use hardshell_secrets::SecretValue;
use tokio::sync::mpsc;
use twilight_gateway::error::ReceiveMessageErrorType;
use twilight_gateway::{CloseFrame, ConfigBuilder, Intents, Message, Shard, ShardId};
use url::Url;

use crate::Platform;
use crate::dispatch::{Dispatcher, Inbound};
use crate::verify::SeenIds;
use api::{BotUser, DiscordApi, DiscordError, is_loopback};
pub use interactions::DiscordInteractions;
use outbox::DiscordOutbox;

/// Messages waiting for the one handling task; past it, a flood is dropped
/// rather than stalling the gateway's heartbeats.
const QUEUE: usize = 256;
/// Message ids remembered against replays after a resume.
const SEEN: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum DiscordChannelError {
    #[error("discord: the api root is not a URL")]
    Root,
    #[error("discord: building the REST client: {0}")]
    Client(#[source] DiscordError),
    #[error("discord: reading the bot's identity (GET /users/@me): {0}")]
    Identify(#[source] DiscordError),
    #[error("discord: reading the emulator's gateway URL (GET /gateway/bot): {0}")]
    Gateway(#[source] DiscordError),
    #[error("discord: the emulator's gateway URL is not ws(s) on a loopback host without a query")]
    GatewayUrl,
}

/// The Discord channel, on the gateway; see the module.
pub struct DiscordChannel {
    api: Arc<DiscordApi>,
    dispatcher: Arc<Dispatcher>,
    bot: BotUser,
    shard: Shard,
}

impl std::fmt::Debug for DiscordChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordChannel")
            .field("api", &self.api)
            .field("bot", &self.bot)
            .finish_non_exhaustive()
    }
}

impl DiscordChannel {
    /// Reads the bot's identity through `[channels.discord]`'s API root with
    /// `token` (the secret store's). The gateway is Discord's own
    /// (`wss://gateway.discord.gg`), except behind a loopback API root (a
    /// local emulator), whose `GET /gateway/bot` names its own.
    pub async fn start(
        config: &hardshell_config::Discord,
        token: &SecretValue,
        dispatcher: Dispatcher,
    ) -> Result<Self, DiscordChannelError> {
        Self::connect(config, token, dispatcher, None).await
    }

    /// [`DiscordChannel::start`] with the gateway at `gateway`, which must be
    /// ws(s) on a loopback host: for a local emulator, or a relay in front
    /// of one.
    pub async fn start_on_local_gateway(
        config: &hardshell_config::Discord,
        token: &SecretValue,
        dispatcher: Dispatcher,
        gateway: &Url,
    ) -> Result<Self, DiscordChannelError> {
        Self::connect(config, token, dispatcher, Some(gateway)).await
    }

    async fn connect(
        config: &hardshell_config::Discord,
        token: &SecretValue,
        dispatcher: Dispatcher,
        gateway: Option<&Url>,
    ) -> Result<Self, DiscordChannelError> {
        debug_assert_eq!(dispatcher.platform(), Platform::Discord);
        let root = Url::parse(config.api_root.as_str()).map_err(|_| DiscordChannelError::Root)?;
        let api = DiscordApi::new(root, token).map_err(DiscordChannelError::Client)?;
        let bot = api.me().await.map_err(DiscordChannelError::Identify)?;
        let proxy = match gateway {
            Some(url) => Some(emulator_gateway(url)?),
            None if api.is_local() => {
                let url = api
                    .gateway_url()
                    .await
                    .map_err(DiscordChannelError::Gateway)?;
                Some(emulator_gateway(&url)?)
            }
            None => None,
        };
        // `new` checked the token's grammar; the text is twilight's to keep,
        // behind its own redacting Debug.
        let token_text = token.expose_str().unwrap_or_default().to_owned();
        let intents = Intents::GUILD_MESSAGES | Intents::DIRECT_MESSAGES | Intents::MESSAGE_CONTENT;
        let mut config = ConfigBuilder::new(token_text, intents);
        if let Some(proxy) = proxy {
            config = config.proxy_url(proxy);
        }
        let shard = Shard::with_config(ShardId::ONE, config.build());
        tracing::info!(bot = %bot.id, "discord: connecting to the gateway");
        Ok(Self {
            api: Arc::new(api),
            dispatcher: Arc::new(dispatcher),
            bot,
            shard,
        })
    }

    /// The bot's own user id.
    pub fn bot_id(&self) -> &str {
        &self.bot.id
    }

    /// Reads the gateway until `shutdown` completes (or Discord closes it for
    /// good: a refused token, intents not enabled). The message being
    /// handled is finished first; those still queued are dropped.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Self {
            api,
            dispatcher,
            bot,
            mut shard,
        } = self;
        let (queue, waiting) = mpsc::channel(QUEUE);
        let stopping = Arc::new(AtomicBool::new(false));
        let handler = tokio::spawn(handle_in_order(
            waiting,
            dispatcher,
            DiscordOutbox::new(api),
            stopping.clone(),
        ));
        let mut intake = Intake {
            bot: bot.id,
            seen: SeenIds::new(SEEN),
        };
        let mut shutdown = std::pin::pin!(shutdown.fuse());
        loop {
            let item = tokio::select! {
                () = &mut shutdown => break,
                item = shard.next() => item,
            };
            match item {
                None => {
                    tracing::error!("discord: the gateway closed for good; the channel stops");
                    break;
                }
                Some(Ok(Message::Text(text))) => {
                    let Some(inbound) = intake.take(&text) else {
                        continue;
                    };
                    if queue.try_send(inbound).is_err() {
                        tracing::warn!("discord: too many messages waiting; one was dropped");
                    }
                }
                Some(Ok(Message::Close(frame))) => report_close(frame.as_ref()),
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
        stopping.store(true, Ordering::SeqCst);
        shard.close(CloseFrame::NORMAL);
        drop(queue);
        if handler.await.is_err() {
            tracing::error!("discord: the message handler failed");
        }
    }
}

/// What the gateway loop keeps between events: who the bot is, and the
/// messages already taken.
struct Intake {
    bot: String,
    seen: SeenIds,
}

impl Intake {
    /// The person's message in one gateway text, unless it was taken before
    /// (a resumed session may replay events).
    fn take(&mut self, text: &str) -> Option<Inbound> {
        let message = event::message_create(text)?;
        let inbound = message.inbound(&self.bot)?;
        if !self.seen.first_time(&message.id) {
            tracing::debug!(message = %message.id, "discord: message seen before, dropped");
            return None;
        }
        Some(inbound)
    }
}

async fn handle_in_order(
    mut waiting: mpsc::Receiver<Inbound>,
    dispatcher: Arc<Dispatcher>,
    outbox: DiscordOutbox,
    stopping: Arc<AtomicBool>,
) {
    while let Some(inbound) = waiting.recv().await {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let message = inbound.message.clone().unwrap_or_default();
        match dispatcher.handle(inbound, &outbox).await {
            Ok(handled) => tracing::debug!(%message, ?handled, "discord: message handled"),
            Err(e) => {
                tracing::error!(%message, error = %e, "discord: a message could not be handled");
            }
        }
    }
}

/// Says what a gateway close means and, for the ones twilight does not
/// reconnect after, what the owner must fix.
fn report_close(frame: Option<&CloseFrame<'_>>) {
    let Some(code) = frame.map(|f| f.code) else {
        tracing::info!("discord: gateway connection closed; reconnecting");
        return;
    };
    match code {
        4004 => tracing::error!(
            "discord: the gateway refused the bot token (4004): check the token in the secret store"
        ),
        4014 => tracing::error!(
            "discord: the gateway refused the intents (4014): enable the Message Content intent in the developer portal (Bot, Privileged Gateway Intents)"
        ),
        4010..=4013 => tracing::error!(code, "discord: the gateway refused the connection"),
        code => tracing::info!(code, "discord: gateway connection closed; reconnecting"),
    }
}

/// The base URL twilight is given for an emulator's gateway. Twilight
/// appends `/?v=10&encoding=json`; to a URL with a path (crabline serves
/// `/gateway`) that would add a `/` the server does not serve, so the path
/// is closed with `?`, making the suffix part of the query. Only ever a
/// loopback URL: the token goes wherever this points.
fn emulator_gateway(url: &Url) -> Result<String, DiscordChannelError> {
    if !matches!(url.scheme(), "ws" | "wss")
        || !is_loopback(url)
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return Err(DiscordChannelError::GatewayUrl);
    }
    let text = url.as_str().trim_end_matches('/');
    Ok(if url.path() == "/" {
        text.to_owned()
    } else {
        format!("{text}?")
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_replayed_message_is_taken_once() {
        let mut intake = Intake {
            bot: "135000000000000001".into(),
            seen: SeenIds::new(8),
        };
        let event = |id: &str| {
            serde_json::json!({"op": 0, "s": 3, "t": "MESSAGE_CREATE", "d": {
                "id": id, "channel_id": "135000000000000010",
                "author": {"id": "135000000000000555"}, "content": "hi",
            }})
            .to_string()
        };
        assert!(intake.take(&event("135000000000000100")).is_some());
        assert!(intake.take(&event("135000000000000100")).is_none());
        assert!(intake.take(&event("135000000000000101")).is_some());
    }

    #[test]
    fn an_emulator_gateway_must_be_loopback_websocket() {
        let url = |s: &str| emulator_gateway(&Url::parse(s).unwrap());
        assert_eq!(
            url("ws://127.0.0.1:5/gateway").unwrap(),
            "ws://127.0.0.1:5/gateway?"
        );
        assert_eq!(url("ws://127.0.0.1:5/").unwrap(), "ws://127.0.0.1:5");
        for bad in [
            "ws://gateway.example:5/gateway",
            "http://127.0.0.1:5/gateway",
            "ws://127.0.0.1:5/gateway?v=9",
            "ws://u@127.0.0.1:5/gateway",
        ] {
            assert!(url(bad).is_err(), "{bad}");
        }
    }
}
