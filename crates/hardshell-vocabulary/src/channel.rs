//! Chat channels' values: the platforms, a sender by the platform's immutable
//! id (never a name, which its holder can change to anyone's: a Telegram
//! username, a Slack display name, a Discord nickname), and the role a paired
//! sender is given. An id is parsed once, where it enters (the config, a
//! platform's event, the CLI), and kept as its platform's grammar allows.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The chat platforms hardshell's agent can be reached on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// Telegram's Bot API.
    Telegram,
    /// Slack, as an app in one workspace.
    Slack,
    /// Discord, as a bot user.
    Discord,
    /// WhatsApp, through the WhatsApp Business Cloud API.
    Whatsapp,
}

impl Platform {
    /// Every platform, in a fixed order.
    pub const ALL: [Platform; 4] = [
        Platform::Telegram,
        Platform::Slack,
        Platform::Discord,
        Platform::Whatsapp,
    ];

    /// The platform's name as the config, the CLI and records write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Telegram => "telegram",
            Platform::Slack => "slack",
            Platform::Discord => "discord",
            Platform::Whatsapp => "whatsapp",
        }
    }

    /// A platform by its name.
    pub fn parse(name: &str) -> Result<Self, IdentityError> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| IdentityError::UnknownPlatform(name.chars().take(32).collect()))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A platform name or a sender id that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Not a platform's name.
    #[error("unknown platform {0:?} (telegram, slack, discord or whatsapp)")]
    UnknownPlatform(String),
    /// Not an id of the platform's grammar.
    #[error("{platform} sender id {id:?} is not one: {expected}")]
    BadSender {
        /// The platform whose grammar it failed.
        platform: Platform,
        /// The id, cut to 64 characters.
        id: String,
        /// What the platform's ids look like.
        expected: &'static str,
    },
}

/// A sender's id on its platform, checked against the platform's grammar:
/// Telegram's positive user id, Slack's `TEAM:USER` (a user id is unique only
/// within its workspace), Discord's snowflake, WhatsApp's `wa_id` (digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "Wire", into = "Wire")]
pub struct Sender {
    platform: Platform,
    id: String,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    platform: Platform,
    id: String,
}

impl TryFrom<Wire> for Sender {
    type Error = IdentityError;
    fn try_from(wire: Wire) -> Result<Self, Self::Error> {
        Sender::parse(wire.platform, &wire.id)
    }
}

impl From<Sender> for Wire {
    fn from(sender: Sender) -> Self {
        Wire {
            platform: sender.platform,
            id: sender.id,
        }
    }
}

impl Sender {
    /// A sender on `platform` by its id.
    pub fn parse(platform: Platform, id: &str) -> Result<Self, IdentityError> {
        let (ok, expected) = match platform {
            // Bot API ids fit in 52 bits; user ids are positive (a negative id
            // is a group or channel, which is never a sender).
            Platform::Telegram => (
                id.parse::<u64>()
                    .is_ok_and(|n| (1..1 << 52).contains(&n) && id == n.to_string()),
                "a positive Telegram user id",
            ),
            Platform::Slack => (
                id.split_once(':').is_some_and(|(team, user)| {
                    slack_id(team, &['T', 'E']) && slack_id(user, &['U', 'W'])
                }),
                "TEAM:USER, e.g. T0123ABCD:U0123ABCD",
            ),
            Platform::Discord => (
                id.parse::<u64>()
                    .is_ok_and(|n| n > 0 && id == n.to_string()),
                "a Discord user id (a snowflake)",
            ),
            Platform::Whatsapp => (
                (5..=20).contains(&id.len())
                    && id.bytes().all(|b| b.is_ascii_digit())
                    && !id.starts_with('0'),
                "a WhatsApp wa_id (the number's digits, no +)",
            ),
        };
        if !ok {
            return Err(IdentityError::BadSender {
                platform,
                id: id.chars().take(64).collect(),
                expected,
            });
        }
        Ok(Sender {
            platform,
            id: id.to_owned(),
        })
    }

    /// The sender's platform.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The sender's id on its platform.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The principal subject of a sender paired as a guest:
    /// `telegram:12345`. Never `owner`, which no platform id can spell.
    pub fn subject(&self) -> String {
        format!("{}:{}", self.platform, self.id)
    }
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform, self.id)
    }
}

/// What a paired sender is to hardshell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelRole {
    /// One of the owner's own accounts: it is the owner principal, so its
    /// sessions and memory are the owner's, whichever platform it writes from.
    Owner,
    /// Someone the owner lets talk to the agent: a principal of its own
    /// (`telegram:12345`), with sessions of its own and no administration.
    Guest,
}

impl ChannelRole {
    /// The role as the CLI and records write it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelRole::Owner => "owner",
            ChannelRole::Guest => "guest",
        }
    }
}

/// A Slack id: a kind letter, then 2–20 upper-case letters and digits.
fn slack_id(id: &str, kinds: &[char]) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|first| kinds.contains(&first))
        && (3..=21).contains(&id.len())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_platform_takes_its_own_ids_only() {
        for (platform, good) in [
            (Platform::Telegram, "123456789"),
            (Platform::Slack, "T0123ABCD:U0123ABCD"),
            (Platform::Discord, "80351110224678912"),
            (Platform::Whatsapp, "15551234567"),
        ] {
            let sender = Sender::parse(platform, good).unwrap();
            assert_eq!(sender.subject(), format!("{platform}:{good}"));
        }
        for (platform, bad) in [
            (Platform::Telegram, "-100123"),
            (Platform::Telegram, "0"),
            (Platform::Telegram, "0123"),
            (Platform::Telegram, "@alice"),
            (Platform::Telegram, "*"),
            (Platform::Slack, "U0123ABCD"),
            (Platform::Slack, "T0123ABCD:alice"),
            (Platform::Slack, "t0123abcd:u0123abcd"),
            (Platform::Discord, "alice#0001"),
            (Platform::Discord, "-1"),
            (Platform::Whatsapp, "+15551234567"),
            (Platform::Whatsapp, "1555"),
            (Platform::Whatsapp, "*"),
        ] {
            assert!(Sender::parse(platform, bad).is_err(), "{platform} {bad}");
        }
    }

    #[test]
    fn a_stored_sender_is_checked_again_when_read() {
        let read: Result<Sender, _> =
            serde_json::from_str(r#"{"platform":"telegram","id":"owner"}"#);
        assert!(read.is_err());
        let read: Sender = serde_json::from_str(r#"{"platform":"discord","id":"42"}"#).unwrap();
        assert_eq!(read.to_string(), "discord:42");
        assert!(Platform::parse("irc").is_err());
    }
}
