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
use tokio::sync::mpsc;
use url::Url;

use crate::Platform;
use crate::dispatch::{Dispatcher, Inbound};
use api::{BotIdentity, SlackApi, SlackError};
use events::Inbox;
pub use events::Taken;
pub use outbox::SlackOutbox;
pub use webhook::SlackEvents;

/// Messages waiting for the dispatch; past it new ones are dropped (and
/// logged) rather than held without bound while a turn runs.
const QUEUE: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum SlackChannelError {
    #[error("slack: the api root: {0}")]
    Client(#[source] SlackError),
    #[error("slack: reading the bot's identity (auth.test): {0}")]
    Identify(#[source] SlackError),
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

/// A started Slack channel, in the mode its config names.
#[derive(Debug)]
pub enum SlackChannel {
    /// Runs until shutdown: [`SlackSocket::run`].
    Socket(Box<SlackSocket>),
    /// The route to add to the edge's table; handling runs in the background
    /// while it lives.
    Events(Arc<SlackEvents>),
}

impl SlackChannel {
    /// Starts the channel `config` describes: reads the bot's identity, then
    /// either prepares Socket Mode or makes the Events API route.
    pub async fn start(
        config: &hardshell_config::Slack,
        secrets: SlackSecrets,
        dispatcher: Dispatcher,
    ) -> Result<Self, SlackChannelError> {
        let root = Url::parse(config.api_root.as_str())
            .map_err(|_| SlackChannelError::Client(SlackError::Root("not a URL")))?;
        let api = SlackApi::new(root, secrets.bot_token, secrets.app_token)
            .map_err(SlackChannelError::Client)?;
        match config.mode {
            hardshell_config::SlackMode::Socket => SlackSocket::start(api, dispatcher)
                .await
                .map(|socket| Self::Socket(Box::new(socket))),
            hardshell_config::SlackMode::Events => {
                let secret = secrets
                    .signing_secret
                    .ok_or(SlackChannelError::NoSigningSecret)?;
                Self::events(api, secret, dispatcher)
                    .await
                    .map(Self::Events)
            }
        }
    }

    /// The Events API route, its handler started (see [`SlackEvents`]).
    pub async fn events(
        api: SlackApi,
        signing_secret: SecretValue,
        dispatcher: Dispatcher,
    ) -> Result<Arc<SlackEvents>, SlackChannelError> {
        debug_assert_eq!(dispatcher.platform(), Platform::Slack);
        let bot = api.auth_test().await.map_err(SlackChannelError::Identify)?;
        tracing::info!(bot = %bot.user_id, "slack: taking events at /hooks/slack");
        let api = Arc::new(api);
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(handle_in_order(waiting, dispatcher, SlackOutbox::new(api)));
        Ok(Arc::new(SlackEvents::new(
            signing_secret,
            Inbox::new(bot, queue),
        )))
    }
}

/// Slack in Socket Mode; see [`socket`].
#[derive(Debug)]
pub struct SlackSocket {
    api: Arc<SlackApi>,
    dispatcher: Dispatcher,
    bot: BotIdentity,
    tls: Arc<rustls::ClientConfig>,
}

impl SlackSocket {
    /// Reads the bot's identity; the client must hold the app-level token.
    pub async fn start(api: SlackApi, dispatcher: Dispatcher) -> Result<Self, SlackChannelError> {
        debug_assert_eq!(dispatcher.platform(), Platform::Slack);
        if !api.has_app_token() {
            return Err(SlackChannelError::NoAppToken);
        }
        let bot = api.auth_test().await.map_err(SlackChannelError::Identify)?;
        tracing::info!(bot = %bot.user_id, "slack: connecting in Socket Mode");
        Ok(Self {
            api: Arc::new(api),
            dispatcher,
            bot,
            tls: platform_tls()?,
        })
    }

    /// Keeps one connection open until `shutdown` completes; the message
    /// being handled then is finished first.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (queue, waiting) = mpsc::channel(QUEUE);
        let outbox = SlackOutbox::new(self.api.clone());
        let handler = tokio::spawn(handle_in_order(waiting, self.dispatcher, outbox));
        let mut inbox = Inbox::new(self.bot, queue);
        let mut shutdown = std::pin::pin!(shutdown.fuse());
        let mut backoff = Duration::from_secs(1);
        loop {
            let opened = tokio::select! {
                () = &mut shutdown => break,
                opened = self.api.open_connection() => opened,
            };
            let wait = match opened {
                Ok(url) => match socket::connect(&url, &self.tls).await {
                    Ok(link) => {
                        let ended = socket::session(link, &mut inbox, &mut shutdown).await;
                        match &ended {
                            socket::Ended::Shutdown => break,
                            socket::Ended::Disconnect(reason) => {
                                tracing::info!(%reason, "slack: Slack asked to reconnect");
                            }
                            socket::Ended::Lost { cause, .. } => {
                                tracing::warn!(%cause, "slack: connection lost");
                            }
                        }
                        socket::wait_after(&ended, &mut backoff)
                    }
                    Err(cause) => {
                        tracing::warn!(%cause, "slack: connecting failed");
                        socket::wait_after(
                            &socket::Ended::Lost {
                                greeted: false,
                                cause,
                            },
                            &mut backoff,
                        )
                    }
                },
                Err(e) => {
                    let wait = socket::wait_after_open(&e, &mut backoff);
                    tracing::error!(error = %e, "slack: opening a connection failed; trying again in {}s", wait.as_secs());
                    wait
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        drop(inbox);
        let _ = handler.await;
    }
}

/// Hands queued messages to the dispatch, one at a time, until the queue's
/// sender is gone.
async fn handle_in_order(
    mut waiting: mpsc::Receiver<Inbound>,
    dispatcher: Dispatcher,
    outbox: SlackOutbox,
) {
    while let Some(inbound) = waiting.recv().await {
        match dispatcher.handle(inbound, &outbox).await {
            Ok(handled) => tracing::debug!(?handled, "slack: message handled"),
            Err(e) => tracing::error!(error = %e, "slack: a message could not be handled"),
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
