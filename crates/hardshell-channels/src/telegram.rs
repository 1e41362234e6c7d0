//! Telegram, through its Bot API, by long polling: the edge asks Telegram
//! for updates, so nothing listens for Telegram and no inbound route exists.
//!
//! - At start the bot's own identity is read (`getMe`: its id and username,
//!   to spot mentions) and any webhook is deleted (`deleteWebhook`), since
//!   Telegram refuses `getUpdates` while one is set.
//! - One poller per token: a second one (or a webhook set meanwhile) gets a
//!   409 from Telegram, reported once as what to fix and retried slowly,
//!   never in a tight loop.
//! - A person's message is spooled in the sealed store before the offset
//!   past it is saved (and Telegram told, by the next poll), then handled in
//!   its chat's lane (`crate::lanes`: a chat's messages in order, many chats at
//!   once); its spool entry goes when it is answered. A restart replays the
//!   spool: nothing taken is lost, and an update at or before the saved
//!   offset, or already taken, is skipped if Telegram sends it again.
//! - Messages from bots (the bot's own included) are dropped before the
//!   dispatch, so the bot never answers itself or another bot.

pub mod api;
pub mod types;
pub mod webhook;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use hardshell_storage::{ObjectKey, Scope, StorageError};

use crate::chunk::{self, ChunkLimit};
use crate::dispatch::{Dispatcher, Inbound, InboundFile, Place, Pressed};
use crate::lanes::{Lanes, OutboxFor};
use crate::outbox::{Outbox, OutboxError};
use crate::{Platform, Sender};
use api::{TelegramApi, TelegramError};
use types::{ChatAction, ChatType, Message, OutgoingMessage, Update, User};

/// How long one `getUpdates` waits for an update.
const POLL_TIMEOUT_SECS: u32 = 25;
/// Wait after a 409: the other poller or the webhook is the owner's to remove.
const CONFLICT_WAIT: Duration = Duration::from_secs(30);
/// Wait after Telegram refused the token.
const UNAUTHORIZED_WAIT: Duration = Duration::from_secs(300);
/// Longest wait between failed polls.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Longest `retry_after` honoured in one wait.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum TelegramChannelError {
    #[error("telegram: reading the bot's identity (getMe): {0}")]
    Identify(#[source] TelegramError),
    #[error("telegram: the bot has no username, so mentions in groups cannot be recognised")]
    NoUsername,
    #[error("telegram: deleting the webhook before polling: {0}")]
    DeleteWebhook(#[source] TelegramError),
    #[error("telegram: setting the webhook: {0}")]
    SetWebhook(#[source] TelegramError),
    #[error("telegram: reading the saved update offset: {0}")]
    Offset(#[from] StorageError),
}

/// The Telegram channel, polling; see the module.
#[derive(Debug)]
pub struct TelegramChannel {
    api: Arc<TelegramApi>,
    dispatcher: Arc<Dispatcher>,
    state: Scope,
}

/// The channel once it knows its bot and where polling resumes.
struct Polling {
    bot: User,
    offset: Option<i64>,
}

impl TelegramChannel {
    /// `state` is the sealed store's `channels/telegram` scope. Nothing is
    /// asked of Telegram until [`TelegramChannel::run`].
    pub fn new(api: TelegramApi, dispatcher: Dispatcher, state: Scope) -> Self {
        debug_assert_eq!(dispatcher.platform(), Platform::Telegram);
        Self {
            api: Arc::new(api),
            dispatcher: Arc::new(dispatcher),
            state,
        }
    }

    /// The bot's identity: its id and username, to spot mentions.
    async fn identify(&self) -> Result<User, TelegramChannelError> {
        let bot = self
            .api
            .get_me()
            .await
            .map_err(TelegramChannelError::Identify)?;
        if bot.username.is_none() {
            return Err(TelegramChannelError::NoUsername);
        }
        Ok(bot)
    }

    /// Reads the bot's identity, deletes any webhook and reads the saved
    /// offset.
    async fn prepare(&self) -> Result<Polling, TelegramChannelError> {
        let bot = self.identify().await?;
        // Updates waiting while hardshell was down are kept: they are
        // messages its users sent.
        self.api
            .delete_webhook(false)
            .await
            .map_err(TelegramChannelError::DeleteWebhook)?;
        let offset = match self.state.get(&offset_key()?).await? {
            Some(stored) => serde_json::from_slice::<Option<i64>>(&stored.value)
                .ok()
                .flatten(),
            None => None,
        };
        tracing::info!(bot = bot.id, ?offset, "telegram: polling for updates");
        Ok(Polling { bot, offset })
    }

    /// Webhook mode: reads the bot's identity and sets the webhook at `url`
    /// with `secret` (retried, as polling's start is), then handles the
    /// updates the endpoint took, in order, until `shutdown` completes. The
    /// webhook stays set when hardshell stops: Telegram keeps the updates
    /// and retries them.
    pub async fn run_webhook(
        self,
        url: url::Url,
        secret: hardshell_secrets::SecretValue,
        mut taken: webhook::TakenUpdates,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut shutdown = std::pin::pin!(shutdown.fuse());
        let ready = || async {
            let bot = self.identify().await?;
            self.api
                .set_webhook(&url, &secret)
                .await
                .map_err(TelegramChannelError::SetWebhook)?;
            tracing::info!(bot = bot.id, "telegram: taking updates at the webhook");
            Ok(Polling { bot, offset: None })
        };
        let Some(mut polling) = Self::until_ready(ready, &mut shutdown).await else {
            return;
        };
        let Some(mut lanes) = self.lanes().await else {
            return;
        };
        loop {
            let update = tokio::select! {
                () = &mut shutdown => break,
                update = taken.0.recv() => update,
            };
            let Some(update) = update else { break };
            // Telegram was told it was taken: a spool failure loses it.
            self.take(&mut polling, &mut lanes, update).await;
        }
        lanes.stop().await;
    }

    /// The chats' lanes, with what a previous run left unanswered back in
    /// them; `None` when the spool cannot be opened.
    async fn lanes(&self) -> Option<Lanes> {
        let api = self.api.clone();
        let outbox_for: OutboxFor = Arc::new(move |_: &Inbound| {
            Box::new(TelegramOutbox { api: api.clone() }) as Box<dyn Outbox>
        });
        Lanes::open("telegram", self.dispatcher.clone(), outbox_for, &self.state).await
    }

    /// Runs `ready` until it succeeds (with a backoff, and a long wait when
    /// Telegram refused the token), or `None` when `shutdown` comes first.
    async fn until_ready<F, Fut, S>(mut ready: F, shutdown: &mut S) -> Option<Polling>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Polling, TelegramChannelError>>,
        S: Future<Output = ()> + Unpin,
    {
        let mut backoff = Duration::from_secs(1);
        loop {
            let wait = match ready().await {
                Ok(polling) => return Some(polling),
                Err(e @ TelegramChannelError::Identify(TelegramError::Unauthorized)) => {
                    tracing::error!("{e}");
                    UNAUTHORIZED_WAIT
                }
                Err(e) => {
                    tracing::error!(error = %e, "telegram: not ready");
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    wait
                }
            };
            tokio::select! {
                () = &mut *shutdown => return None,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Polls until `shutdown` completes (after getting ready, which is
    /// retried: Telegram may be unreachable at start). An update being
    /// handled is finished first; the poll in flight is dropped (its
    /// updates, unacknowledged, come again after a restart).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown.fuse());
        let Some(mut polling) = Self::until_ready(|| self.prepare(), &mut shutdown).await else {
            return;
        };
        let Some(mut lanes) = self.lanes().await else {
            return;
        };
        let mut backoff = Duration::from_secs(1);
        loop {
            let polled = tokio::select! {
                () = &mut shutdown => break,
                polled = self.api.get_updates(polling.offset, POLL_TIMEOUT_SECS) => polled,
            };
            let wait = match polled {
                Ok(mut updates) => {
                    updates.sort_by_key(|u| u.update_id);
                    let mut spooled = true;
                    for update in updates {
                        if !self.take(&mut polling, &mut lanes, update).await {
                            spooled = false;
                            break;
                        }
                    }
                    self.save_offset(polling.offset).await;
                    if spooled {
                        backoff = Duration::from_secs(1);
                        continue;
                    }
                    // Telegram sends what was not spooled again.
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    wait
                }
                Err(TelegramError::Conflict { cause, .. }) => {
                    tracing::error!(
                        "telegram: polling refused (409): {cause}; trying again in {}s",
                        CONFLICT_WAIT.as_secs()
                    );
                    CONFLICT_WAIT
                }
                Err(TelegramError::RetryAfter { secs }) => {
                    Duration::from_secs(secs).min(MAX_RETRY_AFTER)
                }
                Err(e @ TelegramError::Unauthorized) => {
                    tracing::error!("{e}; trying again in {}s", UNAUTHORIZED_WAIT.as_secs());
                    UNAUTHORIZED_WAIT
                }
                Err(e) => {
                    tracing::warn!(error = %e, "telegram: polling failed");
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    wait
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        lanes.stop().await;
    }

    /// Takes one update: a person's message is spooled and given to its
    /// chat's lane; anything else (edits, button presses, bots' messages) is
    /// passed over, since an edited message is not a new turn. `false` when
    /// the message could not be spooled: the offset stays before it.
    async fn take(&self, polling: &mut Polling, lanes: &mut Lanes, update: Update) -> bool {
        let id = update.update_id;
        if polling.offset.is_some_and(|offset| id < offset) || lanes.is_taken(&id.to_string()) {
            return true;
        }
        if let Some(press) = &update.callback_query {
            // Answered at once, never behind the turn that asked.
            self.press(press).await;
        }
        if let Some(inbound) = update
            .message
            .as_ref()
            .and_then(|m| inbound(&polling.bot, m))
            && let Err(e) = lanes.take(&id.to_string(), inbound).await
        {
            tracing::error!(update = id, error = %e, "telegram: an update could not be spooled");
            return false;
        }
        polling.offset = Some(id.saturating_add(1));
        true
    }

    /// A press of a question's button: answered for the owner in their own
    /// chat (the dispatch decides), the presser shown what came of it.
    async fn press(&self, press: &types::CallbackQuery) {
        let pressed = match (&press.message, &press.data) {
            (Some(message), Some(data)) if !press.from.is_bot => {
                let place = match message.chat.kind {
                    ChatType::Private => Place::Direct,
                    _ => Place::Group { mentioned: false },
                };
                match Sender::parse(Platform::Telegram, &press.from.id.to_string()) {
                    Ok(sender) => self
                        .dispatcher
                        .press(&sender, &message.chat.id.to_string(), place, data)
                        .await
                        .unwrap_or_else(|e| {
                            tracing::error!(error = %e, "telegram: a button press could not be read");
                            Pressed::Unknown
                        }),
                    Err(_) => Pressed::NotYours,
                }
            }
            _ => Pressed::NotAQuestion,
        };
        if let Err(e) = self
            .api
            .answer_callback_query(&press.id, Some(pressed.notice()))
            .await
        {
            tracing::debug!(error = %e, "telegram: a button press was not acknowledged");
        }
    }

    /// Saves where polling resumes after a restart.
    async fn save_offset(&self, offset: Option<i64>) {
        let saved = serde_json::to_vec(&offset).unwrap_or_default();
        let stored = match offset_key() {
            Ok(key) => self.state.put(&key, &saved).await.map(drop),
            Err(e) => Err(e),
        };
        if let Err(e) = stored {
            tracing::error!(error = %e, "telegram: saving the update offset failed; a restart skips what was spooled");
        }
    }
}

/// A person's text message as the dispatch reads it; `None` for what is not
/// one (a bot's message, a channel post, a message without text).
fn inbound(bot: &User, message: &Message) -> Option<Inbound> {
    let from = message.from.as_ref()?;
    if from.is_bot {
        return None;
    }
    let place = match message.chat.kind {
        ChatType::Private => Place::Direct,
        ChatType::Group | ChatType::Supergroup => Place::Group {
            mentioned: message.mentions(bot),
        },
        ChatType::Channel => return None,
    };
    let files = files_of(message);
    let text = match message.text_or_caption() {
        Some(text) => text,
        None if !files.is_empty() => "",
        None => return None,
    };
    let sender = Sender::parse(Platform::Telegram, &from.id.to_string()).ok()?;
    Some(Inbound {
        sender,
        chat: message.chat.id.to_string(),
        place,
        text: text.to_owned(),
        message: Some(message.message_id.to_string()),
        files,
    })
}

/// A message's document, or the largest size of its photo (Telegram sends
/// every size, smallest first; a photo is always a JPEG).
fn files_of(message: &Message) -> Vec<InboundFile> {
    let document = message.document.as_ref().map(|document| InboundFile {
        reference: document.file_id.clone(),
        name: document.file_name.clone(),
        size: document.file_size,
    });
    let photo = message.photo.last().map(|photo| InboundFile {
        reference: photo.file_id.clone(),
        name: Some(format!("photo-{}.jpg", message.message_id)),
        size: photo.file_size,
    });
    document.into_iter().chain(photo).collect()
}

fn offset_key() -> Result<ObjectKey, StorageError> {
    Ok(ObjectKey::parse("offset")?)
}

/// Answers in a Telegram chat.
struct TelegramOutbox {
    api: Arc<TelegramApi>,
}

impl TelegramOutbox {
    fn chat(chat: &str) -> Result<i64, OutboxError> {
        chat.parse()
            .map_err(|_| OutboxError::Failed("not a telegram chat id".into()))
    }
}

fn outbox_error(e: TelegramError) -> OutboxError {
    match e {
        TelegramError::RetryAfter { secs } => OutboxError::RetryAfter(Duration::from_secs(secs)),
        TelegramError::TooLarge { limit } => OutboxError::TooLarge { limit },
        other => OutboxError::Failed(other.to_string()),
    }
}

impl Outbox for TelegramOutbox {
    fn limit(&self) -> ChunkLimit {
        chunk::TELEGRAM
    }

    fn edits(&self) -> bool {
        true
    }

    fn send<'a>(
        &'a self,
        chat: &'a str,
        text: &'a str,
        reply_to: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<String>, OutboxError>> {
        async move {
            let message = OutgoingMessage {
                chat_id: Self::chat(chat)?,
                text: text.to_owned(),
                reply_to: reply_to.and_then(|id| id.parse().ok()),
                buttons: None,
            };
            let sent = self
                .api
                .send_message(&message)
                .await
                .map_err(outbox_error)?;
            Ok(Some(sent.message_id.to_string()))
        }
        .boxed()
    }

    fn ask<'a>(
        &'a self,
        chat: &'a str,
        text: &'a str,
        approval: &'a str,
        reply_to: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<String>, OutboxError>> {
        async move {
            let button = |text: &str, approve: bool| types::Button {
                text: text.to_owned(),
                callback_data: crate::dispatch::press_data(approval, approve),
            };
            let message = OutgoingMessage {
                chat_id: Self::chat(chat)?,
                text: text.to_owned(),
                reply_to: reply_to.and_then(|id| id.parse().ok()),
                buttons: Some(vec![vec![
                    button("Run it", true),
                    button("Don't run", false),
                ]]),
            };
            let sent = self
                .api
                .send_message(&message)
                .await
                .map_err(outbox_error)?;
            Ok(Some(sent.message_id.to_string()))
        }
        .boxed()
    }

    fn edit<'a>(
        &'a self,
        chat: &'a str,
        message: &'a str,
        text: &'a str,
    ) -> BoxFuture<'a, Result<(), OutboxError>> {
        async move {
            let message = message
                .parse()
                .map_err(|_| OutboxError::Failed("not a telegram message id".into()))?;
            self.api
                .edit_message_text(Self::chat(chat)?, message, text)
                .await
                .map(drop)
                .map_err(outbox_error)
        }
        .boxed()
    }

    fn typing<'a>(&'a self, chat: &'a str) -> BoxFuture<'a, Result<(), OutboxError>> {
        async move {
            self.api
                .send_chat_action(Self::chat(chat)?, ChatAction::Typing)
                .await
                .map_err(outbox_error)
        }
        .boxed()
    }

    fn fetch<'a>(
        &'a self,
        file: &'a InboundFile,
        limit: u64,
    ) -> BoxFuture<'a, Result<Vec<u8>, OutboxError>> {
        async move {
            let found = self
                .api
                .get_file(&file.reference)
                .await
                .map_err(outbox_error)?;
            let bytes = self
                .api
                .download_file(&found, limit)
                .await
                .map_err(outbox_error)?;
            Ok(bytes.to_vec())
        }
        .boxed()
    }

    fn send_file<'a>(
        &'a self,
        chat: &'a str,
        name: &'a str,
        bytes: bytes::Bytes,
        reply_to: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<String>, OutboxError>> {
        async move {
            let chat = Self::chat(chat)?;
            let _ = self
                .api
                .send_chat_action(chat, ChatAction::UploadDocument)
                .await;
            let reply_to = reply_to.and_then(|id| id.parse().ok());
            let sent = self
                .api
                .send_document(chat, name, bytes, reply_to)
                .await
                .map_err(outbox_error)?;
            Ok(Some(sent.message_id.to_string()))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn bot() -> User {
        serde_json::from_value(json!({"id": 1, "is_bot": true, "username": "b_bot"})).unwrap()
    }

    fn message(extra: serde_json::Value) -> Message {
        let mut message = json!({
            "message_id": 9,
            "chat": {"id": 555, "type": "private"},
            "from": {"id": 555, "is_bot": false, "first_name": "A"},
        });
        message
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(message).unwrap()
    }

    #[test]
    fn a_document_or_the_largest_photo_is_a_file_and_a_caption_its_text() {
        let document = message(json!({
            "caption": "read this",
            "document": {"file_id": "D1", "file_unique_id": "u", "file_name": "../../etc/x.sh",
                         "mime_type": "text/x-sh", "file_size": 12},
        }));
        let read = inbound(&bot(), &document).unwrap();
        assert_eq!(read.text, "read this");
        assert_eq!(
            read.files,
            [InboundFile {
                reference: "D1".into(),
                // The sender's name as given: the edge makes it safe.
                name: Some("../../etc/x.sh".into()),
                size: Some(12),
            }]
        );
        let photo = message(json!({
            "photo": [
                {"file_id": "small", "file_unique_id": "a", "width": 90, "height": 90, "file_size": 1000},
                {"file_id": "large", "file_unique_id": "b", "width": 1280, "height": 1280},
            ],
        }));
        // No caption: the file alone is the message.
        let read = inbound(&bot(), &photo).unwrap();
        assert_eq!(read.text, "");
        assert_eq!(
            read.files,
            [InboundFile {
                reference: "large".into(),
                name: Some("photo-9.jpg".into()),
                size: None,
            }]
        );
        // Neither text nor a file: nothing for the dispatch.
        assert!(inbound(&bot(), &message(json!({}))).is_none());
    }
}
