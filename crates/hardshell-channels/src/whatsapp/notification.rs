//! A Cloud API webhook notification (developers.facebook.com/docs/whatsapp/
//! cloud-api/webhooks/components), read only from a [`Verified`] body:
//! `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":
//! "messages","value":{"metadata":{"phone_number_id"},"messages":[...],
//! "statuses":[...]}}]}]}`. Every change must name the configured number, or
//! nothing of the delivery is taken. Users' text messages become
//! [`Inbound`]s; statuses (sent, delivered, read) and every other kind of
//! message are passed over. `contacts[].profile.name` is not read: a name
//! the user chose is not who they are.

use serde::Deserialize;

use super::api::{is_message_id, is_wa_id};
use crate::dispatch::{Inbound, Place};
use crate::verify::Verified;
use crate::{Platform, Sender};

/// Longest text taken from a user. WhatsApp lets a user send 65,536
/// characters; the turn's input is bounded here, before the dispatch.
pub const MAX_TEXT_CHARS: usize = 65_536;

/// Why a verified delivery is not one to take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("whatsapp delivery is not a Cloud API notification")]
    NotJson,
    #[error("whatsapp delivery is not for a business account")]
    WrongObject,
    #[error("whatsapp delivery is for another phone number id")]
    OtherNumber,
}

#[derive(Deserialize)]
struct Notification {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    field: String,
    value: serde_json::Value,
}

/// A `messages` change's value.
#[derive(Deserialize)]
struct Messages {
    metadata: Metadata,
    #[serde(default)]
    messages: Vec<Message>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Deserialize)]
struct Message {
    from: String,
    id: String,
    #[serde(rename = "type")]
    kind: String,
    text: Option<Text>,
}

#[derive(Deserialize)]
struct Text {
    body: String,
}

/// The users' text messages in a verified delivery for `phone_number_id`,
/// in the order given. Errors only for a delivery that is not one
/// (unparsable, or another number's); a message that is not a person's
/// text is skipped.
pub fn read(body: Verified<'_>, phone_number_id: &str) -> Result<Vec<Inbound>, NotificationError> {
    debug_assert_eq!(body.platform(), Platform::Whatsapp);
    let notification: Notification =
        serde_json::from_slice(body.body()).map_err(|_| NotificationError::NotJson)?;
    if notification.object != "whatsapp_business_account" {
        return Err(NotificationError::WrongObject);
    }
    let mut messages = Vec::new();
    for change in notification
        .entry
        .into_iter()
        .flat_map(|entry| entry.changes)
    {
        // Other fields (account or template updates) are the business
        // account's, not a number's: subscribed or not, none is a message.
        if change.field != "messages" {
            tracing::debug!("whatsapp change of another field passed over");
            continue;
        }
        let value: Messages =
            serde_json::from_value(change.value).map_err(|_| NotificationError::NotJson)?;
        // All or nothing: one change for another number makes the whole
        // delivery suspect, not only that change.
        if value.metadata.phone_number_id != phone_number_id {
            return Err(NotificationError::OtherNumber);
        }
        messages.extend(value.messages);
    }
    Ok(messages.into_iter().filter_map(inbound).collect())
}

/// A user's text message as the dispatch reads it. The Cloud API has no
/// groups and delivers no bot's messages (the business's own sends come back
/// as statuses), so every one is a direct message from a person.
fn inbound(message: Message) -> Option<Inbound> {
    if !is_message_id(&message.id) || !is_wa_id(&message.from) {
        tracing::warn!("whatsapp message with an unusable id or sender skipped");
        return None;
    }
    if message.kind != "text" {
        tracing::debug!(
            id = %message.id,
            kind = %super::api::clean(&message.kind, ""),
            "whatsapp message of a kind not read skipped"
        );
        return None;
    }
    let text = message.text?.body;
    if text.chars().count() > MAX_TEXT_CHARS {
        tracing::warn!(id = %message.id, "whatsapp message over {MAX_TEXT_CHARS} characters skipped");
        return None;
    }
    let sender = Sender::parse(Platform::Whatsapp, &message.from).ok()?;
    Some(Inbound {
        sender,
        chat: message.from,
        place: Place::Direct,
        text,
        message: Some(message.id),
        files: Vec::new(),
    })
}
