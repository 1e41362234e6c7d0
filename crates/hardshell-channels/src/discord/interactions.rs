//! Discord interactions over HTTP (discord.com/developers/docs/interactions/
//! receiving-and-responding), taken only when `[channels.discord]` names the
//! application's public key: every request is checked against it
//! ([`crate::verify::discord`]) before its body is parsed, and an
//! interaction id is answered once.
//!
//! Discord's PING (when the owner saves the endpoint's URL in the developer
//! portal) is answered with a PONG. A press of a button and the slash
//! command are acknowledged in the response (deferred: the press's message
//! is edited, the command's answer written, by the channel once it has
//! handled them; see `answering`) and queued for the channel. Any other
//! kind is answered at once with a message only its sender sees: no turn
//! runs.

use std::sync::{Arc, Mutex};

use http::Method;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use super::answering::{self, Arrived, Via};
use super::interaction::{self, APPLICATION_COMMAND, MESSAGE_COMPONENT};
use crate::Platform;
use crate::verify::discord::{
    PublicKey, SIGNATURE_HEADER, TIMESTAMP_HEADER, parse_public_key, verify,
};
use crate::verify::{SeenIds, VerifyError};
use crate::webhook::{WebhookEndpoint, WebhookOutcome, WebhookRequest};

/// Interaction ids remembered against replays inside the freshness window.
const SEEN: usize = 4096;
/// `type` of a PING interaction, and of the PONG answering it.
const PING: u8 = interaction::PING;

#[derive(Deserialize)]
struct Header {
    id: String,
    #[serde(rename = "type")]
    kind: u8,
}

/// The `/hooks/discord` route.
#[derive(Debug)]
pub struct DiscordInteractions {
    key: PublicKey,
    seen: Mutex<SeenIds>,
    queue: mpsc::Sender<Arrived>,
}

impl DiscordInteractions {
    /// The endpoint checking requests against `public_key`
    /// (`[channels.discord] public_key`), queueing what it takes into
    /// `queue`, which the channel answers from.
    pub(super) fn feeding(
        public_key: &hardshell_config::DiscordPublicKey,
        queue: mpsc::Sender<Arrived>,
    ) -> Result<Arc<Self>, VerifyError> {
        Ok(Arc::new(Self {
            key: parse_public_key(&hex::encode(public_key.as_bytes()))?,
            seen: Mutex::new(SeenIds::new(SEEN)),
            queue,
        }))
    }

    /// Whether `id` is new; a poisoned set takes nothing.
    fn first_time(&self, id: &str) -> bool {
        match self.seen.lock() {
            Ok(mut seen) => seen.first_time(id),
            Err(_) => false,
        }
    }
}

impl WebhookEndpoint for DiscordInteractions {
    fn platform(&self) -> Platform {
        Platform::Discord
    }

    fn path(&self) -> &'static str {
        "/hooks/discord"
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::POST]
    }

    fn accepted_content_type(&self) -> &'static str {
        "application/json"
    }

    fn receive(&self, request: WebhookRequest<'_>) -> WebhookOutcome {
        let header = |name: &str| request.headers.get(name).map(|v| v.as_bytes());
        let verified = match verify(
            header(SIGNATURE_HEADER),
            header(TIMESTAMP_HEADER),
            request.body,
            &self.key,
            request.now,
        ) {
            Ok(verified) => verified,
            Err(e) => return WebhookOutcome::Rejected(e),
        };
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(verified.body()) else {
            return WebhookOutcome::Malformed;
        };
        let Ok(header) = serde_json::from_value::<Header>(value.clone()) else {
            return WebhookOutcome::Malformed;
        };
        let acknowledgement = match header.kind {
            PING => json!({ "type": PING }),
            MESSAGE_COMPONENT => answering::deferred_update(),
            APPLICATION_COMMAND => answering::deferred_command(),
            _ => {
                if !self.first_time(&header.id) {
                    return WebhookOutcome::Duplicate;
                }
                return accepted(&answering::ephemeral(answering::NOT_SUPPORTED));
            }
        };
        if header.kind == PING {
            if !self.first_time(&header.id) {
                return WebhookOutcome::Duplicate;
            }
            return accepted(&acknowledgement);
        }
        let Some(interaction) = interaction::from_value(value) else {
            return WebhookOutcome::Malformed;
        };
        // The slot first: an interaction that cannot be queued is not
        // remembered.
        let Ok(slot) = self.queue.try_reserve() else {
            tracing::warn!("discord: the interaction queue is full; one was refused");
            return WebhookOutcome::Busy;
        };
        if !self.first_time(&interaction.id) {
            return WebhookOutcome::Duplicate;
        }
        slot.send(Arrived {
            interaction,
            via: Via::Http,
        });
        accepted(&acknowledgement)
    }
}

fn accepted(answer: &serde_json::Value) -> WebhookOutcome {
    WebhookOutcome::Accepted {
        body: answer.to_string().into_bytes(),
    }
}

#[cfg(test)]
#[path = "interactions/tests.rs"]
mod tests;
