//! Which agent session a conversation on a platform continues: one per chat
//! and sender (a sender's direct chat, or their thread with the bot in a
//! group), kept in the sealed state store so a restart or another replica
//! continues it. `/new` starts another.

use hardshell_storage::{Modification, ObjectKey, Scope, StorageError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::{Platform, Sender};

/// Conversations kept per platform; the least recently started give way
/// (their sessions stay in the agent's store, only the link is dropped).
const MAX_CONVERSATIONS: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error("conversations: {0}")]
    Store(#[from] StorageError),
    #[error("conversations: the record for {platform} is unreadable: {detail}")]
    Unreadable { platform: Platform, detail: String },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    /// `<chat>/<sender id>` → the session and the subject it was made for.
    sessions: BTreeMap<String, Link>,
    /// The direct chat the owner last wrote in on this platform, where
    /// questions from others' conversations are put to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner_chat: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Link {
    session: String,
    subject: String,
    started: chrono::DateTime<chrono::Utc>,
}

/// The sessions of every platform's conversations, in `channels/conversations/`.
#[derive(Debug, Clone)]
pub struct Conversations {
    scope: Scope,
}

impl Conversations {
    pub fn new(scope: Scope) -> Self {
        Self { scope }
    }

    /// The session `sender`'s conversation in `chat` continues for
    /// `subject`, if there is one.
    pub async fn current(
        &self,
        sender: &Sender,
        chat: &str,
        subject: &str,
    ) -> Result<Option<String>, ConversationError> {
        let platform = sender.platform();
        let Some(stored) = self.scope.get(&record_key(platform)?).await? else {
            return Ok(None);
        };
        let record = parse(platform, &stored.value)?;
        Ok(record
            .sessions
            .get(&format!("{chat}/{}", sender.id()))
            .filter(|link| link.subject == subject)
            .map(|link| link.session.clone()))
    }

    /// The direct chat the owner last wrote in on `platform`, if any.
    pub async fn owner_chat(
        &self,
        platform: Platform,
    ) -> Result<Option<String>, ConversationError> {
        let Some(stored) = self.scope.get(&record_key(platform)?).await? else {
            return Ok(None);
        };
        Ok(parse(platform, &stored.value)?.owner_chat)
    }

    /// The session `sender`'s conversation in `chat` continues, made by
    /// `fresh` when there is none, when `fresh_start` is asked (`/new`), or
    /// when the one kept was made for another subject (the sender was paired
    /// again with another role: the old session is not theirs any more).
    /// `owners_direct_chat`: `chat` is the owner's own direct chat, kept as
    /// where the owner is asked (see [`Conversations::owner_chat`]).
    pub async fn session(
        &self,
        sender: &Sender,
        chat: &str,
        subject: &str,
        fresh_start: bool,
        owners_direct_chat: bool,
        fresh: impl Fn() -> String,
    ) -> Result<String, ConversationError> {
        let platform = sender.platform();
        let key = record_key(platform)?;
        let slot = format!("{chat}/{}", sender.id());
        let made = fresh();
        self.scope
            .modify(&key, |current| {
                let mut record = match current {
                    Some(bytes) => parse(platform, bytes)?,
                    None => Record::default(),
                };
                let owner_chat_moved =
                    owners_direct_chat && record.owner_chat.as_deref() != Some(chat);
                if owner_chat_moved {
                    record.owner_chat = Some(chat.to_owned());
                }
                let kept = record
                    .sessions
                    .get(&slot)
                    .filter(|link| link.subject == subject && !fresh_start)
                    .map(|link| link.session.clone());
                if let Some(kept) = kept {
                    if !owner_chat_moved {
                        return Ok(Modification::Keep(kept));
                    }
                    return Ok(Modification::Write(serialize(platform, &record)?, kept));
                }
                if record.sessions.len() >= MAX_CONVERSATIONS
                    && let Some(oldest) = record
                        .sessions
                        .iter()
                        .min_by_key(|(_, link)| link.started)
                        .map(|(slot, _)| slot.clone())
                {
                    record.sessions.remove(&oldest);
                }
                record.sessions.insert(
                    slot.clone(),
                    Link {
                        session: made.clone(),
                        subject: subject.to_owned(),
                        started: chrono::Utc::now(),
                    },
                );
                Ok(Modification::Write(
                    serialize(platform, &record)?,
                    made.clone(),
                ))
            })
            .await
    }
}

/// Where a platform's conversations are kept.
fn record_key(platform: Platform) -> Result<ObjectKey, ConversationError> {
    ObjectKey::parse(&format!("{platform}.json")).map_err(|e| ConversationError::Unreadable {
        platform,
        detail: e.to_string(),
    })
}

fn serialize(platform: Platform, record: &Record) -> Result<Vec<u8>, ConversationError> {
    serde_json::to_vec(record).map_err(|e| ConversationError::Unreadable {
        platform,
        detail: e.to_string(),
    })
}

fn parse(platform: Platform, bytes: &[u8]) -> Result<Record, ConversationError> {
    serde_json::from_slice(bytes).map_err(|e| ConversationError::Unreadable {
        platform,
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hardshell_testkit::TestStore;

    #[tokio::test]
    async fn a_conversation_continues_its_session_until_a_new_one_is_asked_for() {
        let store = TestStore::new().await;
        let conversations = Conversations::new(store.scope("channels/conversations"));
        let alice = Sender::parse(Platform::Telegram, "555").unwrap_or_else(|e| panic!("{e}"));
        let counter = std::sync::atomic::AtomicU32::new(0);
        let fresh = || {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            format!("telegram-x-{n}")
        };
        let first = conversations
            .session(&alice, "555", "owner", false, false, fresh)
            .await
            .unwrap();
        let again = conversations
            .session(&alice, "555", "owner", false, false, fresh)
            .await
            .unwrap();
        assert_eq!(first, again);
        // Another chat (a group) is another conversation.
        let group = conversations
            .session(&alice, "-100", "owner", false, false, fresh)
            .await
            .unwrap();
        assert_ne!(group, first);
        // `/new`.
        let new = conversations
            .session(&alice, "555", "owner", true, false, fresh)
            .await
            .unwrap();
        assert_ne!(new, first);
        // Paired again as a guest: the owner's session is not continued.
        let guest = conversations
            .session(&alice, "555", "telegram:555", false, false, fresh)
            .await
            .unwrap();
        assert_ne!(guest, new);
    }

    /// The owner's chat kept for Telegram.
    async fn owner_chat(conversations: &Conversations) -> Option<String> {
        conversations.owner_chat(Platform::Telegram).await.unwrap()
    }

    #[tokio::test]
    async fn the_owners_direct_chat_is_kept_where_the_owner_last_wrote() {
        let store = TestStore::new().await;
        let conversations = Conversations::new(store.scope("channels/conversations"));
        let owner = Sender::parse(Platform::Telegram, "555").unwrap_or_else(|e| panic!("{e}"));
        let fresh = || "telegram-x-1".to_owned();
        assert_eq!(owner_chat(&conversations).await, None);
        // Not the owner's direct chat: nothing kept.
        conversations
            .session(&owner, "-100", "owner", false, false, fresh)
            .await
            .unwrap();
        assert_eq!(owner_chat(&conversations).await, None);
        conversations
            .session(&owner, "555", "owner", false, true, fresh)
            .await
            .unwrap();
        assert_eq!(owner_chat(&conversations).await.as_deref(), Some("555"));
        // Another of the owner's accounts writes: the newest chat is kept,
        // while the session it continues is unchanged.
        let other = Sender::parse(Platform::Telegram, "556").unwrap_or_else(|e| panic!("{e}"));
        let kept = conversations
            .session(&owner, "555", "owner", false, false, fresh)
            .await
            .unwrap();
        conversations
            .session(&other, "556", "owner", false, true, fresh)
            .await
            .unwrap();
        assert_eq!(owner_chat(&conversations).await.as_deref(), Some("556"));
        let again = conversations
            .session(&owner, "555", "owner", false, true, || {
                "telegram-x-2".to_owned()
            })
            .await
            .unwrap();
        assert_eq!(again, kept);
        assert_eq!(owner_chat(&conversations).await.as_deref(), Some("555"));
        // Each platform keeps its own.
        assert_eq!(
            conversations.owner_chat(Platform::Slack).await.unwrap(),
            None
        );
    }
}
