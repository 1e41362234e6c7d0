//! The gateway side of the channel: one twilight shard (identify,
//! heartbeats, resume and reconnects are twilight's), and what is taken from
//! it: a person's messages and the interactions (button presses, the slash
//! command), each once.

use twilight_gateway::{CloseFrame, ConfigBuilder, Intents, Shard, ShardId};
use url::Url;

use super::api::is_loopback;
use super::event;
use super::interaction::{self, Interaction};
use crate::dispatch::Inbound;
use crate::verify::SeenIds;

/// Message and interaction ids remembered against replays after a resume.
const SEEN: usize = 4096;

/// Guild messages, direct messages and their content; nothing else.
fn intents() -> Intents {
    Intents::GUILD_MESSAGES | Intents::DIRECT_MESSAGES | Intents::MESSAGE_CONTENT
}

/// A shard for the bot whose token is `token`, on Discord's own gateway,
/// or on `local` (an emulator's, already checked by [`local_gateway`]).
pub(super) fn shard(token: String, local: Option<&str>) -> Shard {
    let mut config = ConfigBuilder::new(token, intents());
    if let Some(url) = local {
        config = config.proxy_url(url.to_owned());
    }
    Shard::with_config(ShardId::ONE, config.build())
}

/// The base URL twilight is given for a local emulator's gateway, or `None`
/// if `url` is not ws(s) on a loopback host (the token goes wherever it
/// points). Twilight appends `/?v=10&encoding=json`; to a URL with a path
/// (crabline serves `/gateway`) that would add a `/` the server does not
/// serve, so the path is closed with `?`, making the suffix the query.
pub(super) fn local_gateway(url: &Url) -> Option<String> {
    if !matches!(url.scheme(), "ws" | "wss")
        || !is_loopback(url)
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return None;
    }
    let text = url.as_str().trim_end_matches('/');
    Some(if url.path() == "/" {
        text.to_owned()
    } else {
        format!("{text}?")
    })
}

/// What the gateway loop keeps between events: who the bot is, and the
/// messages already taken.
pub(super) struct Intake {
    bot: String,
    seen: SeenIds,
}

impl Intake {
    pub(super) fn new(bot: String) -> Self {
        Self {
            bot,
            seen: SeenIds::new(SEEN),
        }
    }

    /// The person's message or interaction in one gateway text, unless it
    /// was taken before (a resumed session may replay events).
    pub(super) fn take(&mut self, text: &str) -> Option<Taken> {
        let (id, taken) = if let Some(message) = event::message_create(text) {
            let inbound = message.inbound(&self.bot)?;
            (message.id, Taken::Message(inbound))
        } else {
            let interaction = interaction::from_gateway(text)?;
            (interaction.id.clone(), Taken::Interaction(interaction))
        };
        if !self.seen.first_time(&id) {
            tracing::debug!(%id, "discord: event seen before, dropped");
            return None;
        }
        Some(taken)
    }
}

/// What one gateway event gave.
#[derive(Debug)]
pub(super) enum Taken {
    Message(Inbound),
    Interaction(Interaction),
}

/// Says what a gateway close means and, for the ones twilight does not
/// reconnect after, what the owner must fix.
pub(super) fn report_close(frame: Option<&CloseFrame<'_>>) {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_replayed_message_is_taken_once() {
        let mut intake = Intake::new("135000000000000001".into());
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
    fn a_replayed_interaction_is_taken_once() {
        let mut intake = Intake::new("135000000000000001".into());
        let event = serde_json::json!({"op": 0, "s": 4, "t": "INTERACTION_CREATE", "d": {
            "id": "135000000000000700", "application_id": "135000000000000001",
            "type": 3, "token": "aW50ZXJhY3Rpb24", "channel_id": "135000000000000020",
            "user": {"id": "135000000000000555"},
            "data": {"custom_id": "x:a1:1", "component_type": 2},
        }})
        .to_string();
        assert!(matches!(intake.take(&event), Some(Taken::Interaction(_))));
        assert!(intake.take(&event).is_none());
    }

    #[test]
    fn a_local_gateway_must_be_loopback_websocket() {
        let url = |s: &str| local_gateway(&Url::parse(s).unwrap());
        assert_eq!(
            url("ws://127.0.0.1:5/gateway").as_deref(),
            Some("ws://127.0.0.1:5/gateway?")
        );
        assert_eq!(
            url("ws://127.0.0.1:5/").as_deref(),
            Some("ws://127.0.0.1:5")
        );
        for bad in [
            "ws://gateway.example:5/gateway",
            "wss://gateway.discord.gg",
            "http://127.0.0.1:5/gateway",
            "ws://127.0.0.1:5/gateway?v=9",
            "ws://u@127.0.0.1:5/gateway",
        ] {
            assert!(url(bad).is_none(), "{bad}");
        }
    }
}
