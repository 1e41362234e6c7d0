//! What a platform adapter offers the dispatch for answering: send a message
//! (threaded to the one it answers), edit one it sent, show that the bot is
//! typing, each within the platform's limits.

use std::time::Duration;

use futures::future::BoxFuture;

use crate::chunk::ChunkLimit;
use crate::dispatch::InboundFile;

/// Why the platform did not take a message.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The platform asked to wait (HTTP 429 and its `retry_after`).
    #[error("the platform asks to wait {0:?}")]
    RetryAfter(Duration),
    /// A file is larger than the bound it was fetched or sent within.
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The platform has no way to do this here.
    #[error("{0}")]
    Unsupported(&'static str),
    /// Anything else; the text is for the log and holds no token.
    #[error("{0}")]
    Failed(String),
}

/// A platform's way of answering in a chat.
pub trait Outbox: Send + Sync {
    /// How long one message may be.
    fn limit(&self) -> ChunkLimit;

    /// Whether a sent message can be edited, so a reply can be shown as it
    /// is written.
    fn edits(&self) -> bool;

    /// Sends `text` to `chat`, as a reply to message `reply_to` when given;
    /// the new message's id, when the platform gives one.
    fn send<'a>(
        &'a self,
        chat: &'a str,
        text: &'a str,
        reply_to: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<String>, OutboxError>>;

    /// Sends the owner's question `text` (command `approval` waiting for a
    /// yes or no) to `chat`, with buttons to answer where the platform has
    /// them (their data: [`crate::dispatch::press_data`]); by default as
    /// plain text that says how to answer it in words (`/yes <approval>`).
    fn ask<'a>(
        &'a self,
        chat: &'a str,
        text: &'a str,
        approval: &'a str,
        reply_to: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<String>, OutboxError>> {
        Box::pin(async move {
            let text =
                format!("{text}\nAnswer \"/yes {approval}\" to run it, or \"/no {approval}\".");
            self.send(chat, &text, reply_to).await
        })
    }

    /// Replaces the text of message `message` in `chat`.
    fn edit<'a>(
        &'a self,
        chat: &'a str,
        message: &'a str,
        text: &'a str,
    ) -> BoxFuture<'a, Result<(), OutboxError>>;

    /// Shows that the bot is typing in `chat`, for a few seconds.
    fn typing<'a>(&'a self, chat: &'a str) -> BoxFuture<'a, Result<(), OutboxError>>;

    /// Fetches the bytes of a file attached to a message, at most `limit`
    /// of them: a larger file is [`OutboxError::TooLarge`], whatever size
    /// the platform announced.
    fn fetch<'a>(
        &'a self,
        file: &'a InboundFile,
        limit: u64,
    ) -> BoxFuture<'a, Result<Vec<u8>, OutboxError>> {
        let _ = (file, limit);
        Box::pin(async {
            Err(OutboxError::Unsupported(
                "files from this platform are not fetched",
            ))
        })
    }

    /// Sends a file, `name` with `bytes`, to `chat` (as a document, never
    /// as something the client runs), as a reply to `reply_to` when given;
    /// the new message's id, when the platform gives one.
    fn send_file<'a>(
        &'a self,
        chat: &'a str,
        name: &'a str,
        bytes: bytes::Bytes,
        reply_to: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<String>, OutboxError>> {
        let _ = (chat, name, bytes, reply_to);
        Box::pin(async {
            Err(OutboxError::Unsupported(
                "files are not sent to this platform",
            ))
        })
    }
}
