//! Answering in Slack through the Web API.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;

use serde_json::{Value, json};

use super::api::{SlackApi, SlackError};
use crate::chunk::{self, ChunkLimit, LengthUnit};
use crate::dispatch::{InboundFile, press_data};
use crate::outbox::{Outbox, OutboxError};

/// The most characters of one section block's text (Block Kit's limit).
const SECTION_CHARS: usize = 3000;
/// The most section blocks a question takes: a message holds at most 50
/// blocks, and the buttons take one.
const MAX_SECTIONS: usize = 40;

/// Answers in a Slack conversation; message ids are Slack's `ts`.
#[derive(Debug, Clone)]
pub struct SlackOutbox {
    api: Arc<SlackApi>,
}

impl SlackOutbox {
    pub fn new(api: Arc<SlackApi>) -> Self {
        Self { api }
    }

    /// Replaces question `message` in `chat` (`question` its text, when the
    /// press carried it) with the text and what came of the press, without
    /// its buttons, so it is answered once and shows how.
    pub(crate) async fn settle(
        &self,
        chat: &str,
        message: &str,
        question: Option<&str>,
        outcome: &str,
    ) -> Result<(), OutboxError> {
        let text = match question {
            Some(question) => format!("{question}\n\n{outcome}"),
            None => outcome.to_owned(),
        };
        self.api
            .update_blocks(chat, message, &escape(&text), &json!([]))
            .await
            .map_err(outbox_error)
    }

    /// Shows `text` to `user` alone in `chat`.
    pub(crate) async fn tell(&self, chat: &str, user: &str, text: &str) -> Result<(), OutboxError> {
        self.api
            .post_ephemeral(chat, user, &escape(text))
            .await
            .map_err(outbox_error)
    }
}

/// A question as Block Kit: its text in sections (escaped as every text
/// the bot posts), then the two buttons whose values the dispatch reads
/// back; `None` when the text needs more sections than a message holds.
fn question_blocks(text: &str, approval: &str) -> Option<Value> {
    let sections = sections(text);
    if sections.len() > MAX_SECTIONS {
        return None;
    }
    let mut blocks: Vec<Value> = sections
        .into_iter()
        .map(|piece| json!({"type": "section", "text": {"type": "mrkdwn", "text": piece}}))
        .collect();
    let button = |action: &str, label: &str, style: &str, approve: bool| {
        json!({
            "type": "button",
            "action_id": action,
            "text": {"type": "plain_text", "text": label},
            "style": style,
            "value": press_data(approval, approve),
        })
    };
    blocks.push(json!({
        "type": "actions",
        "elements": [
            button("run", "Run it", "primary", true),
            button("skip", "Don't run", "danger", false),
        ],
    }));
    Some(Value::Array(blocks))
}

/// `text` escaped, in pieces of at most [`SECTION_CHARS`] characters, cut
/// where the chunker cuts (code fences closed and reopened). Escaping
/// makes a character up to five (`&amp;`), so a piece that grew past the
/// limit is cut again smaller; a fifth of the limit always fits.
fn sections(text: &str) -> Vec<String> {
    let cut = |max: usize| -> Vec<String> {
        let limit = ChunkLimit {
            max,
            unit: LengthUnit::Chars,
        };
        chunk::split(text, limit)
            .iter()
            .map(|p| escape(p))
            .collect()
    };
    for max in [SECTION_CHARS, SECTION_CHARS / 2] {
        let pieces = cut(max);
        if pieces.iter().all(|p| p.chars().count() <= SECTION_CHARS) {
            return pieces;
        }
    }
    cut(SECTION_CHARS / 5)
}

/// The agent's text as Slack shows it literally: `&`, `<` and `>` escaped,
/// as api.slack.com/reference/surfaces/formatting#escaping asks, so nothing
/// the agent writes becomes a control sequence (`<!channel>` notifying
/// everyone, `<@U…>` pinging a person, `<url|label>` disguising a link).
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A file's name as Slack is given it: the agent's, without control or
/// reordering characters, cut; `file` when nothing is left.
fn file_name(name: &str) -> String {
    let cleaned = crate::network::clean(name, &[]);
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        "file".to_owned()
    } else {
        cleaned.to_owned()
    }
}

fn outbox_error(e: SlackError) -> OutboxError {
    match e {
        SlackError::RetryAfter { secs, .. } => OutboxError::RetryAfter(Duration::from_secs(secs)),
        SlackError::TooLarge { limit } => OutboxError::TooLarge { limit },
        other => OutboxError::Failed(other.to_string()),
    }
}

impl Outbox for SlackOutbox {
    fn limit(&self) -> ChunkLimit {
        chunk::SLACK
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
                .post_message(chat, &escape(text), reply_to)
                .await
                .map(Some)
                .map_err(outbox_error)
        }
        .boxed()
    }

    /// The question with Block Kit buttons, "Run it" and "Don't run"; as
    /// plain text (no buttons) if it is too long for one message's blocks.
    fn ask<'a>(
        &'a self,
        chat: &'a str,
        text: &'a str,
        approval: &'a str,
        reply_to: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<String>, OutboxError>> {
        async move {
            let Some(blocks) = question_blocks(text, approval) else {
                return self.send(chat, text, reply_to).await;
            };
            self.api
                .post_blocks(chat, &escape(text), &blocks, reply_to)
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
                .update(chat, message, &escape(text))
                .await
                .map_err(outbox_error)
        }
        .boxed()
    }

    /// A shared file's bytes, fetched from Slack's files host alone (the
    /// request carries the bot token), at most `limit` of them.
    fn fetch<'a>(
        &'a self,
        file: &'a InboundFile,
        limit: u64,
    ) -> BoxFuture<'a, Result<Vec<u8>, OutboxError>> {
        async move {
            if file.size.is_some_and(|size| size > limit) {
                return Err(OutboxError::TooLarge { limit });
            }
            self.api
                .download(&file.reference, limit)
                .await
                .map_err(outbox_error)
        }
        .boxed()
    }

    /// The file by Slack's external upload; Slack names no message for it.
    fn send_file<'a>(
        &'a self,
        chat: &'a str,
        name: &'a str,
        bytes: bytes::Bytes,
        reply_to: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<String>, OutboxError>> {
        async move {
            let name = file_name(name);
            self.api
                .upload(chat, &name, bytes, reply_to)
                .await
                .map(|_| None)
                .map_err(outbox_error)
        }
        .boxed()
    }

    /// Nothing: Slack's Web API has no typing indicator for a bot (the old
    /// RTM `typing` message went with RTM, and Socket Mode carries only
    /// acknowledgements to Slack). A reply shown as it is written, by
    /// `chat.update`, tells the person the bot is at work instead.
    fn typing<'a>(&'a self, _chat: &'a str) -> BoxFuture<'a, Result<(), OutboxError>> {
        async { Ok(()) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_question_is_cut_into_sections_within_block_kits_limit() {
        // Escaping makes each `&` five characters: cut once, 3000 would
        // become 15,000.
        let text = format!("```\n{}\n```\nRun it?", "&".repeat(3400));
        let pieces = sections(&text);
        assert!(pieces.len() > 1);
        for piece in &pieces {
            assert!(piece.chars().count() <= SECTION_CHARS, "{}", piece.len());
            let fences = piece.matches("```").count();
            assert_eq!(fences % 2, 0, "each piece's fence closed: {piece}");
        }
        let joined: String = pieces.concat();
        assert_eq!(joined.matches("&amp;").count(), 3400, "nothing lost");
        assert!(!joined.replace("&amp;", "").contains('&'));
    }

    #[test]
    fn a_question_too_long_for_one_message_has_no_blocks() {
        let blocks = question_blocks("short?", "id1").unwrap();
        assert_eq!(blocks.as_array().unwrap().len(), 2);
        assert!(question_blocks(&"& ".repeat(70_000), "id1").is_none());
    }

    #[test]
    fn control_sequences_are_shown_not_obeyed() {
        assert_eq!(
            escape("<!channel> a & b <@U1|x> <https://e.x|ok>"),
            "&lt;!channel&gt; a &amp; b &lt;@U1|x&gt; &lt;https://e.x|ok&gt;"
        );
        assert_eq!(
            escape("&lt;"),
            "&amp;lt;",
            "text that looks escaped stays as written"
        );
    }
}
