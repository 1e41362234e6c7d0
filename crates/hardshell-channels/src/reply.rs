//! A turn's answer in a chat: shown as it is written where the platform can
//! edit a message (one edit per [`EDIT_EVERY`] at most, within the
//! platform's rate limits), then sent whole, cut into the platform's message
//! length with code fences balanced across the pieces, in order, each piece
//! a reply to the sender's message.
//!
//! What the chat is shown of a turn is the edge's checked events: text, a
//! question for the owner as the edge holds it, a failure's message. Tool
//! activity and screenshots are not sent (a screenshot is the owner's, on
//! the chat page).

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use hardshell_protocol::chat::ChatEvent;
use tokio::time::Instant;

use crate::chunk;
use crate::outbox::{Outbox, OutboxError};

/// Least time between two edits of a streamed answer. Telegram allows about
/// one message a second in a chat; Slack's `chat.update` about one a second
/// per channel; Discord five in five seconds.
pub const EDIT_EVERY: Duration = Duration::from_millis(1500);
/// Typing indicators last about five seconds on every platform.
const TYPING_EVERY: Duration = Duration::from_secs(4);
/// Tries of one send when the platform asks to wait.
const TRIES: u32 = 3;
/// Longest wait honoured; a platform asking for more has stopped us for now.
const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// Runs `attempt` again after the wait a platform asked for (429 and its
/// `retry_after`), up to [`TRIES`] times.
pub async fn with_retry<T, F, Fut>(mut attempt: F) -> Result<T, OutboxError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, OutboxError>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(OutboxError::RetryAfter(wait)) if tries < TRIES && wait <= LONGEST_WAIT => {
                tracing::info!(?wait, "the platform asked to wait before sending");
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

/// Where a question goes that the one reading this chat may not answer: to
/// the owner, in their own direct chat.
pub(crate) trait Forward: Send + Sync {
    /// Puts question `id`, as `asked`, to the owner; whether it was.
    fn forward<'f>(&'f self, id: &'f str, asked: &'f str) -> BoxFuture<'f, bool>;
}

/// Where the files the agent shares in the turn's session are fetched from:
/// the edge's own copies.
pub(crate) trait SharedFiles: Send + Sync {
    /// File `id`'s name and bytes.
    fn file(&self, id: &str) -> Result<(String, bytes::Bytes), String>;
}

/// One turn's answer in one chat.
pub(crate) struct Reply<'a> {
    outbox: &'a dyn Outbox,
    chat: &'a str,
    reply_to: Option<&'a str>,
    text: String,
    /// The message showing the answer as it is written, and what it shows.
    streamed: Option<(String, String)>,
    last_edit: Option<Instant>,
    /// Whether a question is asked with buttons (the owner's own direct chat).
    buttons: bool,
    /// Where questions go when not asked here with buttons.
    forward: Option<&'a dyn Forward>,
    /// Whether the session is the owner's own, whose questions the owner
    /// also answers on the chat page.
    owners_session: bool,
    /// Where shared files come from, and the most bytes one may have here.
    files: Option<(&'a dyn SharedFiles, u64)>,
}

impl<'a> Reply<'a> {
    pub(crate) fn new(outbox: &'a dyn Outbox, chat: &'a str, reply_to: Option<&'a str>) -> Self {
        Self {
            outbox,
            chat,
            reply_to,
            text: String::new(),
            streamed: None,
            last_edit: None,
            buttons: false,
            forward: None,
            owners_session: false,
            files: None,
        }
    }

    /// Files the agent shares are fetched from `files` and sent, up to
    /// `limit` bytes each.
    pub(crate) fn with_files(mut self, files: &'a dyn SharedFiles, limit: u64) -> Self {
        self.files = Some((files, limit));
        self
    }

    /// The session is the owner's own (`yes`): questions not answered here
    /// are answered on the chat page.
    pub(crate) fn owners_session(mut self, yes: bool) -> Self {
        self.owners_session = yes;
        self
    }

    /// Questions this chat may not answer are put to the owner by `forward`.
    pub(crate) fn with_forward(mut self, forward: &'a dyn Forward) -> Self {
        self.forward = Some(forward);
        self
    }

    /// Questions asked with buttons to answer them: only where the one who
    /// reads them may answer (the owner, in their own direct chat).
    pub(crate) fn with_buttons(mut self, buttons: bool) -> Self {
        self.buttons = buttons;
        self
    }

    /// Relays the turn's events until it ends, then sends the answer whole.
    pub(crate) async fn relay(
        mut self,
        mut events: BoxStream<'static, ChatEvent>,
    ) -> Result<(), OutboxError> {
        let mut typing = tokio::time::interval(TYPING_EVERY);
        let mut failure = None;
        loop {
            tokio::select! {
                _ = typing.tick() => {
                    if self.streamed.is_none() {
                        // Best effort: an indicator that fails loses nothing.
                        let _ = self.outbox.typing(self.chat).await;
                    }
                }
                event = events.next() => match event {
                    None | Some(ChatEvent::Done { .. }) => break,
                    Some(ChatEvent::Error { message }) => {
                        failure = Some(message);
                        break;
                    }
                    Some(ChatEvent::Delta { text }) => {
                        self.text.push_str(&text);
                        self.show_progress().await;
                    }
                    Some(ChatEvent::Approval { command, reason, id }) => {
                        self.question(&command, reason.as_deref(), &id).await?;
                    }
                    Some(ChatEvent::File { id, name, size }) => {
                        self.file(&id, &name, size).await?;
                    }
                    Some(ChatEvent::ApprovalResolved { approved, .. }) => {
                        let said = if approved { "The owner approved the command." } else { "The command was not approved." };
                        self.send(said).await?;
                    }
                    Some(_) => {}
                },
            }
        }
        self.finish(failure).await
    }

    /// The edge's question `id`: asked here with buttons in the owner's
    /// own direct chat; anywhere else shown, and put to the owner in theirs.
    async fn question(
        &self,
        command: &str,
        reason: Option<&str>,
        id: &str,
    ) -> Result<(), OutboxError> {
        if self.buttons {
            let asked = question(command, reason, Asked::Here);
            if asked.chars().count() <= MAX_QUESTION_CHARS {
                let (chat, outbox, reply_to) = (self.chat, self.outbox, self.reply_to);
                with_retry(|| outbox.ask(chat, &asked, id, reply_to)).await?;
                return Ok(());
            }
            // Too long for one message with buttons: the chat page answers.
            return self
                .send(&question(command, reason, Asked::Elsewhere))
                .await;
        }
        let forwarded = match self.forward {
            Some(forward) => {
                let asked = question(command, reason, Asked::Here);
                asked.chars().count() <= MAX_QUESTION_CHARS && forward.forward(id, &asked).await
            }
            None => false,
        };
        let how = match (forwarded, self.owners_session) {
            (true, _) => Asked::OfTheOwner,
            (false, true) => Asked::Elsewhere,
            (false, false) => Asked::Nowhere,
        };
        self.send(&question(command, reason, how)).await
    }

    /// A file the agent shared: sent as a document when it arrives (the
    /// answer's text follows when the turn ends), else named with why not.
    async fn file(&mut self, id: &str, name: &str, size: u64) -> Result<(), OutboxError> {
        let Some((files, limit)) = self.files else {
            return self
                .send(&format!(
                    "The assistant shared a file, {name}, which is not sent here."
                ))
                .await;
        };
        if size > limit {
            let said = format!(
                "The assistant shared a file, {name}, too large to send here ({} bytes; at most {limit}).",
                size
            );
            return self.send(&said).await;
        }
        let (name, bytes) = match files.file(id) {
            Ok(file) => file,
            Err(e) => {
                tracing::info!(error = %e, "a shared file is no longer kept");
                return self
                    .send(&format!(
                        "The assistant shared a file, {name}, which is no longer kept."
                    ))
                    .await;
            }
        };
        // What the platform may render is the agent's; what is sent is the
        // edge's copy, whatever size the event claimed.
        if bytes.len() as u64 > limit {
            return self
                .send(&format!(
                    "The assistant shared a file, {name}, too large to send here."
                ))
                .await;
        }
        let (chat, outbox, reply_to) = (self.chat, self.outbox, self.reply_to);
        match with_retry(|| outbox.send_file(chat, &name, bytes.clone(), reply_to)).await {
            Ok(_) => Ok(()),
            Err(OutboxError::Unsupported(why)) => {
                tracing::debug!(why, "a shared file cannot be sent on this platform");
                self.send(&format!(
                    "The assistant shared a file, {name}, which this platform cannot take from it."
                ))
                .await
            }
            // A file the platform refuses (its type, a failure) is said in
            // words; the rest of the answer still goes.
            Err(e) => {
                tracing::warn!(error = %e, "a shared file was not sent");
                self.send(&format!(
                    "The assistant shared a file, {name}, which could not be sent here."
                ))
                .await
            }
        }
    }

    /// Edits the streamed message when the platform can, the answer still
    /// fits in one message, and the last edit is old enough.
    async fn show_progress(&mut self) {
        if !self.outbox.edits()
            || self.text.trim().is_empty()
            || self.last_edit.is_some_and(|at| at.elapsed() < EDIT_EVERY)
            || chunk::split(&self.text, self.outbox.limit()).len() > 1
        {
            return;
        }
        let shown = self.text.clone();
        let result = match &self.streamed {
            None => self
                .outbox
                .send(self.chat, &shown, self.reply_to)
                .await
                .map(|id| id.map(|id| (id, shown.clone()))),
            Some((id, _)) => self
                .outbox
                .edit(self.chat, id, &shown)
                .await
                .map(|()| Some((id.clone(), shown.clone()))),
        };
        self.last_edit = Some(Instant::now());
        match result {
            Ok(Some(streamed)) => self.streamed = Some(streamed),
            Ok(None) => {}
            // Progress is a courtesy: the whole answer is sent at the end.
            Err(e) => tracing::debug!(error = %e, "showing an answer in progress failed"),
        }
    }

    async fn finish(mut self, failure: Option<String>) -> Result<(), OutboxError> {
        let mut pieces = chunk::split(&self.text, self.outbox.limit()).into_iter();
        if let Some((id, shown)) = self.streamed.take()
            && let Some(first) = pieces.next()
            && first != shown
        {
            let (chat, outbox) = (self.chat, self.outbox);
            with_retry(|| outbox.edit(chat, &id, &first)).await?;
        }
        for piece in pieces {
            self.send(&piece).await?;
        }
        if let Some(message) = failure {
            self.send(&message).await?;
        }
        Ok(())
    }

    async fn send(&self, text: &str) -> Result<(), OutboxError> {
        let (chat, outbox, reply_to) = (self.chat, self.outbox, self.reply_to);
        for piece in chunk::split(text, outbox.limit()) {
            with_retry(|| outbox.send(chat, &piece, reply_to)).await?;
        }
        Ok(())
    }
}

/// Longest question sent with buttons: a platform's message must hold it
/// whole (Slack's and Discord's are the shortest, about 4,000).
const MAX_QUESTION_CHARS: usize = 3500;

/// Where a question is answered, as the chat is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    /// With this message's buttons (or its text answer).
    Here,
    /// On hardshell's chat page (the owner's own session).
    Elsewhere,
    /// In the owner's own chat, where it was forwarded.
    OfTheOwner,
    /// Nowhere the owner can be reached from here: it expires unanswered.
    Nowhere,
}

/// The owner's question, as the edge holds it: the command, and why it is
/// asked when it is not the command itself.
fn question(command: &str, reason: Option<&str>, asked: Asked) -> String {
    let fence = if command.contains("```") {
        "~~~"
    } else {
        "```"
    };
    let how = match asked {
        Asked::Here => "Run it?",
        Asked::Elsewhere => "The owner answers on hardshell's chat page.",
        Asked::OfTheOwner => "The owner has been asked in their own chat.",
        Asked::Nowhere => {
            "Only the owner may approve it, and they have no direct chat with this bot to be \
             asked in, so it will not run."
        }
    };
    let mut text =
        format!("The assistant asks to run a command:\n{fence}\n{command}\n{fence}\n{how}");
    if let Some(reason) = reason {
        text.push('\n');
        text.push_str(reason);
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures::FutureExt;
    use futures::future::BoxFuture;

    use super::*;
    use crate::chunk::{ChunkLimit, TELEGRAM};

    /// A platform that asks to wait `waits` times before taking a message,
    /// and keeps what it took.
    struct Flooded {
        waits: Mutex<u32>,
        taken: Mutex<Vec<String>>,
    }

    impl Outbox for Flooded {
        fn limit(&self) -> ChunkLimit {
            TELEGRAM
        }
        fn edits(&self) -> bool {
            false
        }
        fn send<'a>(
            &'a self,
            _: &'a str,
            text: &'a str,
            _: Option<&'a str>,
        ) -> BoxFuture<'a, Result<Option<String>, OutboxError>> {
            async move {
                let mut waits = self
                    .waits
                    .lock()
                    .map_err(|_| OutboxError::Failed("poisoned".into()))?;
                if *waits > 0 {
                    *waits -= 1;
                    return Err(OutboxError::RetryAfter(Duration::from_secs(7)));
                }
                if let Ok(mut taken) = self.taken.lock() {
                    taken.push(text.to_owned());
                }
                Ok(None)
            }
            .boxed()
        }
        fn edit<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, Result<(), OutboxError>> {
            async { Ok(()) }.boxed()
        }
        fn typing<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), OutboxError>> {
            async { Ok(()) }.boxed()
        }
    }

    fn answer(text: &str) -> BoxStream<'static, ChatEvent> {
        let events = vec![
            ChatEvent::Delta { text: text.into() },
            ChatEvent::Done {
                usage: Default::default(),
            },
        ];
        futures::StreamExt::boxed(futures::stream::iter(events))
    }

    #[tokio::test(start_paused = true)]
    async fn a_platforms_wait_is_honoured_before_sending_again() {
        let platform = Flooded {
            waits: Mutex::new(2),
            taken: Mutex::new(Vec::new()),
        };
        let started = Instant::now();
        Reply::new(&platform, "1", None)
            .relay(answer("hello"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // Two waits of 7 s each, on the paused clock: not one attempt early.
        assert!(started.elapsed() >= Duration::from_secs(14));
        assert_eq!(
            *platform.taken.lock().unwrap_or_else(|e| e.into_inner()),
            ["hello"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_platform_that_keeps_asking_to_wait_is_given_up_on() {
        let platform = Flooded {
            waits: Mutex::new(10),
            taken: Mutex::new(Vec::new()),
        };
        let sent = Reply::new(&platform, "1", None)
            .relay(answer("hello"))
            .await;
        assert!(matches!(sent, Err(OutboxError::RetryAfter(_))));
        assert!(
            platform
                .taken
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
        );
    }
}
