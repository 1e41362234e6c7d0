//! Discord interactions over HTTP (discord.com/developers/docs/interactions/
//! receiving-and-responding), taken only when `[channels.discord]` names the
//! application's public key: every request is checked against it
//! ([`crate::verify::discord`]) before its body is parsed, and an
//! interaction id is answered once.
//!
//! The channel registers no commands and sends no buttons, so the only
//! interaction expected is Discord's PING, when the owner saves the
//! endpoint's URL in the developer portal; it is answered with a PONG. Any
//! other kind is answered at once with a message only its sender sees,
//! saying that the assistant reads messages, not commands: no turn runs.

use std::sync::{Arc, Mutex};

use http::Method;
use serde::Deserialize;
use serde_json::json;

use crate::Platform;
use crate::verify::discord::{
    PublicKey, SIGNATURE_HEADER, TIMESTAMP_HEADER, parse_public_key, verify,
};
use crate::verify::{SeenIds, VerifyError};
use crate::webhook::{WebhookEndpoint, WebhookOutcome, WebhookRequest};

/// Interaction ids remembered against replays inside the freshness window.
const SEEN: usize = 4096;
/// `type` of a PING interaction, and of the PONG answering it.
const PING: u8 = 1;
/// `CHANNEL_MESSAGE_WITH_SOURCE`, with the EPHEMERAL flag (1 << 6).
const MESSAGE: u8 = 4;
const EPHEMERAL: u32 = 1 << 6;
const NOT_SUPPORTED: &str = "This assistant reads messages, not commands: write to it instead.";

#[derive(Deserialize)]
struct Interaction {
    id: String,
    #[serde(rename = "type")]
    kind: u8,
}

/// The `/hooks/discord` route.
#[derive(Debug)]
pub struct DiscordInteractions {
    key: PublicKey,
    seen: Mutex<SeenIds>,
}

/// The `/hooks/discord` route when `[channels.discord] public_key` is set;
/// `None` without one (interactions are then not taken at all).
pub fn endpoint(
    config: &hardshell_config::Discord,
) -> Result<Option<Arc<dyn WebhookEndpoint>>, VerifyError> {
    match &config.public_key {
        Some(key) => Ok(Some(Arc::new(DiscordInteractions::new(key)?))),
        None => Ok(None),
    }
}

impl DiscordInteractions {
    /// `public_key` is `[channels.discord] public_key`.
    pub fn new(public_key: &hardshell_config::DiscordPublicKey) -> Result<Self, VerifyError> {
        Ok(Self {
            key: parse_public_key(&hex::encode(public_key.as_bytes()))?,
            seen: Mutex::new(SeenIds::new(SEEN)),
        })
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
        let Ok(interaction) = serde_json::from_slice::<Interaction>(verified.body()) else {
            return WebhookOutcome::Malformed;
        };
        let first = match self.seen.lock() {
            Ok(mut seen) => seen.first_time(&interaction.id),
            Err(_) => false,
        };
        if !first {
            return WebhookOutcome::Duplicate;
        }
        let answer = if interaction.kind == PING {
            json!({ "type": PING })
        } else {
            json!({ "type": MESSAGE, "data": { "content": NOT_SUPPORTED, "flags": EPHEMERAL } })
        };
        WebhookOutcome::Accepted {
            body: answer.to_string().into_bytes(),
        }
    }
}

#[cfg(test)]
#[path = "interactions/tests.rs"]
mod tests;
