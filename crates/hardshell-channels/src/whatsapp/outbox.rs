//! Answering in a WhatsApp chat: text messages, each a reply to the user's
//! message; no edits (the Cloud API cannot edit a sent message), and the
//! typing indicator shown on the message being answered. Files: a user's
//! fetched by media id (see `api::media`), the agent's sent as documents.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::api::{WhatsappApi, WhatsappError};
use crate::chunk::{self, ChunkLimit};
use crate::dispatch::InboundFile;
use crate::outbox::{Outbox, OutboxError};

/// The outbox of one inbound message's answer.
pub(super) struct WhatsappOutbox {
    pub(super) api: Arc<WhatsappApi>,
    /// The message being answered: the Cloud API shows "typing" only as part
    /// of marking a received message read.
    pub(super) answering: Option<String>,
}

fn outbox_error(e: WhatsappError) -> OutboxError {
    match e {
        WhatsappError::RateLimited { retry_after, .. } => OutboxError::RetryAfter(retry_after),
        WhatsappError::FileTooLarge { limit } => OutboxError::TooLarge { limit },
        other => OutboxError::Failed(other.to_string()),
    }
}

impl Outbox for WhatsappOutbox {
    fn limit(&self) -> ChunkLimit {
        chunk::WHATSAPP
    }

    fn edits(&self) -> bool {
        false
    }

    fn send<'a>(
        &'a self,
        chat: &'a str,
        text: &'a str,
        reply_to: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<String>, OutboxError>> {
        async move {
            self.api
                .send_text(chat, text, reply_to)
                .await
                .map(Some)
                .map_err(outbox_error)
        }
        .boxed()
    }

    fn edit<'a>(
        &'a self,
        _chat: &'a str,
        _message: &'a str,
        _text: &'a str,
    ) -> BoxFuture<'a, Result<(), OutboxError>> {
        async {
            Err(OutboxError::Failed(
                "whatsapp cannot edit a sent message".into(),
            ))
        }
        .boxed()
    }

    fn typing<'a>(&'a self, _chat: &'a str) -> BoxFuture<'a, Result<(), OutboxError>> {
        async move {
            match &self.answering {
                Some(message) => self
                    .api
                    .mark_read_typing(message)
                    .await
                    .map_err(outbox_error),
                // Nothing to tie the indicator to: the chat simply shows none.
                None => Ok(()),
            }
        }
        .boxed()
    }

    fn fetch<'a>(
        &'a self,
        file: &'a InboundFile,
        limit: u64,
    ) -> BoxFuture<'a, Result<Vec<u8>, OutboxError>> {
        async move {
            self.api
                .fetch_media(&file.reference, limit)
                .await
                .map_err(outbox_error)
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
            self.api
                .send_document(chat, name, bytes, reply_to)
                .await
                .map(Some)
                .map_err(outbox_error)
        }
        .boxed()
    }
}
