//! Slack, as one Slack app in one workspace: Socket Mode by default (the
//! edge connects out to Slack, so no inbound route exists), or the Events
//! API (Slack posts to `/hooks/slack`, each delivery signed).
//!
//! - At start the bot's own ids are read (`auth.test`): its user id spots
//!   mentions (`<@U…>`) and its own messages, which are dropped with every
//!   other bot's before the dispatch, so the bot never answers itself.
//! - Events are taken once (by `event_id`) and handled one at a time, in
//!   order, by one task; Socket Mode acknowledges each envelope before it
//!   is handled, and the Events API answers each delivery at once.
//! - Answers go through the Web API with the bot token: `chat.postMessage`
//!   (in the thread of a channel message), `chat.update` for a reply shown
//!   as it is written.
//! - Slack keeps nothing the edge must remember across a restart (an
//!   envelope not acknowledged is delivered again), so the channel has no
//!   state in the sealed store.

pub mod api;
mod events;
mod outbox;
mod socket;
mod webhook;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use hardshell_secrets::SecretValue;
use tokio::sync::{mpsc, watch};
use url::Url;

use crate::Platform;
use crate::dispatch::Dispatcher;
use crate::webhook::WebhookEndpoint;
use api::{BotIdentity, SlackApi, SlackError};
pub use events::Taken;
use events::{Callback, Inbox, Reader};
pub use outbox::SlackOutbox;
pub use webhook::SlackEvents;

/// Messages waiting for the dispatch; past it new ones are dropped (and
/// logged) rather than held without bound while a turn runs.
const QUEUE: usize = 64;

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
    dispatcher: Dispatcher,
    waiting: mpsc::Receiver<Callback>,
    transport: Transport,
}

#[derive(Debug)]
enum Transport {
    /// Socket Mode: the run connects, and its reader fills the queue.
    Socket {
        inbox: Inbox,
        tls: Arc<rustls::ClientConfig>,
    },
    /// The Events API: the route fills the queue.
    Events { route: Arc<SlackEvents> },
}

impl SlackChannel {
    /// The channel `config` describes, with the secrets it names.
    pub fn new(
        config: &hardshell_config::Slack,
        secrets: SlackSecrets,
        dispatcher: Dispatcher,
    ) -> Result<Self, SlackChannelError> {
        let root = Url::parse(config.api_root.as_str())
            .map_err(|_| SlackChannelError::Client(SlackError::Root("not a URL")))?;
        let api = SlackApi::new(root, secrets.bot_token, secrets.app_token)
            .map_err(SlackChannelError::Client)?;
        match config.mode {
            hardshell_config::SlackMode::Socket => Self::socket(api, dispatcher),
            hardshell_config::SlackMode::Events => {
                let secret = secrets
                    .signing_secret
                    .ok_or(SlackChannelError::NoSigningSecret)?;
                Ok(Self::events(api, secret, dispatcher))
            }
        }
    }

    /// Socket Mode; the client must hold the app-level token.
    pub fn socket(api: SlackApi, dispatcher: Dispatcher) -> Result<Self, SlackChannelError> {
        debug_assert_eq!(dispatcher.platform(), Platform::Slack);
        if !api.has_app_token() {
            return Err(SlackChannelError::NoAppToken);
        }
        let (queue, waiting) = mpsc::channel(QUEUE);
        Ok(Self {
            api: Arc::new(api),
            dispatcher,
            waiting,
            transport: Transport::Socket {
                inbox: Inbox::new(queue),
                tls: platform_tls()?,
            },
        })
    }

    /// The Events API, its deliveries signed with `signing_secret`.
    pub fn events(api: SlackApi, signing_secret: SecretValue, dispatcher: Dispatcher) -> Self {
        debug_assert_eq!(dispatcher.platform(), Platform::Slack);
        let (queue, waiting) = mpsc::channel(QUEUE);
        let route = Arc::new(SlackEvents::new(signing_secret, Inbox::new(queue)));
        Self {
            api: Arc::new(api),
            dispatcher,
            waiting,
            transport: Transport::Events { route },
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
    /// start), then connects (Socket Mode) and hands each message to the
    /// dispatch in order, until `shutdown` completes; the message being
    /// handled then is finished first.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown.fuse());
        let Some(bot) = identify(&self.api, &mut shutdown).await else {
            return;
        };
        let reader = Reader::new(bot);
        let outbox = SlackOutbox::new(self.api.clone());
        let handling = Handling {
            waiting: self.waiting,
            reader,
            dispatcher: self.dispatcher,
            outbox,
        };
        match self.transport {
            Transport::Events { route: _ } => {
                tracing::info!("slack: taking events at /hooks/slack");
                handling.until(shutdown).await;
            }
            Transport::Socket { inbox, tls } => {
                let (stop, stopped) = watch::channel(false);
                let handler = tokio::spawn(handling.until(async move {
                    let mut stopped = stopped;
                    let _ = stopped.wait_for(|stop| *stop).await;
                }));
                socket::keep_connected(&self.api, &tls, inbox, &mut shutdown).await;
                let _ = stop.send(true);
                let _ = handler.await;
            }
        }
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

/// The queue's consumer: one message at a time, in order.
struct Handling {
    waiting: mpsc::Receiver<Callback>,
    reader: Reader,
    dispatcher: Dispatcher,
    outbox: SlackOutbox,
}

impl Handling {
    /// Handles queued events until `stop` completes (or the queue closes);
    /// a message being handled is finished first.
    async fn until(mut self, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop.fuse());
        loop {
            let callback = tokio::select! {
                () = &mut stop => return,
                next = self.waiting.recv() => match next {
                    Some(callback) => callback,
                    None => return,
                },
            };
            let Some(inbound) = self.reader.read(&callback) else {
                continue;
            };
            match self.dispatcher.handle(inbound, &self.outbox).await {
                Ok(handled) => tracing::debug!(?handled, "slack: message handled"),
                Err(e) => tracing::error!(error = %e, "slack: a message could not be handled"),
            }
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
