//! Telegram's webhook mode: Telegram posts each update to the edge's
//! `/hooks/telegram`, with the secret given at `setWebhook` in
//! `X-Telegram-Bot-Api-Secret-Token`. The secret is compared (in constant
//! time) before the body is parsed; an update id already taken is a
//! duplicate (Telegram retries until it gets a 200); taken updates are
//! handled one at a time, in order, by the channel's run.

use std::sync::Mutex;

use hardshell_secrets::SecretValue;
use http::Method;
use tokio::sync::mpsc;

use super::types::Update;
use crate::Platform;
use crate::verify::{self, SeenIds};
use crate::webhook::{WebhookEndpoint, WebhookOutcome, WebhookRequest};

/// Updates waiting to be handled; past it, Telegram is asked to retry.
const QUEUE: usize = 256;
/// Update ids remembered against Telegram's retries.
const SEEN: usize = 4096;

/// The route Telegram posts to.
pub const PATH: &str = "/hooks/telegram";

/// The endpoint; its updates are handled by `TelegramChannel::run_webhook`.
#[derive(Debug)]
pub struct TelegramWebhook {
    secret: SecretValue,
    seen: Mutex<SeenIds>,
    queue: mpsc::Sender<Update>,
}

/// The updates the endpoint took, for the channel to handle.
#[derive(Debug)]
pub struct TakenUpdates(pub(super) mpsc::Receiver<Update>);

impl TelegramWebhook {
    /// The endpoint checking `secret` (the one given to `setWebhook`).
    pub fn new(secret: SecretValue) -> (Self, TakenUpdates) {
        let (queue, taken) = mpsc::channel(QUEUE);
        let webhook = Self {
            secret,
            seen: Mutex::new(SeenIds::new(SEEN)),
            queue,
        };
        (webhook, TakenUpdates(taken))
    }
}

impl WebhookEndpoint for TelegramWebhook {
    fn platform(&self) -> Platform {
        Platform::Telegram
    }

    fn path(&self) -> &'static str {
        PATH
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::POST]
    }

    fn receive(&self, request: WebhookRequest<'_>) -> WebhookOutcome {
        let presented = request
            .headers
            .get(verify::telegram::SECRET_TOKEN_HEADER)
            .map(|value| value.as_bytes());
        let verified = match verify::telegram::verify(presented, request.body, &self.secret) {
            Ok(verified) => verified,
            Err(refusal) => return WebhookOutcome::Rejected(refusal),
        };
        let Ok(raw) = serde_json::from_slice::<serde_json::Value>(verified.body()) else {
            return WebhookOutcome::Malformed;
        };
        let Some(update) = super::api::read_update(raw) else {
            return WebhookOutcome::Malformed;
        };
        // The slot first: an update that cannot be queued is not
        // remembered, so Telegram's retry is taken.
        let Ok(slot) = self.queue.try_reserve() else {
            tracing::warn!("telegram: the update queue is full; refused for Telegram to retry");
            return WebhookOutcome::Busy;
        };
        let first = match self.seen.lock() {
            Ok(mut seen) => seen.first_time(&update.update_id.to_string()),
            Err(_) => return WebhookOutcome::Busy,
        };
        if !first {
            return WebhookOutcome::Duplicate;
        }
        slot.send(update);
        WebhookOutcome::Accepted { body: Vec::new() }
    }
}
