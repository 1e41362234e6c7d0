//! Answers in a Discord channel through the REST API; the owner's questions
//! with two buttons under them.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::api::{DiscordApi, DiscordError, DownloadError};
use crate::chunk::{self, ChunkLimit};
use crate::dispatch::InboundFile;
use crate::outbox::{Outbox, OutboxError};

/// The channel's [`Outbox`]: replies threaded to the message they answer,
/// pinging no one, edited as a streamed answer grows.
#[derive(Debug, Clone)]
pub struct DiscordOutbox {
    api: Arc<DiscordApi>,
    /// Where attachments may be fetched from.
    cdn_hosts: Arc<[String]>,
}

impl DiscordOutbox {
    /// Fetching attachments from Discord's own CDN only.
    pub fn new(api: Arc<DiscordApi>) -> Self {
        let cdn_hosts = hardshell_config::Discord::default().cdn_hosts;
        Self::with_cdn_hosts(api, cdn_hosts)
    }

    /// Fetching attachments from `cdn_hosts` only
    /// (`[channels.discord] cdn_hosts`).
    pub fn with_cdn_hosts(api: Arc<DiscordApi>, cdn_hosts: Vec<String>) -> Self {
        Self {
            api,
            cdn_hosts: cdn_hosts.into(),
        }
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

    fn fetch<'a>(
        &'a self,
        file: &'a InboundFile,
        limit: u64,
    ) -> BoxFuture<'a, Result<Vec<u8>, OutboxError>> {
        async move {
            self.api
                .download(&file.reference, &self.cdn_hosts, limit)
                .await
                .map_err(|e| match e {
                    DownloadError::TooLarge => OutboxError::TooLarge { limit },
                    DownloadError::NotCdn => OutboxError::Failed(e.to_string()),
                    DownloadError::Failed(e) => outbox_error(e),
                })
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
                .upload(chat, name, bytes, reply_to)
                .await
                .map(Some)
                .map_err(outbox_error)
        }
        .boxed()
    }
}
