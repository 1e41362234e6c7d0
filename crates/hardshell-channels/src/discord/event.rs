//! The one gateway event the channel reads, `MESSAGE_CREATE`, parsed from
//! the raw gateway text into only the fields the dispatch needs; every other
//! event (and anything that does not parse) is ignored. Parsed here rather
//! than by twilight's full model, so that a field the model would refuse
//! cannot make a person's message vanish, and nothing unread is kept.

use serde::Deserialize;

use super::api::is_snowflake;
use crate::dispatch::{Inbound, InboundFile, Place};
use crate::{Platform, Sender};

/// Longest gateway text read as an event: a message is at most 4000
/// characters (Nitro's limit) with its embeds and mentions; more is no
/// message Discord sends.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// Longest text handed to the dispatch, in characters (Nitro's limit).
pub const MAX_TEXT_CHARS: usize = 4000;

#[derive(Deserialize)]
struct Frame {
    op: u8,
    #[serde(default)]
    t: Option<String>,
    #[serde(default)]
    d: Option<serde_json::Value>,
}

/// A `MESSAGE_CREATE`'s fields (discord.com/developers/docs/resources/message).
#[derive(Debug, Deserialize)]
pub struct MessageCreate {
    pub id: String,
    pub channel_id: String,
    #[serde(default)]
    pub guild_id: Option<String>,
    pub author: Author,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub mentions: Vec<Mentioned>,
    /// Set on a message a webhook posted: no person wrote it.
    #[serde(default)]
    pub webhook_id: Option<String>,
    /// 0 (default) or 19 (reply) for what a person writes; the others are
    /// the platform's notices (joins, pins, boosts).
    #[serde(default, rename = "type")]
    pub kind: u8,
    /// Files attached to it, as Discord describes them.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// An attachment's fields (discord.com/developers/docs/resources/message#attachment-object).
#[derive(Debug, Deserialize)]
pub struct Attachment {
    pub url: String,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
}

/// Attachments read from one message; Discord allows 10.
pub const MAX_ATTACHMENTS: usize = 10;

#[derive(Debug, Deserialize)]
pub struct Author {
    pub id: String,
    #[serde(default)]
    pub bot: bool,
}

#[derive(Debug, Deserialize)]
pub struct Mentioned {
    pub id: String,
}

/// The `MESSAGE_CREATE` in one gateway text, if it is one.
pub fn message_create(text: &str) -> Option<MessageCreate> {
    if text.len() > MAX_EVENT_BYTES {
        tracing::warn!(
            bytes = text.len(),
            "discord: oversized gateway event ignored"
        );
        return None;
    }
    let frame: Frame = serde_json::from_str(text).ok()?;
    if frame.op != 0 || frame.t.as_deref() != Some("MESSAGE_CREATE") {
        return None;
    }
    match serde_json::from_value(frame.d?) {
        Ok(message) => Some(message),
        Err(_) => {
            // Not serde's message: it can quote the platform's text.
            tracing::warn!("discord: unreadable MESSAGE_CREATE ignored");
            None
        }
    }
}

impl MessageCreate {
    /// A person's message as the dispatch reads it, its attachments with
    /// it (fetched, if ever, only from the configured CDN hosts); `None` for
    /// what is not one: the bot's own, another bot's, a webhook's, a notice,
    /// an empty one without attachments (or the Message Content intent missing),
    /// one over the length Discord allows, or ids that are not snowflakes.
    pub fn inbound(&self, bot: &str) -> Option<Inbound> {
        if self.author.bot || self.author.id == bot || self.webhook_id.is_some() {
            return None;
        }
        if !matches!(self.kind, 0 | 19)
            || (self.content.trim().is_empty() && self.attachments.is_empty())
        {
            return None;
        }
        if self.content.chars().count() > MAX_TEXT_CHARS {
            return None;
        }
        if ![&self.id, &self.channel_id]
            .iter()
            .all(|id| is_snowflake(id))
        {
            return None;
        }
        let place = match &self.guild_id {
            None => Place::Direct,
            Some(_) => Place::Group {
                mentioned: self.mentions.iter().any(|m| m.id == bot),
            },
        };
        let sender = Sender::parse(Platform::Discord, &self.author.id).ok()?;
        Some(Inbound {
            sender,
            chat: self.channel_id.clone(),
            place,
            text: self.content.clone(),
            message: Some(self.id.clone()),
            files: self
                .attachments
                .iter()
                .take(MAX_ATTACHMENTS)
                .map(|a| InboundFile {
                    reference: a.url.clone(),
                    name: a.filename.clone(),
                    size: a.size,
                })
                .collect(),
        })
    }
}

#[cfg(test)]
#[path = "event/tests.rs"]
mod tests;
