//! The ids `[channels]` names things by, each parsed once where the config
//! is read: senders by their platform's immutable id (never a name, which its
//! holder can change to anyone's), groups and channels by theirs, Discord's
//! public key, WhatsApp's number. Every id is written as a string, Telegram's
//! negative group ids included, so one rule covers every list; a `*` in any
//! of them is refused, since a wildcard would quietly turn pairing off.

use std::fmt;

use hardshell_vocabulary::{Platform, Sender};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Entries one list may hold: far more than one owner's contacts, and a
/// bound on what a platform event is compared against.
pub const MAX_CHANNEL_IDS: usize = 1000;

/// The Ed25519 public key of a Discord application (its "Public Key" in the
/// developer portal, 64 hex digits): what signs its HTTP interactions. Public,
/// not a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscordPublicKey([u8; 32]);

impl DiscordPublicKey {
    /// The key from its 64 hex digits.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a public key: 64 hex digits (32 bytes)");
        if text.len() != 64 || !text.is_ascii() {
            return Err(bad());
        }
        let mut key = [0; 32];
        for (byte, pair) in key.iter_mut().zip(text.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Self(key))
    }

    /// The key's 32 bytes, as Ed25519 verification takes them.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl<'de> Deserialize<'de> for DiscordPublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DiscordPublicKey::parse(&String::deserialize(d)?).map_err(D::Error::custom)
    }
}

impl Serialize for DiscordPublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hex: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
        s.serialize_str(&hex)
    }
}

/// The name of the Discord slash command the bot registers (`/hardshell`
/// by default): 1 to 32 of lowercase `a-z`, `0-9`, `-` and `_`, the subset
/// of Discord's grammar that every client shows the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscordCommand(String);

impl DiscordCommand {
    /// The name, checked against the grammar above.
    pub fn parse(text: &str) -> Result<Self, String> {
        let valid = (1..=32).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "{text:?} is not a slash command name: 1-32 of a-z 0-9 - _"
            ))
        }
    }

    /// The name, as Discord is told it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for DiscordCommand {
    fn default() -> Self {
        Self("hardshell".to_owned())
    }
}

impl<'de> Deserialize<'de> for DiscordCommand {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DiscordCommand::parse(&String::deserialize(d)?).map_err(D::Error::custom)
    }
}

impl Serialize for DiscordCommand {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A Slack conversation id: a public (`C…`) or private (`G…`) channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlackChannel(String);

impl SlackChannel {
    /// The channel by its id, e.g. `C0123ABCD`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut chars = text.chars();
        let valid = matches!(chars.next(), Some('C' | 'G'))
            && (3..=21).contains(&text.len())
            && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "{:?} is not a Slack channel id (C… or G…, upper-case letters and digits; \
                 not its #name, which can be renamed)",
                cut(text)
            ))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SlackChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A WhatsApp Business phone number's id in the Graph API (digits; not the
/// phone number itself): where messages are sent from, and what every
/// delivery to the webhook must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumberId(String);

impl PhoneNumberId {
    /// The id, 1 to 32 digits.
    pub fn parse(text: &str) -> Result<Self, String> {
        if (1..=32).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "{:?} is not a phone number id: the digits Meta's app dashboard shows as \
                 \"Phone number ID\"",
                cut(text)
            ))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for PhoneNumberId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PhoneNumberId::parse(&String::deserialize(d)?).map_err(D::Error::custom)
    }
}

impl Serialize for PhoneNumberId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// The name of a Slack app's slash command, as the app's settings give it:
/// `/`, then 1 to 31 of lower-case letters, digits, `-` and `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlashCommand(String);

impl SlashCommand {
    /// The command, e.g. `/hardshell`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let valid = text.strip_prefix('/').is_some_and(|name| {
            (1..=31).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        });
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "{:?} is not a slash command: `/` and 1 to 31 of a-z 0-9 - _, as the Slack \
                 app's \"Slash Commands\" page names it",
                cut(text)
            ))
        }
    }

    /// The command, with its slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for SlashCommand {
    fn default() -> Self {
        Self("/hardshell".to_owned())
    }
}

impl<'de> Deserialize<'de> for SlashCommand {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        SlashCommand::parse(&String::deserialize(d)?).map_err(D::Error::custom)
    }
}

impl Serialize for SlashCommand {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A list of ids: each a string, none a wildcard, none twice, at most
/// [`MAX_CHANNEL_IDS`], each parsed by `parse`.
fn list<'de, D, T>(d: D, parse: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: PartialEq,
{
    let items = Vec::<toml::Value>::deserialize(d)?;
    if items.len() > MAX_CHANNEL_IDS {
        return Err(D::Error::custom(format!("at most {MAX_CHANNEL_IDS} ids")));
    }
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let text = match item {
            toml::Value::String(text) => text,
            toml::Value::Integer(n) => {
                return Err(D::Error::custom(format!(
                    "write each id as a string: \"{n}\""
                )));
            }
            other => {
                return Err(D::Error::custom(format!(
                    "expected an id as a string, found a {}",
                    other.type_str()
                )));
            }
        };
        if text.contains('*') {
            return Err(D::Error::custom(format!(
                "{:?}: a \"*\" is not an id, and pairing is never turned off by a \
                 wildcard. Leave the list empty to let anyone ask for a pairing code (the \
                 owner still approves each one), or list the ids",
                cut(&text)
            )));
        }
        let id = parse(&text).map_err(D::Error::custom)?;
        if ids.contains(&id) {
            return Err(D::Error::custom(format!(
                "{:?} is listed twice",
                cut(&text)
            )));
        }
        ids.push(id);
    }
    Ok(ids)
}

fn senders<'de, D: Deserializer<'de>>(d: D, platform: Platform) -> Result<Vec<Sender>, D::Error> {
    list(d, |text| {
        Sender::parse(platform, text).map_err(|e| e.to_string())
    })
}

pub(super) fn telegram_senders<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Sender>, D::Error> {
    senders(d, Platform::Telegram)
}

pub(super) fn slack_senders<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Sender>, D::Error> {
    senders(d, Platform::Slack)
}

pub(super) fn discord_senders<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Sender>, D::Error> {
    senders(d, Platform::Discord)
}

pub(super) fn whatsapp_senders<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Sender>, D::Error> {
    senders(d, Platform::Whatsapp)
}

/// Telegram group chats: negative ids (`-1001234567890` for a supergroup),
/// as the Bot API's `chat.id` holds them, within its 52 bits.
pub(super) fn telegram_groups<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    list(d, |text| {
        text.parse::<i64>()
            .ok()
            .filter(|&n| (-(1 << 52)..0).contains(&n) && text == n.to_string())
            .ok_or_else(|| {
                format!(
                    "{:?} is not a Telegram group id: a negative number, e.g. \
                     \"-1001234567890\" (a user's positive id belongs in allow)",
                    cut(text)
                )
            })
    })
}

pub(super) fn slack_channels<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<SlackChannel>, D::Error> {
    list(d, SlackChannel::parse)
}

/// Discord channels by their snowflake.
pub(super) fn discord_channels<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    list(d, |text| {
        text.parse::<u64>()
            .ok()
            .filter(|&n| n > 0 && text == n.to_string())
            .ok_or_else(|| format!("{:?} is not a Discord channel id (a snowflake)", cut(text)))
    })
}

/// The hosts Discord's attachments are fetched from: host names (lowercase
/// letters, digits, `-` and `.`) or IP literals, each exact; no wildcard.
pub(super) fn discord_cdn_hosts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    list(d, |text| {
        let name = !text.is_empty()
            && text.len() <= 253
            && !text.starts_with(['.', '-'])
            && !text.ends_with('.')
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b));
        if name || text.parse::<std::net::IpAddr>().is_ok() {
            Ok(text.to_owned())
        } else {
            Err(format!(
                "{:?} is not a host name (lowercase, no wildcard) or an IP address",
                cut(text)
            ))
        }
    })
}

/// Senders written back as the config writes them: their ids alone.
pub(super) fn write_senders<S: Serializer>(senders: &[Sender], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(senders.iter().map(Sender::id))
}

/// Ids written back as strings.
pub(super) fn write_ids<S: Serializer, T: fmt::Display>(
    ids: &[T],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(ids.iter().map(ToString::to_string))
}

/// An id as an error message may quote it: short, so a pasted secret is
/// not repeated whole.
fn cut(text: &str) -> String {
    text.chars().take(32).collect()
}
