//! Answering in Slack through the Web API.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::api::{SlackApi, SlackError};
use crate::chunk::{self, ChunkLimit};
use crate::outbox::{Outbox, OutboxError};

/// Answers in a Slack conversation; message ids are Slack's `ts`.
#[derive(Debug, Clone)]
pub struct SlackOutbox {
    api: Arc<SlackApi>,
}

impl SlackOutbox {
    pub fn new(api: Arc<SlackApi>) -> Self {
        Self { api }
    }
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

fn outbox_error(e: SlackError) -> OutboxError {
    match e {
        SlackError::RetryAfter { secs, .. } => OutboxError::RetryAfter(Duration::from_secs(secs)),
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
    use super::escape;

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
