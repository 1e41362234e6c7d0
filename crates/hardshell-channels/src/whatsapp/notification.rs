//! A Cloud API webhook notification (developers.facebook.com/docs/whatsapp/
//! cloud-api/webhooks/components), read only from a [`Verified`] body:
//! `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":
//! "messages","value":{"metadata":{"phone_number_id"},"messages":[...],
//! "statuses":[...]}}]}]}`. Every change must name the configured number, or
//! nothing of the delivery is taken. Users' text messages, images and
//! documents become [`Inbound`]s (a file by its media id, fetched later and
//! only for a paired sender); statuses (sent, delivered, read) and every
//! other kind of message are passed over. `contacts[].profile.name` is not read: a name
//! the user chose is not who they are.

use serde::Deserialize;

use super::api::media::{extension, is_media_id};
use super::api::{is_message_id, is_wa_id};
use crate::dispatch::{Inbound, InboundFile, Place};
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
    image: Option<Media>,
    document: Option<Media>,
}

#[derive(Deserialize)]
struct Text {
    body: String,
}

/// An `image` or a `document`: `{id, mime_type, sha256, caption}`, and a
/// document's `filename`. The webhook's `sha256` is not needed: the fetch
/// checks the one Meta's media answer gives.
#[derive(Deserialize)]
struct Media {
    id: String,
    mime_type: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
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

/// A user's text message, image or document as the dispatch reads it. The
/// Cloud API has no groups and delivers no bot's messages (the business's
/// own sends come back as statuses), so every one is a direct message from
/// a person.
fn inbound(message: Message) -> Option<Inbound> {
    if !is_message_id(&message.id) || !is_wa_id(&message.from) {
        tracing::warn!("whatsapp message with an unusable id or sender skipped");
        return None;
    }
    let (text, files) = match message.kind.as_str() {
        "text" => (message.text?.body, Vec::new()),
        "image" => attached(&message.id, message.image?, "image")?,
        "document" => attached(&message.id, message.document?, "document")?,
        _ => {
            tracing::debug!(
                id = %message.id,
                kind = %super::api::clean(&message.kind, ""),
                "whatsapp message of a kind not read skipped"
            );
            return None;
        }
    };
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
        files,
    })
}

/// An image's or a document's caption (the message's text, empty without
/// one) and the file, by its media id. A document keeps the name its
/// sender gave (the edge makes it safe); an image, or a document without a
/// name, is named `<kind>-<message id>` with the extension of its type
/// when that type is one of Meta's, `.bin` otherwise.
fn attached(message_id: &str, media: Media, kind: &str) -> Option<(String, Vec<InboundFile>)> {
    // The id goes into a URL path: only digits ever do.
    if !is_media_id(&media.id) {
        tracing::warn!(id = %message_id, "whatsapp {kind} with an unusable media id skipped");
        return None;
    }
    let name = media
        .filename
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| {
            let extension = extension(media.mime_type.as_deref());
            format!("{kind}-{}.{extension}", file_stem(message_id))
        });
    let file = InboundFile {
        reference: media.id,
        name: Some(name),
        // The webhook does not say; the fetch asks Meta, and is bounded.
        size: None,
    };
    Some((media.caption.unwrap_or_default(), vec![file]))
}

/// A message id (`wamid.` and base64) as part of a file name: its `+`, `/`
/// and `=` made `_`.
fn file_stem(message_id: &str) -> String {
    message_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
