//! Slack, as one Slack app in one workspace: Socket Mode by default (the
//! edge connects out to Slack, so no inbound route exists), or the Events
//! API (Slack posts to `/hooks/slack`, each delivery signed).
//!
//! - At start the bot's own ids are read (`auth.test`): its user id spots
//!   mentions (`<@U…>`) and its own messages, which are dropped with every
//!   other bot's before the dispatch, so the bot never answers itself.
//! - Events are taken once (by `event_id`, and a message once by its
//!   `channel:ts`) and handled in their conversation's lane
//!   (`crate::lanes`: a conversation's messages in order, many at once, so
//!   one long turn holds up its own conversation only). Socket Mode
//!   acknowledges each envelope before it is handled, and the Events API
//!   answers each delivery at once, so each message is spooled in the
//!   sealed store as the run takes it, and what is still queued when the
//!   channel stops is spooled then: a restart answers it, once. (A process
//!   killed outright loses what was queued and not yet taken.)
//! - Answers go through the Web API with the bot token: `chat.postMessage`
//!   (in the thread of a channel message), `chat.update` for a reply shown
//!   as it is written.
//! - The owner's questions come with Block Kit buttons. A press is handled
//!   at once by its own task, never queued behind the turn that asked (the
//!   turn waits for it); the dispatch decides whether it answers anything,
//!   and an answered question's buttons are replaced by the outcome.
//! - The app's slash command (`/hardshell` unless configured otherwise) is
//!   a message: no text or `new` starts a new conversation, anything else
//!   goes to the agent, in order with the events around it.
//! - The spool is the channel's only state in the sealed store
//!   (`channels/slack/spool`).

pub mod api;
mod events;
mod interactive;
mod outbox;
mod socket;
mod webhook;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use hardshell_secrets::SecretValue;
use hardshell_storage::Scope;
use tokio::sync::{mpsc, watch};
use url::Url;

use crate::Platform;
use crate::dispatch::{Dispatcher, Inbound, Pressed};
use crate::lanes::{Lanes, OutboxFor};
use crate::outbox::Outbox;
use crate::webhook::WebhookEndpoint;
use api::{BotIdentity, SlackApi, SlackError};
pub use events::Taken;
use events::{Delivery, Inbox, Reader};
pub use interactive::DEFAULT_COMMAND;
use interactive::Press;
pub use outbox::SlackOutbox;
pub use webhook::SlackEvents;

/// Messages waiting to be taken into their lanes; past it new ones are
/// dropped (and logged) rather than held without bound.
const QUEUE: usize = 64;
/// Presses waiting to be answered; a person presses far fewer.
const PRESS_QUEUE: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SlackChannelError {
    #[error("slack: the api root: {0}")]
    Client(#[source] SlackError),
    #[error("slack: socket mode needs the app-level token (app_token, xapp-…)")]
    NoAppToken,
    #[error("slack: the events api needs the signing secret (signing_secret)")]
    NoSigningSecret,
    #[error("slack: the system's TLS roots: {0}")]
    Tls(String),
}

/// The secrets `[channels.slack]` names, resolved from the secret store.
pub struct SlackSecrets {
    pub bot_token: SecretValue,
    /// Socket Mode's app-level token (`xapp-…`).
    pub app_token: Option<SecretValue>,
    /// The Events API's signing secret.
    pub signing_secret: Option<SecretValue>,
}

impl std::fmt::Debug for SlackSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackSecrets")
            .field("bot_token", &self.bot_token)
            .field("app_token", &self.app_token)
            .field("signing_secret", &self.signing_secret)
            .finish()
    }
}

/// The Slack channel: made without asking Slack anything (so `hardshell up`
/// does not depend on Slack being reachable), run until shutdown.
#[derive(Debug)]
pub struct SlackChannel {
    api: Arc<SlackApi>,
    dispatcher: Arc<Dispatcher>,
    waiting: mpsc::Receiver<Delivery>,
    presses: mpsc::Receiver<Press>,
    transport: Transport,
    /// The sealed store's `channels/slack` scope, for the spool.
    state: Scope,
}

/// Where deliveries arrive and where the run takes them from.
struct Queues {
    inbox: Inbox,
    waiting: mpsc::Receiver<Delivery>,
    presses: mpsc::Receiver<Press>,
}

impl Queues {
    fn new(command: &str) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        let (press_queue, presses) = mpsc::channel(PRESS_QUEUE);
        Self {
            inbox: Inbox::new(queue, press_queue, command),
            waiting,
            presses,
        }
    }
}

#[derive(Debug)]
enum Transport {
    /// Socket Mode: the run connects, and its reader fills the queue.
    Socket {
        /// Boxed: it holds two id memories, and the other variant a pointer.
        inbox: Box<Inbox>,
        tls: Arc<rustls::ClientConfig>,
    },
    /// The Events API: the route fills the queue.
    Events { route: Arc<SlackEvents> },
}

impl SlackChannel {
    /// The channel `config` describes, with the secrets it names; `state`
    /// is the sealed store's `channels/slack` scope, where taken messages
    /// are spooled.
    pub fn new(
        config: &hardshell_config::Slack,
        secrets: SlackSecrets,
        dispatcher: Dispatcher,
        state: Scope,
    ) -> Result<Self, SlackChannelError> {
        let root = Url::parse(config.api_root.as_str())
            .map_err(|_| SlackChannelError::Client(SlackError::Root("not a URL")))?;
        let api = SlackApi::new(root, secrets.bot_token, secrets.app_token)
            .map_err(SlackChannelError::Client)?;
        let command = config.command.as_str();
        match config.mode {
            hardshell_config::SlackMode::Socket => {
                Self::socket_answering(api, dispatcher, command, state)
            }
            hardshell_config::SlackMode::Events => {
                let secret = secrets
                    .signing_secret
                    .ok_or(SlackChannelError::NoSigningSecret)?;
                Ok(Self::events_answering(
                    api, secret, dispatcher, command, state,
                ))
            }
        }
    }

    /// Socket Mode, answering [`DEFAULT_COMMAND`]; the client must hold the
    /// app-level token.
    pub fn socket(
        api: SlackApi,
        dispatcher: Dispatcher,
        state: Scope,
    ) -> Result<Self, SlackChannelError> {
        Self::socket_answering(api, dispatcher, DEFAULT_COMMAND, state)
    }

    /// Socket Mode, answering the slash command `command` (`/name`).
    pub fn socket_answering(
        api: SlackApi,
        dispatcher: Dispatcher,
        command: &str,
        state: Scope,
    ) -> Result<Self, SlackChannelError> {
        debug_assert_eq!(dispatcher.platform(), Platform::Slack);
        if !api.has_app_token() {
            return Err(SlackChannelError::NoAppToken);
        }
        let queues = Queues::new(command);
        Ok(Self {
            api: Arc::new(api),
            dispatcher: Arc::new(dispatcher),
            waiting: queues.waiting,
            presses: queues.presses,
            transport: Transport::Socket {
                inbox: Box::new(queues.inbox),
                tls: platform_tls()?,
            },
            state,
        })
    }

    /// The Events API, answering [`DEFAULT_COMMAND`], its deliveries
    /// signed with `signing_secret`.
    pub fn events(
        api: SlackApi,
        signing_secret: SecretValue,
        dispatcher: Dispatcher,
        state: Scope,
    ) -> Self {
        Self::events_answering(api, signing_secret, dispatcher, DEFAULT_COMMAND, state)
    }

    /// The Events API, answering the slash command `command` (`/name`).
    pub fn events_answering(
        api: SlackApi,
        signing_secret: SecretValue,
        dispatcher: Dispatcher,
        command: &str,
        state: Scope,
    ) -> Self {
        debug_assert_eq!(dispatcher.platform(), Platform::Slack);
        let queues = Queues::new(command);
        let route = Arc::new(SlackEvents::new(signing_secret, queues.inbox));
        Self {
            api: Arc::new(api),
            dispatcher: Arc::new(dispatcher),
            waiting: queues.waiting,
            presses: queues.presses,
            transport: Transport::Events { route },
            state,
        }
    }

    /// The route for the edge's table, in Events API mode. It takes
    /// deliveries at once; they are handled once [`SlackChannel::run`] runs.
    pub fn webhook(&self) -> Option<Arc<dyn WebhookEndpoint>> {
        match &self.transport {
            Transport::Events { route } => Some(route.clone()),
            Transport::Socket { .. } => None,
        }
    }

    /// Reads the bot's identity (retried: Slack may be unreachable at
    /// start), then connects (Socket Mode) and hands each message to its
    /// conversation's lane, until `shutdown` completes; the turns running
    /// then are finished first, and what is waiting stays spooled for the
    /// next start (which answers it first).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown.fuse());
        let Some(bot) = identify(&self.api, &mut shutdown).await else {
            return;
        };
        let reader = Reader::new(bot);
        let outbox = SlackOutbox::new(self.api.clone());
        let each = outbox.clone();
        let outbox_for: OutboxFor =
            Arc::new(move |_: &Inbound| Box::new(each.clone()) as Box<dyn Outbox>);
        // Without its spool the channel does not take a message it could
        // lose: Socket Mode does not connect (Slack keeps the events), and
        // the Events route's queue closes (each delivery dropped, logged).
        let Some(lanes) =
            Lanes::open("slack", self.dispatcher.clone(), outbox_for, &self.state).await
        else {
            return;
        };
        let (stop, stopped) = watch::channel(false);
        let until_stopped = || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };
        let answering = Answering {
            presses: self.presses,
            dispatcher: self.dispatcher.clone(),
            outbox: outbox.clone(),
        };
        let answerer = tokio::spawn(answering.until(until_stopped()));
        let handling = Handling {
            waiting: self.waiting,
            reader,
            lanes,
        };
        match self.transport {
            Transport::Events { route: _ } => {
                tracing::info!("slack: taking events at /hooks/slack");
                handling.until(shutdown).await;
            }
            Transport::Socket { inbox, tls } => {
                let handler = tokio::spawn(handling.until(until_stopped()));
                socket::keep_connected(&self.api, &tls, *inbox, &mut shutdown).await;
                let _ = stop.send(true);
                let _ = handler.await;
            }
        }
        let _ = stop.send(true);
        let _ = answerer.await;
    }
}

/// The bot's ids from `auth.test`, retried until they come or `shutdown`.
async fn identify(
    api: &SlackApi,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> Option<BotIdentity> {
    let mut backoff = Duration::from_secs(1);
    loop {
        let wait = match api.auth_test().await {
            Ok(bot) => {
                tracing::info!(bot = %bot.user_id, "slack: the bot's identity read");
                return Some(bot);
            }
            Err(e) => {
                let wait = socket::wait_after_open(&e, &mut backoff);
                tracing::error!(error = %e, "slack: reading the bot's identity (auth.test) failed; trying again in {}s", wait.as_secs());
                wait
            }
        };
        tokio::select! {
            () = &mut *shutdown => return None,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// The queue's consumer: each message spooled and handed to its
/// conversation's lane, in the order it came.
struct Handling {
    waiting: mpsc::Receiver<Delivery>,
    reader: Reader,
    lanes: Lanes,
}

impl Handling {
    /// Takes queued events until `stop` completes (or the queue closes);
    /// then spools what is still queued and lets the lanes finish their
    /// running turns.
    async fn until(mut self, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop.fuse());
        loop {
            let delivery = tokio::select! {
                biased;
                () = &mut stop => break,
                next = self.waiting.recv() => match next {
                    Some(delivery) => delivery,
                    None => break,
                },
            };
            let Some((key, inbound)) = self.message(delivery) else {
                continue;
            };
            if let Err(e) = self.lanes.take(&key, inbound).await {
                tracing::error!(error = %e, "slack: a message taken could not be spooled; it is lost");
            }
        }
        self.waiting.close();
        while let Ok(delivery) = self.waiting.try_recv() {
            let Some((key, inbound)) = self.message(delivery) else {
                continue;
            };
            if let Err(e) = self.lanes.keep(&key, inbound).await {
                tracing::error!(error = %e, "slack: a message taken could not be spooled at shutdown; it is lost");
            }
        }
        self.lanes.stop().await;
    }

    /// A delivery's message and its key for the spool: an event's
    /// `channel:ts`, a slash command's `trigger_id`.
    fn message(&mut self, delivery: Delivery) -> Option<(String, Inbound)> {
        match delivery {
            Delivery::Event(callback) => self
                .reader
                .read(&callback)
                .map(|(key, inbound)| (format!("message:{key}"), inbound)),
            Delivery::Command(command) => {
                Some((format!("command:{}", command.trigger), command.inbound))
            }
        }
    }
}

/// The presses' consumer, beside the queue's: a press answers a question
/// whose turn is waiting for it, so it never waits for that turn.
struct Answering {
    presses: mpsc::Receiver<Press>,
    dispatcher: Arc<Dispatcher>,
    outbox: SlackOutbox,
}

impl Answering {
    async fn until(mut self, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop.fuse());
        loop {
            let press = tokio::select! {
                () = &mut stop => return,
                next = self.presses.recv() => match next {
                    Some(press) => press,
                    None => return,
                },
            };
            self.answer(press).await;
        }
    }

    /// The dispatch decides what the press answers; an answered question
    /// loses its buttons to the outcome, and any other press is told to
    /// the presser alone, the question left as it was.
    async fn answer(&self, press: Press) {
        let pressed = self
            .dispatcher
            .press(&press.sender, &press.channel, press.place, &press.value)
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "slack: a button press could not be read");
                Pressed::Unknown
            });
        tracing::debug!(?pressed, "slack: a button pressed");
        let notice = pressed.notice();
        let shown = match (pressed, press.message.as_deref()) {
            (Pressed::Approved | Pressed::Refused, Some(message)) => {
                let question = press.question.as_deref();
                self.outbox
                    .settle(&press.channel, message, question, notice)
                    .await
            }
            _ => self.outbox.tell(&press.channel, &press.user, notice).await,
        };
        if let Err(e) = shown {
            tracing::warn!(error = %e, "slack: what came of a button press was not shown");
        }
    }
}

/// The TLS client configuration: the system's roots, aws-lc-rs only.
fn platform_tls() -> Result<Arc<rustls::ClientConfig>, SlackChannelError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_platform_verifier())
        .map_err(|e| SlackChannelError::Tls(e.to_string()))?
        .with_no_client_auth();
    Ok(Arc::new(config))
}
