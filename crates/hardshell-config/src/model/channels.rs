//! `[channels]`: the built-in agent on chat platforms. Adapters run in the
//! edge; every sender is someone the owner paired, named by the platform's
//! immutable id; tokens and signing secrets are references into the secret
//! store. What each platform may deliver, and to where, is decided here.

use hardshell_vocabulary::{Platform, Sender};
use serde::{Deserialize, Serialize};

use crate::secret_ref::SecretRef;

mod api_root;
mod ids;

pub use api_root::ApiRoot;
pub use ids::{
    DiscordCommand, DiscordPublicKey, MAX_CHANNEL_IDS, PhoneNumberId, SlackChannel, SlashCommand,
};

/// `[channels]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Channels {
    /// What a sender nobody paired gets back.
    pub unpaired: Unpaired,
    /// The largest file, in MiB, a sender may attach (it is saved in the
    /// conversation's workspace) or the agent may send into a chat;
    /// 1 to [`MAX_FILE_MB`].
    pub max_file_mb: u32,
    /// `[channels.telegram]`.
    pub telegram: Telegram,
    /// `[channels.slack]`.
    pub slack: Slack,
    /// `[channels.discord]`.
    pub discord: Discord,
    /// `[channels.whatsapp]`.
    pub whatsapp: Whatsapp,
}

/// The most `max_file_mb` may be: Telegram's Bot API serves bots files of
/// at most 20 MB, and a file is held in memory while it passes through.
pub const MAX_FILE_MB: u32 = 20;

impl Default for Channels {
    fn default() -> Self {
        Self {
            unpaired: Unpaired::default(),
            max_file_mb: 10,
            telegram: Telegram::default(),
            slack: Slack::default(),
            discord: Discord::default(),
            whatsapp: Whatsapp::default(),
        }
    }
}

impl Channels {
    /// `max_file_mb` in bytes.
    pub fn max_file_bytes(&self) -> u64 {
        u64::from(self.max_file_mb) << 20
    }
}

/// The answer to a message from a sender nobody paired. Neither answer says
/// anything about the owner, and neither reaches the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Unpaired {
    /// A short-lived pairing code, for the owner to approve with
    /// `hardshell pair approve CODE`.
    #[default]
    Code,
    /// No answer at all: the bot looks dead to strangers, and no request is
    /// kept. The owner pairs a sender by its id (`hardshell pair add`).
    Silent,
}

/// How Telegram's updates reach the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TelegramMode {
    /// The edge asks (`getUpdates`): outbound only, no route to expose.
    #[default]
    Polling,
    /// Telegram posts to the edge's webhook route, which checks its secret token.
    Webhook,
}

/// `[channels.telegram]`: a bot of the Telegram Bot API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Telegram {
    /// Whether the adapter runs; see [`crate::Config::channel_runs`].
    pub enabled: bool,
    /// The bot's token from @BotFather, as a reference. Required when enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretRef>,
    /// The Bot API's root.
    pub api_root: ApiRoot,
    /// Polling (the default) or a webhook.
    pub mode: TelegramMode,
    /// The secret Telegram sends back in `X-Telegram-Bot-Api-Secret-Token`:
    /// required in webhook mode, refused in polling mode (where nothing
    /// would check it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<SecretRef>,
    /// The users (positive ids) who may ask for a pairing code; empty: anyone.
    #[serde(
        deserialize_with = "ids::telegram_senders",
        serialize_with = "ids::write_senders"
    )]
    pub allow: Vec<Sender>,
    /// Group chats (negative ids) where the bot answers paired senders who
    /// mention it; none by default.
    #[serde(
        deserialize_with = "ids::telegram_groups",
        serialize_with = "ids::write_ids"
    )]
    pub groups: Vec<i64>,
}

/// How Slack's events reach the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SlackMode {
    /// Socket Mode: a WebSocket the edge opens with the app-level token.
    #[default]
    Socket,
    /// The Events API: Slack posts to the edge's webhook route, signed with
    /// the signing secret.
    Events,
}

/// `[channels.slack]`: a Slack app in one workspace.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Slack {
    /// Whether the adapter runs.
    pub enabled: bool,
    /// The bot token (`xoxb-…`), as a reference. Required when enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<SecretRef>,
    /// The app-level token (`xapp-…`) Socket Mode connects with: required in
    /// socket mode, refused in events mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_token: Option<SecretRef>,
    /// Socket Mode (the default) or the Events API.
    pub mode: SlackMode,
    /// The signing secret of Events API deliveries: required in events mode,
    /// refused in socket mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<SecretRef>,
    /// The Web API's root.
    pub api_root: ApiRoot,
    /// The users (`TEAM:USER`) who may ask for a pairing code; empty: anyone.
    #[serde(
        deserialize_with = "ids::slack_senders",
        serialize_with = "ids::write_senders"
    )]
    pub allow: Vec<Sender>,
    /// Channels (`C…`, `G…`) where the bot answers paired senders who
    /// mention it; none by default.
    #[serde(
        deserialize_with = "ids::slack_channels",
        serialize_with = "ids::write_ids"
    )]
    pub channels: Vec<SlackChannel>,
    /// The app's slash command (`/hardshell` by default): with no text, or
    /// `new`, it starts a new conversation; with text, it is a message.
    pub command: SlashCommand,
}

/// `[channels.discord]`: a Discord bot user, on the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Discord {
    /// Whether the adapter runs.
    pub enabled: bool,
    /// The bot's token, as a reference. Required when enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretRef>,
    /// The REST API's root.
    pub api_root: ApiRoot,
    /// The application's public key: when set, interactions (buttons, slash
    /// commands) are taken over HTTP too, each checked against it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<DiscordPublicKey>,
    /// The slash command the bot registers at start (`/hardshell`): its one
    /// `text` option is a message to the agent, empty or `new` starts a new
    /// conversation.
    pub command: DiscordCommand,
    /// The users (snowflakes) who may ask for a pairing code; empty: anyone.
    #[serde(
        deserialize_with = "ids::discord_senders",
        serialize_with = "ids::write_senders"
    )]
    pub allow: Vec<Sender>,
    /// Guild channels (snowflakes) where the bot answers paired senders who
    /// mention it; none by default.
    #[serde(
        deserialize_with = "ids::discord_channels",
        serialize_with = "ids::write_ids"
    )]
    pub channels: Vec<u64>,
    /// The hosts attachments are fetched from (Discord's CDN); an
    /// attachment anywhere else is refused. No token is sent to them.
    #[serde(deserialize_with = "ids::discord_cdn_hosts")]
    pub cdn_hosts: Vec<String>,
}

/// `[channels.whatsapp]`: a number of the WhatsApp Business Cloud API, whose
/// messages arrive only at the edge's webhook route.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Whatsapp {
    /// Whether the adapter runs.
    pub enabled: bool,
    /// The Graph API access token, as a reference. Required when enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<SecretRef>,
    /// The Meta app's secret, which signs every delivery
    /// (`X-Hub-Signature-256`). Required when enabled: unsigned deliveries
    /// are never taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_secret: Option<SecretRef>,
    /// The token Meta echoes in the subscription handshake. Required when enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_token: Option<SecretRef>,
    /// The business number's id; deliveries for any other are refused.
    /// Required when enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<PhoneNumberId>,
    /// The Graph API's root, with its version.
    pub api_root: ApiRoot,
    /// The users (`wa_id`s) who may ask for a pairing code; empty: anyone.
    #[serde(
        deserialize_with = "ids::whatsapp_senders",
        serialize_with = "ids::write_senders"
    )]
    pub allow: Vec<Sender>,
}

impl Default for Telegram {
    fn default() -> Self {
        Self {
            enabled: false,
            token: None,
            api_root: ApiRoot::official(Platform::Telegram),
            mode: TelegramMode::Polling,
            webhook_secret: None,
            allow: Vec::new(),
            groups: Vec::new(),
        }
    }
}

impl Default for Slack {
    fn default() -> Self {
        Self {
            enabled: false,
            bot_token: None,
            app_token: None,
            mode: SlackMode::Socket,
            signing_secret: None,
            api_root: ApiRoot::official(Platform::Slack),
            allow: Vec::new(),
            channels: Vec::new(),
            command: SlashCommand::default(),
        }
    }
}

impl Default for Discord {
    fn default() -> Self {
        Self {
            enabled: false,
            token: None,
            api_root: ApiRoot::official(Platform::Discord),
            public_key: None,
            command: DiscordCommand::default(),
            allow: Vec::new(),
            channels: Vec::new(),
            cdn_hosts: vec![
                "cdn.discordapp.com".to_owned(),
                "media.discordapp.net".to_owned(),
            ],
        }
    }
}

impl Default for Whatsapp {
    fn default() -> Self {
        Self {
            enabled: false,
            access_token: None,
            app_secret: None,
            verify_token: None,
            phone_number_id: None,
            api_root: ApiRoot::official(Platform::Whatsapp),
            allow: Vec::new(),
        }
    }
}

impl Channels {
    /// `[channels.<platform>] enabled`. Whether the adapter runs is
    /// [`crate::Config::channel_runs`]'s to say.
    pub fn enabled(&self, platform: Platform) -> bool {
        match platform {
            Platform::Telegram => self.telegram.enabled,
            Platform::Slack => self.slack.enabled,
            Platform::Discord => self.discord.enabled,
            Platform::Whatsapp => self.whatsapp.enabled,
        }
    }

    /// Whether the platform delivers to a webhook route of the edge (beside,
    /// for Discord, its gateway): Telegram in webhook mode, Slack's Events
    /// API, Discord's interactions when a public key is set, WhatsApp always.
    pub fn takes_webhooks(&self, platform: Platform) -> bool {
        match platform {
            Platform::Telegram => self.telegram.mode == TelegramMode::Webhook,
            Platform::Slack => self.slack.mode == SlackMode::Events,
            Platform::Discord => self.discord.public_key.is_some(),
            Platform::Whatsapp => true,
        }
    }

    /// The platform's `allow`: the senders who may ask for a pairing code,
    /// everyone when empty.
    pub fn allow(&self, platform: Platform) -> &[Sender] {
        match platform {
            Platform::Telegram => &self.telegram.allow,
            Platform::Slack => &self.slack.allow,
            Platform::Discord => &self.discord.allow,
            Platform::Whatsapp => &self.whatsapp.allow,
        }
    }

    /// The platform's `api_root`.
    pub fn api_root(&self, platform: Platform) -> &ApiRoot {
        match platform {
            Platform::Telegram => &self.telegram.api_root,
            Platform::Slack => &self.slack.api_root,
            Platform::Discord => &self.discord.api_root,
            Platform::Whatsapp => &self.whatsapp.api_root,
        }
    }

    /// `(key, consequence)` for each enabled channel whose token goes to
    /// another host than its platform's own, for the start-up warnings: a
    /// mistyped or planted `api_root` hands that host the bot.
    pub fn warnings(&self) -> Vec<(&'static str, &'static str)> {
        let mut on = Vec::new();
        for (platform, key, consequence) in [
            (
                Platform::Telegram,
                "channels.telegram.api_root",
                "the Telegram bot token is sent to a host other than api.telegram.org",
            ),
            (
                Platform::Slack,
                "channels.slack.api_root",
                "the Slack tokens are sent to a host other than slack.com",
            ),
            (
                Platform::Discord,
                "channels.discord.api_root",
                "the Discord bot token is sent to a host other than discord.com",
            ),
            (
                Platform::Whatsapp,
                "channels.whatsapp.api_root",
                "the WhatsApp access token is sent to a host other than graph.facebook.com",
            ),
        ] {
            if self.enabled(platform)
                && self.api_root(platform).host() != ApiRoot::official(platform).host()
            {
                on.push((key, consequence));
            }
        }
        on
    }
}
