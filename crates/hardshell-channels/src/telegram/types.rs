//! The Bot API's values as hardshell reads them (core.telegram.org/bots/api).
//! Only the fields the channel uses are typed; every other field the platform
//! sends, now or in a later API version, is ignored rather than refused.

use serde::{Deserialize, Serialize};

/// One incoming update. At most one of its optional parts is set; an update
/// of a kind not typed here (or one that failed to parse, see
/// [`crate::telegram::api::TelegramApi::get_updates`]) has none, and is still
/// acknowledged by its `update_id`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Update {
    pub update_id: i64,
    pub message: Option<Message>,
    pub edited_message: Option<Message>,
    pub callback_query: Option<CallbackQuery>,
}

impl Update {
    /// An update of which only the id could be read.
    pub(crate) fn unreadable(update_id: i64) -> Self {
        Self {
            update_id,
            message: None,
            edited_message: None,
            callback_query: None,
        }
    }
}

/// A message in a chat.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    pub message_id: i64,
    pub chat: Chat,
    /// Absent in channels (a channel post has no sender).
    pub from: Option<User>,
    pub text: Option<String>,
    pub caption: Option<String>,
    #[serde(default)]
    pub entities: Vec<MessageEntity>,
    #[serde(default)]
    pub caption_entities: Vec<MessageEntity>,
    pub document: Option<Document>,
    /// The sizes of one photo, smallest first.
    #[serde(default)]
    pub photo: Vec<PhotoSize>,
    pub reply_to_message: Option<Box<Message>>,
}

/// A chat: its id (negative for groups) and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Chat {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: ChatType,
}

/// The kinds of chat the Bot API documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatType {
    Private,
    Group,
    Supergroup,
    Channel,
}

/// A Telegram user or bot. `id` is immutable; `username` is not (its holder
/// can change it, and someone else can then take the old one), so only the
/// bot's own username is ever compared, and only to spot a mention.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    pub id: i64,
    pub is_bot: bool,
    pub username: Option<String>,
}

/// A marked span of a message's text or caption, counted in UTF-16 units.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MessageEntity {
    #[serde(rename = "type")]
    pub kind: EntityKind,
    pub offset: usize,
    pub length: usize,
    /// The user of a `text_mention`.
    pub user: Option<User>,
}

/// The entity kinds a mention can be; the platform has many more (bold,
/// links, hashtags...), which the channel does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// `@username`.
    Mention,
    /// A mention of a user without a username, carrying the user.
    TextMention,
    /// `/command` or `/command@username`.
    BotCommand,
    #[serde(other)]
    Other,
}

/// A file sent as a document.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Document {
    pub file_id: String,
    pub file_unique_id: String,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    pub file_size: Option<u64>,
}

/// One size of a photo.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PhotoSize {
    pub file_id: String,
    pub file_unique_id: String,
    pub width: u32,
    pub height: u32,
    pub file_size: Option<u64>,
}

/// A press on an inline keyboard button.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CallbackQuery {
    pub id: String,
    pub from: User,
    /// The pressed button's `callback_data`.
    pub data: Option<String>,
    /// The message the button was on, when it is still accessible.
    pub message: Option<Message>,
}

/// A file ready to download (`getFile`); `file_path` is valid for an hour.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct File {
    pub file_id: String,
    pub file_unique_id: String,
    pub file_size: Option<u64>,
    pub file_path: Option<String>,
}

/// A text message the bot sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub chat_id: i64,
    pub text: String,
    /// The message this one answers, shown threaded under it.
    pub reply_to: Option<i64>,
    /// Rows of inline keyboard buttons.
    pub buttons: Option<Vec<Vec<Button>>>,
}

/// An inline keyboard button; pressing it sends `callback_data` back as a
/// [`CallbackQuery`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Button {
    pub text: String,
    /// 1 to 64 bytes, as the Bot API allows.
    pub callback_data: String,
}

/// What the bot shows it is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatAction {
    Typing,
    UploadDocument,
}

impl Message {
    /// The text, or a media message's caption.
    pub fn text_or_caption(&self) -> Option<&str> {
        self.text.as_deref().or(self.caption.as_deref())
    }

    /// Whether the message addresses `bot`: an `@username` mention (ASCII
    /// case-insensitive, as Telegram's usernames are), a `text_mention` of the
    /// bot's id, or a `/command@username`. A username merely appearing in the
    /// text, without the platform's entity, is not a mention.
    pub fn mentions(&self, bot: &User) -> bool {
        [
            (self.text.as_deref(), &self.entities),
            (self.caption.as_deref(), &self.caption_entities),
        ]
        .into_iter()
        .any(|(text, entities)| {
            let units: Vec<u16> = text.unwrap_or_default().encode_utf16().collect();
            entities.iter().any(|e| entity_mentions(&units, e, bot))
        })
    }
}

fn entity_mentions(units: &[u16], entity: &MessageEntity, bot: &User) -> bool {
    if entity.kind == EntityKind::TextMention {
        return entity.user.as_ref().is_some_and(|user| user.id == bot.id);
    }
    let Some(username) = bot.username.as_deref() else {
        return false;
    };
    let Some(end) = entity.offset.checked_add(entity.length) else {
        return false;
    };
    let Some(span) = units.get(entity.offset..end) else {
        return false;
    };
    let Ok(span) = String::from_utf16(span) else {
        return false;
    };
    match entity.kind {
        EntityKind::Mention => span
            .strip_prefix('@')
            .is_some_and(|name| name.eq_ignore_ascii_case(username)),
        EntityKind::BotCommand => span
            .rsplit_once('@')
            .is_some_and(|(_, name)| name.eq_ignore_ascii_case(username)),
        EntityKind::TextMention | EntityKind::Other => false,
    }
}

#[cfg(test)]
#[path = "types/tests.rs"]
mod tests;
