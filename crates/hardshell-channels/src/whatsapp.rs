//! WhatsApp, through the Business Cloud API: Meta delivers each user's
//! message to the edge's webhook route `/hooks/whatsapp`, signed with the
//! app secret, and the bot answers through the Graph API. (WhatsApp Web by
//! QR code, as Baileys does it, is OpenClaw's path, run as a workload; it is
//! not hardshell's: it logs in as a person's phone, not a business number.)
//!
//! - `GET` is the subscription handshake: the challenge is echoed only to a
//!   request presenting the configured verify token.
//! - `POST` is a delivery: its `X-Hub-Signature-256` is checked on the raw
//!   body before anything is parsed; then every change must name the
//!   configured phone number id, or nothing is taken; a message id already
//!   taken is a duplicate (Meta retries a delivery it thinks failed).
//! - A delivery is answered at once and handled after by the
//!   [`WhatsappWorker`] the wiring runs, in its chat's lane (`crate::lanes`:
//!   a chat's messages in order, many chats at once, so one user's long
//!   turn does not hold up another's). Each message is spooled in the sealed
//!   store as the worker takes it, and what the queue still holds when the
//!   channel stops is spooled then: a delivery Meta was told was taken is
//!   answered after a restart, once. (A process killed outright loses what
//!   was queued and not yet taken by the worker: at most [`QUEUE`]
//!   deliveries, for the moments between the 200 and the take.)
//! - An image or a document a user sends is a file known by its media id;
//!   the dispatch has it fetched (see [`api::media`]) only for a paired
//!   sender. The agent's files go out as documents.

pub mod api;
pub mod notification;
mod outbox;

use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use hardshell_secrets::SecretValue;
use hardshell_storage::Scope;
use http::Method;
use tokio::sync::mpsc;

use crate::Platform;
use crate::dispatch::{Dispatcher, Inbound};
use crate::lanes::{Lanes, OutboxFor};
use crate::outbox::Outbox;
use crate::verify::{self, SeenIds};
use crate::webhook::{WebhookEndpoint, WebhookOutcome, WebhookRequest};
use api::{WhatsappApi, WhatsappError};
use outbox::WhatsappOutbox;

/// The route's path in the edge's route table.
pub const PATH: &str = "/hooks/whatsapp";
/// Deliveries accepted and waiting to be handled. Past it a delivery is
/// refused unhandled (and not remembered), so Meta delivers it again later.
pub const QUEUE: usize = 256;
/// Message ids remembered against Meta's retries and replays.
pub const SEEN: usize = 4096;

/// The channel's secrets, resolved from the secret store.
#[derive(Debug)]
pub struct WhatsappSecrets {
    /// The Graph API's bearer token (`access_token`).
    pub access_token: SecretValue,
    /// The Meta app's secret, which signs every delivery (`app_secret`).
    pub app_secret: SecretValue,
    /// What the subscription handshake must present (`verify_token`).
    pub verify_token: SecretValue,
}

#[derive(Debug, thiserror::Error)]
pub enum WhatsappChannelError {
    #[error("whatsapp: channels.whatsapp.phone_number_id is not set")]
    NoPhoneNumberId,
    #[error("whatsapp: the dispatcher given is {0}'s")]
    OtherPlatform(Platform),
    #[error("whatsapp: {0}")]
    Api(#[from] WhatsappError),
}

/// The webhook route: verifies, reads and queues deliveries.
pub struct WhatsappWebhook {
    phone_number_id: String,
    app_secret: SecretValue,
    verify_token: SecretValue,
    seen: Mutex<SeenIds>,
    queue: mpsc::Sender<Vec<Inbound>>,
}

impl std::fmt::Debug for WhatsappWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsappWebhook")
            .field("phone_number_id", &self.phone_number_id)
            .finish_non_exhaustive()
    }
}

/// Handles the accepted deliveries, each chat in order; see
/// [`WhatsappWorker::run`].
#[derive(Debug)]
pub struct WhatsappWorker {
    api: Arc<WhatsappApi>,
    dispatcher: Arc<Dispatcher>,
    queue: mpsc::Receiver<Vec<Inbound>>,
    state: Scope,
}

/// The channel from its `[channels.whatsapp]` section, its secrets and the
/// dispatch of `Platform::Whatsapp`: the route for the edge's table, and
/// the worker to run until shutdown. `state` is the sealed store's
/// `channels/whatsapp` scope, where taken messages are spooled.
pub fn channel(
    config: &hardshell_config::Whatsapp,
    secrets: WhatsappSecrets,
    dispatcher: Dispatcher,
    state: Scope,
) -> Result<(Arc<WhatsappWebhook>, WhatsappWorker), WhatsappChannelError> {
    if dispatcher.platform() != Platform::Whatsapp {
        return Err(WhatsappChannelError::OtherPlatform(dispatcher.platform()));
    }
    let phone_number_id = config
        .phone_number_id
        .as_ref()
        .ok_or(WhatsappChannelError::NoPhoneNumberId)?;
    let api = WhatsappApi::new(&config.api_root, phone_number_id, secrets.access_token)?;
    let (sender, receiver) = mpsc::channel(QUEUE);
    let webhook = WhatsappWebhook {
        phone_number_id: phone_number_id.as_str().to_owned(),
        app_secret: secrets.app_secret,
        verify_token: secrets.verify_token,
        seen: Mutex::new(SeenIds::new(SEEN)),
        queue: sender,
    };
    let worker = WhatsappWorker {
        api: Arc::new(api),
        dispatcher: Arc::new(dispatcher),
        queue: receiver,
        state,
    };
    Ok((Arc::new(webhook), worker))
}

impl WebhookEndpoint for WhatsappWebhook {
    fn platform(&self) -> Platform {
        Platform::Whatsapp
    }

    fn path(&self) -> &'static str {
        PATH
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::GET, Method::POST]
    }

    fn receive(&self, request: WebhookRequest<'_>) -> WebhookOutcome {
        match *request.method {
            Method::GET => self.handshake(request.query.unwrap_or_default()),
            Method::POST => self.delivery(&request),
            _ => WebhookOutcome::Malformed,
        }
    }
}

impl WhatsappWebhook {
    fn handshake(&self, query: &str) -> WebhookOutcome {
        match verify::whatsapp::handshake(query, &self.verify_token) {
            Ok(challenge) => WebhookOutcome::Accepted {
                body: challenge.into_bytes(),
            },
            Err(e) => WebhookOutcome::Rejected(e),
        }
    }

    fn delivery(&self, request: &WebhookRequest<'_>) -> WebhookOutcome {
        let signature = request
            .headers
            .get(verify::whatsapp::SIGNATURE_HEADER)
            .map(|value| value.as_bytes());
        let verified = match verify::whatsapp::verify(signature, request.body, &self.app_secret) {
            Ok(verified) => verified,
            Err(e) => return WebhookOutcome::Rejected(e),
        };
        let messages = match notification::read(verified, &self.phone_number_id) {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(error = %e, "whatsapp delivery refused");
                return WebhookOutcome::Malformed;
            }
        };
        if messages.is_empty() {
            // Statuses, or kinds not read: taken, nothing to do.
            return WebhookOutcome::Accepted { body: Vec::new() };
        }
        // The slot first: a delivery that cannot be queued is not
        // remembered, so Meta's retry is taken.
        let Ok(slot) = self.queue.try_reserve() else {
            tracing::warn!(
                "whatsapp: the delivery queue is full or stopped; refused for Meta to retry"
            );
            return WebhookOutcome::Busy;
        };
        let fresh: Vec<Inbound> = match self.seen.lock() {
            Ok(mut seen) => messages
                .into_iter()
                .filter(|m| m.message.as_deref().is_some_and(|id| seen.first_time(id)))
                .collect(),
            Err(_) => return WebhookOutcome::Malformed,
        };
        if fresh.is_empty() {
            return WebhookOutcome::Duplicate;
        }
        slot.send(fresh);
        WebhookOutcome::Accepted { body: Vec::new() }
    }
}

impl WhatsappWorker {
    /// Handles accepted deliveries, each message in its chat's lane, until
    /// `shutdown` completes or the webhook is dropped. What a previous run
    /// left unanswered is handled first. At shutdown the turns running are
    /// finished, and every message taken or still queued stays spooled for
    /// the next start (Meta was told it was taken); a later delivery is
    /// refused for Meta to retry.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown.fuse());
        let api = self.api.clone();
        let outbox_for: OutboxFor = Arc::new(move |inbound: &Inbound| {
            Box::new(WhatsappOutbox {
                api: api.clone(),
                answering: inbound.message.clone(),
            }) as Box<dyn Outbox>
        });
        // Without its spool the worker ends: the queue closes, so every
        // delivery is refused (503) and Meta retries it later.
        let Some(mut lanes) =
            Lanes::open("whatsapp", self.dispatcher.clone(), outbox_for, &self.state).await
        else {
            return;
        };
        loop {
            let delivery = tokio::select! {
                biased;
                () = &mut shutdown => break,
                delivery = self.queue.recv() => delivery,
            };
            let Some(messages) = delivery else { break };
            for inbound in messages {
                Self::take(&mut lanes, inbound).await;
            }
        }
        self.queue.close();
        while let Ok(messages) = self.queue.try_recv() {
            for inbound in messages {
                Self::keep(&mut lanes, inbound).await;
            }
        }
        lanes.stop().await;
    }

    /// Spools a message and hands it to its chat's lane.
    async fn take(lanes: &mut Lanes, inbound: Inbound) {
        // The webhook queues only messages with an id (its duplicate check).
        let Some(id) = inbound.message.clone() else {
            return;
        };
        if let Err(e) = lanes.take(&id, inbound).await {
            tracing::error!(%id, error = %e, "whatsapp: a message taken could not be spooled; it is lost");
        }
    }

    /// Spools a message still queued when the channel stops.
    async fn keep(lanes: &mut Lanes, inbound: Inbound) {
        let Some(id) = inbound.message.clone() else {
            return;
        };
        if let Err(e) = lanes.keep(&id, inbound).await {
            tracing::error!(%id, error = %e, "whatsapp: a message taken could not be spooled at shutdown; it is lost");
        }
    }
}

#[cfg(test)]
mod tests;
