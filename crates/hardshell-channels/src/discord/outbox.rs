//! Answers in a Discord channel through the REST API; the owner's questions
//! with two buttons under them.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::api::{DiscordApi, DiscordError};
use crate::chunk::{self, ChunkLimit};
use crate::outbox::{Outbox, OutboxError};

/// The channel's [`Outbox`]: replies threaded to the message they answer,
/// pinging no one, edited as a streamed answer grows.
#[derive(Debug, Clone)]
pub struct DiscordOutbox {
    api: Arc<DiscordApi>,
}

impl DiscordOutbox {
    pub fn new(api: Arc<DiscordApi>) -> Self {
        Self { api }
    }
}

fn outbox_error(e: DiscordError) -> OutboxError {
    match e {
        DiscordError::RetryAfter { wait } => OutboxError::RetryAfter(wait),
        other => OutboxError::Failed(other.to_string()),
    }
}

impl Outbox for DiscordOutbox {
    fn limit(&self) -> ChunkLimit {
        chunk::DISCORD
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
            self.api
                .create_message(chat, text, reply_to)
                .await
                .map(Some)
                .map_err(outbox_error)
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
            self.api
                .ask(chat, text, approval, reply_to)
                .await
                .map(Some)
                .map_err(outbox_error)
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
            self.api
                .edit_message(chat, message, text)
                .await
                .map_err(outbox_error)
        }
        .boxed()
    }

    fn typing<'a>(&'a self, chat: &'a str) -> BoxFuture<'a, Result<(), OutboxError>> {
        async move { self.api.typing(chat).await.map_err(outbox_error) }.boxed()
    }
}
