//! An interaction (discord.com/developers/docs/interactions/
//! receiving-and-responding): a press of a question's button or the slash
//! command, parsed from the gateway's `INTERACTION_CREATE` or a verified
//! HTTP body into only the fields the channel reads. Every id is checked to
//! be a snowflake before it goes in a path; the token is a secret (it lets
//! anyone answer as the bot for 15 minutes) and never shows in a log, an
//! error or `Debug`.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroizing;

use super::api::is_snowflake;
use super::event::MAX_TEXT_CHARS;
use crate::dispatch::Place;
use crate::{Platform, Sender};

/// `type` of a PING.
pub const PING: u8 = 1;
/// `type` of a slash command.
pub const APPLICATION_COMMAND: u8 = 2;
/// `type` of a press of a message component.
pub const MESSAGE_COMPONENT: u8 = 3;
/// `data.component_type` of a button.
const BUTTON: u8 = 2;
/// `type` of a command's string option.
const STRING_OPTION: u8 = 3;
/// The command's one option.
pub const TEXT_OPTION: &str = "text";
/// Longest `custom_id` Discord allows.
const MAX_CUSTOM_ID: usize = 100;
/// Longest message Discord shows; the question a press carries is ours.
pub const MAX_CONTENT_CHARS: usize = 2000;

/// An interaction's token: lets whoever holds it answer the interaction as
/// the bot for 15 minutes, so it is kept like a credential.
pub struct InteractionToken(Zeroizing<String>);

impl InteractionToken {
    /// The token, if it is of the form Discord issues (base64url-ish text;
    /// also what makes it a safe path segment).
    fn parse(text: &str) -> Option<Self> {
        let valid = (1..=512).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        valid.then(|| Self(Zeroizing::new(text.to_owned())))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for InteractionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InteractionToken(<redacted>)")
    }
}

/// A press or a command, from a person in a channel.
#[derive(Debug)]
pub struct Interaction {
    pub id: String,
    /// The application it was sent to, which the follow-up calls name.
    pub application: String,
    pub token: InteractionToken,
    pub channel: String,
    /// Direct when there is no guild; a guild channel otherwise.
    pub in_guild: bool,
    /// Who pressed or typed: `member.user.id` in a guild, `user.id` in a
    /// direct chat, immutable snowflakes. `None` for a bot.
    pub user: Option<Sender>,
    pub kind: Kind,
}

/// What the interaction asks.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    /// A button's `custom_id`, and the text of the message it sits on
    /// (the bot's question), cut to what a message holds.
    Press { data: String, question: String },
    /// A slash command: its name and its `text` option (empty when left
    /// out).
    Command { name: String, text: String },
    /// Anything else (a select menu, autocomplete, a modal): not read.
    Other,
}

impl Interaction {
    /// Where it was written, as the dispatch reads a press.
    pub fn press_place(&self) -> Place {
        if self.in_guild {
            Place::Group { mentioned: false }
        } else {
            Place::Direct
        }
    }
}

#[derive(Deserialize)]
struct Frame {
    op: u8,
    #[serde(default)]
    t: Option<String>,
    #[serde(default)]
    d: Option<Value>,
}

#[derive(Deserialize)]
struct Raw {
    id: String,
    application_id: String,
    #[serde(rename = "type")]
    kind: u8,
    token: String,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    guild_id: Option<String>,
    #[serde(default)]
    member: Option<Member>,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Member {
    user: User,
}

#[derive(Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    bot: bool,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    custom_id: Option<String>,
    #[serde(default)]
    component_type: Option<u8>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    options: Vec<CommandOption>,
}

#[derive(Deserialize)]
struct CommandOption {
    name: String,
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    value: Option<Value>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: String,
}

/// The `INTERACTION_CREATE` in one gateway text, if it is one.
pub fn from_gateway(text: &str) -> Option<Interaction> {
    if text.len() > super::event::MAX_EVENT_BYTES {
        return None;
    }
    let frame: Frame = serde_json::from_str(text).ok()?;
    if frame.op != 0 || frame.t.as_deref() != Some("INTERACTION_CREATE") {
        return None;
    }
    from_value(frame.d?)
}

/// An interaction from its JSON; `None` for a PING (which has no channel
/// or person) and for anything that is not what Discord sends.
pub fn from_value(value: Value) -> Option<Interaction> {
    let raw: Raw = match serde_json::from_value(value) {
        Ok(raw) => raw,
        Err(_) => {
            // Not serde's message: it can quote a person's text.
            tracing::warn!("discord: unreadable interaction ignored");
            return None;
        }
    };
    let channel = raw.channel_id?;
    if ![&raw.id, &raw.application_id, &channel]
        .iter()
        .all(|id| is_snowflake(id))
        || raw.guild_id.as_deref().is_some_and(|g| !is_snowflake(g))
    {
        return None;
    }
    let token = InteractionToken::parse(&raw.token)?;
    // In a guild the person is the member's user; `user` is only sent in
    // direct chats. Reading the other one's would let a payload choose.
    let person = match &raw.guild_id {
        Some(_) => raw.member.map(|m| m.user),
        None => raw.user,
    }?;
    let user = if person.bot {
        None
    } else {
        Some(Sender::parse(Platform::Discord, &person.id).ok()?)
    };
    let kind = kind(raw.kind, raw.data, raw.message);
    Some(Interaction {
        id: raw.id,
        application: raw.application_id,
        token,
        channel,
        in_guild: raw.guild_id.is_some(),
        user,
        kind,
    })
}

fn kind(kind: u8, data: Option<Data>, message: Option<Message>) -> Kind {
    let Some(data) = data else {
        return Kind::Other;
    };
    match kind {
        MESSAGE_COMPONENT if data.component_type == Some(BUTTON) => match data.custom_id {
            Some(id) if id.len() <= MAX_CUSTOM_ID => Kind::Press {
                data: id,
                question: message
                    .map(|m| m.content.chars().take(MAX_CONTENT_CHARS).collect())
                    .unwrap_or_default(),
            },
            _ => Kind::Other,
        },
        APPLICATION_COMMAND => {
            let Some(name) = data.name else {
                return Kind::Other;
            };
            let text = data
                .options
                .iter()
                .find(|o| o.name == TEXT_OPTION && o.kind == STRING_OPTION)
                .and_then(|o| o.value.as_ref()?.as_str().map(str::to_owned))
                .unwrap_or_default();
            if text.chars().count() > MAX_TEXT_CHARS {
                return Kind::Other;
            }
            Kind::Command { name, text }
        }
        _ => Kind::Other,
    }
}

#[cfg(test)]
#[path = "interaction/tests.rs"]
mod tests;
