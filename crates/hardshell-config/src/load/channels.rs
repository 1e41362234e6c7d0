//! `[channels]`'s rules across keys: a channel talks to the built-in agent,
//! so it needs one; an enabled channel names every credential its transport
//! uses; and a credential its mode would not use is refused, so nobody
//! believes it protects anything.

use hardshell_vocabulary::Platform;

use crate::load::{ConfigError, LoadedConfig};
use crate::model::{SlackMode, TelegramMode};

impl LoadedConfig {
    pub(super) fn validate_channels(&self) -> Result<(), ConfigError> {
        let channels = &self.config.channels;
        let (telegram, slack) = (&channels.telegram, &channels.slack);
        if !(1..=crate::model::MAX_FILE_MB).contains(&channels.max_file_mb) {
            return Err(self.error_at(
                "channels.max_file_mb",
                format!(
                    "the largest file must be 1 to {} MiB (Telegram serves bots at most 20 MB)",
                    crate::model::MAX_FILE_MB
                ),
            ));
        }
        // Refused whether or not the channel is enabled, so `config check`
        // finds them before the day it is.
        if telegram.mode == TelegramMode::Polling && telegram.webhook_secret.is_some() {
            return Err(self.error_at(
                "channels.telegram.webhook_secret",
                "a webhook secret is used only with mode = \"webhook\"; in polling mode \
                 nothing checks it: drop it, or set the mode",
            ));
        }
        if slack.mode != SlackMode::Events && slack.signing_secret.is_some() {
            return Err(self.error_at(
                "channels.slack.signing_secret",
                "the signing secret is used only with mode = \"events\" (the Events API); \
                 Socket Mode is not signed: drop it, or set the mode",
            ));
        }
        if slack.mode == SlackMode::Events && slack.app_token.is_some() {
            return Err(self.error_at(
                "channels.slack.app_token",
                "the app-level token is used only by Socket Mode; with mode = \"events\" \
                 nothing uses it: drop it, or set mode = \"socket\"",
            ));
        }
        for platform in Platform::ALL {
            if channels.enabled(platform) {
                self.validate_enabled_channel(platform)?;
            }
        }
        Ok(())
    }

    fn validate_enabled_channel(&self, platform: Platform) -> Result<(), ConfigError> {
        if !self.config.agent_runs() {
            return Err(self.error_at(
                &format!("channels.{platform}.enabled"),
                "channels talk to the built-in agent, which does not run with this config \
                 ([agent] enabled = false, or [upstream] or [workload] runs another): \
                 turn the channel off, or run the built-in agent",
            ));
        }
        let channels = &self.config.channels;
        let required: Vec<(&str, bool, &str)> = match platform {
            Platform::Telegram => {
                let webhook = channels.telegram.mode == TelegramMode::Webhook;
                vec![
                    (
                        "token",
                        channels.telegram.token.is_some(),
                        "the bot's token",
                    ),
                    (
                        "webhook_secret",
                        !webhook || channels.telegram.webhook_secret.is_some(),
                        "in webhook mode, the secret Telegram must send with every \
                         delivery (a random string of 1 to 256 A-Z a-z 0-9 _ -)",
                    ),
                ]
            }
            Platform::Slack => {
                let events = channels.slack.mode == SlackMode::Events;
                vec![
                    (
                        "bot_token",
                        channels.slack.bot_token.is_some(),
                        "the bot token (xoxb-)",
                    ),
                    (
                        "app_token",
                        events || channels.slack.app_token.is_some(),
                        "in socket mode, the app-level token (xapp-) with connections:write",
                    ),
                    (
                        "signing_secret",
                        !events || channels.slack.signing_secret.is_some(),
                        "in events mode, the signing secret every delivery is checked with",
                    ),
                ]
            }
            Platform::Discord => {
                vec![("token", channels.discord.token.is_some(), "the bot's token")]
            }
            Platform::Whatsapp => {
                let whatsapp = &channels.whatsapp;
                vec![
                    (
                        "access_token",
                        whatsapp.access_token.is_some(),
                        "the Graph API access token",
                    ),
                    (
                        "app_secret",
                        whatsapp.app_secret.is_some(),
                        "the app secret: deliveries are taken only when signed with it",
                    ),
                    (
                        "verify_token",
                        whatsapp.verify_token.is_some(),
                        "the verify token of the webhook subscription's handshake",
                    ),
                    (
                        "phone_number_id",
                        whatsapp.phone_number_id.is_some(),
                        "the business number's id: deliveries for any other are refused",
                    ),
                ]
            }
        };
        for (field, present, what) in required {
            if !present {
                let reference = if field == "phone_number_id" {
                    String::new()
                } else {
                    " as a reference, e.g. \"secret:NAME\" after `hardshell secret put NAME`"
                        .to_owned()
                };
                return Err(self.error_at(
                    &format!("channels.{platform}.{field}"),
                    format!("an enabled {platform} channel needs {what}{reference}"),
                ));
            }
        }
        Ok(())
    }
}
