//! One inbound message, from a platform adapter, to its end: refused, given
//! a pairing code, or a turn of the agent answered in the chat.
//!
//! The order is the security order, and nothing reaches the agent before
//! the last step:
//! 1. a group message only from an allowlisted group, and only when it
//!    mentions the bot;
//! 2. a sender outside the channel's `allow` (when it has one) is refused;
//! 3. a sender nobody paired gets a pairing code in a direct chat (or,
//!    `unpaired = "silent"`, nothing), never a model call or a tool;
//! 4. a paired sender's message is a turn of the agent as the principal its
//!    pairing names, in the session of that chat.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use hardshell_audit::AuditLog;
use hardshell_audit::event::{AuditEvent, ChannelMessageRefused, ChannelRefusal, PairingRequested};

use crate::agent::Agent;
use crate::conversations::{ConversationError, Conversations};
use crate::outbox::Outbox;
use crate::pairing::{Code, PairingError, Pairings, Request};
use crate::reply::Reply;
use crate::{ChannelRole, Platform, Sender};

mod files;

/// Where a message was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// A direct chat between the sender and the bot.
    Direct,
    /// A group chat; `mentioned` when the message names the bot.
    Group { mentioned: bool },
}

/// A message a platform adapter received and authenticated (it came over the
/// connection the edge opened, or a webhook whose signature was verified),
/// written by a person: adapters drop bots' messages, the bot's own first.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Inbound {
    pub sender: Sender,
    /// The platform's id of the chat, as the adapter answers in it.
    pub chat: String,
    pub place: Place,
    pub text: String,
    /// The platform's id of the message, which the answer replies to.
    pub message: Option<String>,
    /// Files attached to the message, fetched only once the sender is
    /// known to be paired.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<InboundFile>,
}

/// A file attached to an inbound message, as the platform describes it.
/// Nothing in it is trusted: the name is the sender's, the size the
/// platform's claim (the fetch is bounded whatever it says).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InboundFile {
    /// The platform's handle to fetch it by, which only the adapter reads
    /// (Telegram's `file_id`, WhatsApp's media id, Slack's `url_private`,
    /// Discord's attachment URL).
    pub reference: String,
    /// The name the sender gave it, if any.
    #[serde(default)]
    pub name: Option<String>,
    /// Its size as the platform announced it, if it did.
    #[serde(default)]
    pub size: Option<u64>,
}

/// What a sender nobody paired is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpaired {
    /// A pairing code, and nothing about the owner.
    Code,
    /// Nothing: the owner pairs senders by their id (`hardshell pair add`).
    Silent,
}

/// A channel's rules, from its part of `[channels]`.
#[derive(Debug, Clone)]
pub struct ChannelRules {
    pub platform: Platform,
    /// Only these may ask for a code; empty: anyone.
    pub allow: Vec<Sender>,
    /// Group chats the bot answers in when mentioned.
    pub groups: Vec<String>,
    pub unpaired: Unpaired,
}

/// How a message ended, for the adapter's log and the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// A group message that did not mention the bot: not for it.
    NotAddressed,
    Refused(ChannelRefusal),
    /// A code was sent to the sender.
    CodeSent,
    /// The sender already has a code and was told it recently: nothing said.
    Quiet,
    /// `/new`: the next message starts a new session.
    NewSession,
    /// A turn ran and was answered.
    Answered,
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Pairing(#[from] PairingError),
    #[error(transparent)]
    Conversations(#[from] ConversationError),
    #[error("the agent is not answering: {0}")]
    Agent(String),
    #[error("sending to the chat: {0}")]
    Send(String),
}

/// Refusals recorded per platform in a window; past it they are counted and
/// logged once, so strangers writing to the bot cannot fill the audit log.
const REFUSALS_PER_WINDOW: u32 = 60;
const REFUSAL_WINDOW: Duration = Duration::from_secs(600);

/// One channel's dispatch; see the module.
pub struct Dispatcher {
    rules: ChannelRules,
    pairings: Pairings,
    conversations: Conversations,
    agent: Arc<dyn Agent>,
    audit: Arc<AuditLog>,
    refusals: Mutex<RefusalBudget>,
    /// The most bytes one attached file may have.
    max_file_bytes: u64,
    /// Questions of others' conversations put to the owner in their own
    /// chat, by the key their answer carries.
    forwarded: Mutex<Forwarded>,
}

/// `[channels] max_file_mb`'s default, in bytes.
const DEFAULT_MAX_FILE_BYTES: u64 = 10 << 20;

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    pub fn new(
        rules: ChannelRules,
        pairings: Pairings,
        conversations: Conversations,
        agent: Arc<dyn Agent>,
        audit: Arc<AuditLog>,
    ) -> Self {
        Self {
            rules,
            pairings,
            conversations,
            agent,
            audit,
            refusals: Mutex::new(RefusalBudget::default()),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            forwarded: Mutex::new(Forwarded::default()),
        }
    }

    /// Bounds each file a sender attaches at `bytes` (`[channels]
    /// max_file_mb`).
    #[must_use]
    pub fn with_max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }

    pub fn platform(&self) -> Platform {
        self.rules.platform
    }

    /// Handles one message to its end (the turn included), answering through
    /// `outbox`. An `Err` is the edge's trouble (storage, the agent, the
    /// platform), never the sender's input.
    pub async fn handle(
        &self,
        inbound: Inbound,
        outbox: &dyn Outbox,
    ) -> Result<Handled, DispatchError> {
        let rules = &self.rules;
        if let Place::Group { mentioned } = inbound.place {
            if !rules.groups.contains(&inbound.chat) {
                return Ok(self.refuse(&inbound, ChannelRefusal::GroupNotAllowed));
            }
            if !mentioned {
                return Ok(Handled::NotAddressed);
            }
        }
        if !rules.allow.is_empty() && !rules.allow.contains(&inbound.sender) {
            return Ok(self.refuse(&inbound, ChannelRefusal::SenderNotAllowed));
        }
        let Some(pairing) = self.pairings.paired(&inbound.sender).await? else {
            return self.unpaired(&inbound, outbox).await;
        };
        let subject = pairing.subject();
        let command = inbound.text.trim();
        let reply_to = inbound.message.as_deref();
        let owner = pairing.role == ChannelRole::Owner;
        if let Some(data) = spoken_answer(command) {
            // Words standing for a question's button, where the platform has
            // none: the same checks as a press.
            let pressed = self
                .press(&inbound.sender, &inbound.chat, inbound.place, &data)
                .await?;
            send(outbox, &inbound.chat, pressed.notice(), reply_to).await?;
            return Ok(Handled::Answered);
        }
        let fresh_start = command == "/new" || command.starts_with("/new@");
        let channel = rules.platform.as_str();
        let owners_direct_chat = owner && inbound.place == Place::Direct;
        let session = self
            .conversations
            .session(
                &inbound.sender,
                &inbound.chat,
                &subject,
                fresh_start,
                owners_direct_chat,
                || self.agent.new_session(channel, &subject),
            )
            .await?;
        if fresh_start {
            send(outbox, &inbound.chat, NEW_SESSION, reply_to).await?;
            return Ok(Handled::NewSession);
        }
        let mut text = inbound.text.clone();
        if !inbound.files.is_empty() {
            let saved = files::Attachments {
                agent: self.agent.as_ref(),
                outbox,
                subject: &subject,
                session: &session,
                limit: self.max_file_bytes,
            }
            .save_all(&inbound)
            .await;
            if let Some(refusals) = files::refusals(&saved) {
                send(outbox, &inbound.chat, &refusals, reply_to).await?;
            }
            text = files::announce(&text, &saved);
        }
        let events = match self
            .agent
            .send(&subject, &session, text, request_id())
            .await
        {
            Ok(events) => events,
            Err(e) => {
                // The sender is told, so the message is not silently lost;
                // why is the edge's business, for its log.
                let _ = send(outbox, &inbound.chat, UNAVAILABLE, reply_to).await;
                return Err(DispatchError::Agent(e));
            }
        };
        // Only the owner answers questions, and only where no one else
        // reads: here, or in their own chat, where others' are forwarded.
        let to_owner = ToOwner {
            dispatcher: self,
            outbox,
            session: &session,
            asker: &inbound.sender,
        };
        let shared = SessionFiles {
            agent: self.agent.as_ref(),
            subject: &subject,
            session: &session,
        };
        Reply::new(outbox, &inbound.chat, reply_to)
            .with_buttons(owners_direct_chat)
            .owners_session(owner)
            .with_forward(&to_owner)
            .with_files(&shared, self.max_file_bytes)
            .relay(events)
            .await
            .map_err(|e| DispatchError::Send(e.to_string()))?;
        Ok(Handled::Answered)
    }

    /// A press of one of a question's buttons (`data` as the button
    /// carried it) by `sender` in `chat`. Answered only for the owner, in
    /// their own direct chat, and only for the session that chat continues;
    /// a press anywhere else answers nothing.
    pub async fn press(
        &self,
        sender: &Sender,
        chat: &str,
        place: Place,
        data: &str,
    ) -> Result<Pressed, DispatchError> {
        let Some((approval, approve)) = parse_press(data) else {
            return Ok(Pressed::NotAQuestion);
        };
        let owner = self
            .pairings
            .paired(sender)
            .await?
            .is_some_and(|p| p.role == ChannelRole::Owner);
        if !owner || place != Place::Direct {
            return Ok(Pressed::NotYours);
        }
        if approval.starts_with(FORWARDED) {
            return Ok(self.answer_forwarded(approval, approve));
        }
        let subject = crate::pairing::OWNER_SUBJECT;
        let Some(session) = self.conversations.current(sender, chat, subject).await? else {
            return Ok(Pressed::Unknown);
        };
        match self.agent.answer(subject, &session, approval, approve) {
            Ok(()) => Ok(if approve {
                Pressed::Approved
            } else {
                Pressed::Refused
            }),
            Err(why) => {
                tracing::info!(why, "a question's button answered nothing");
                Ok(Pressed::Unknown)
            }
        }
    }

    /// The owner answers a question forwarded to them: the session and the
    /// question are the dispatch's own record of what it forwarded.
    fn answer_forwarded(&self, key: &str, approve: bool) -> Pressed {
        let Some(question) = self.forwarded_lock().take(key) else {
            return Pressed::Unknown;
        };
        match self
            .agent
            .answer_as_owner(&question.session, &question.approval, approve)
        {
            Ok(()) if approve => Pressed::Approved,
            Ok(()) => Pressed::Refused,
            Err(why) => {
                tracing::info!(why, "a forwarded question's answer answered nothing");
                Pressed::Unknown
            }
        }
    }

    fn forwarded_lock(&self) -> std::sync::MutexGuard<'_, Forwarded> {
        self.forwarded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn unpaired(
        &self,
        inbound: &Inbound,
        outbox: &dyn Outbox,
    ) -> Result<Handled, DispatchError> {
        // A code is never posted where others read it, and never when the
        // owner chose silence.
        if inbound.place != Place::Direct || self.rules.unpaired == Unpaired::Silent {
            return Ok(self.refuse(inbound, ChannelRefusal::Unpaired));
        }
        match self.pairings.request(&inbound.sender, Utc::now()).await? {
            Request::Quiet => Ok(Handled::Quiet),
            Request::Code(code) => {
                self.audit
                    .note(AuditEvent::PairingRequested(PairingRequested {
                        sender: inbound.sender.clone(),
                    }));
                let text = code_message(&code);
                send(outbox, &inbound.chat, &text, inbound.message.as_deref()).await?;
                Ok(Handled::CodeSent)
            }
        }
    }

    fn refuse(&self, inbound: &Inbound, reason: ChannelRefusal) -> Handled {
        // A poisoned budget is still a budget: a panic elsewhere must not
        // turn the records off.
        let record = self
            .refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if record {
            self.audit
                .note(AuditEvent::ChannelMessageRefused(ChannelMessageRefused {
                    platform: self.rules.platform,
                    sender: Some(inbound.sender.clone()),
                    reason,
                }));
        }
        tracing::debug!(platform = %self.rules.platform, sender = %inbound.sender, ?reason, "channel message refused");
        Handled::Refused(reason)
    }
}

const NEW_SESSION: &str = "Started a new conversation.";

/// How a forwarded question's key begins; the edge's own question ids are
/// hex, so never this.
const FORWARDED: &str = "g_";
/// Forwarded questions kept at once; the oldest give way. The edge expires
/// a question long before a hundred more are asked of one owner.
const MAX_FORWARDED: usize = 128;

/// A question of another's conversation, put to the owner.
#[derive(Debug, Clone)]
struct ForwardedQuestion {
    session: String,
    approval: String,
}

/// Forwarded questions by key, oldest first.
#[derive(Debug, Default)]
struct Forwarded {
    questions: std::collections::VecDeque<(String, ForwardedQuestion)>,
}

impl Forwarded {
    /// Keeps `question` under a new random key, which the answer carries.
    fn keep(&mut self, question: ForwardedQuestion) -> Option<String> {
        let mut bytes = [0u8; 10];
        getrandom::fill(&mut bytes).ok()?;
        let key = format!("{FORWARDED}{}", hex::encode(bytes));
        if self.questions.len() >= MAX_FORWARDED {
            self.questions.pop_front();
        }
        self.questions.push_back((key.clone(), question));
        Some(key)
    }

    /// The question kept under `key`, taken: a key answers once.
    fn take(&mut self, key: &str) -> Option<ForwardedQuestion> {
        let at = self.questions.iter().position(|(kept, _)| kept == key)?;
        self.questions.remove(at).map(|(_, question)| question)
    }
}

/// Puts a conversation's question to the owner, in the direct chat they last
/// wrote in on this platform.
struct ToOwner<'a> {
    dispatcher: &'a Dispatcher,
    outbox: &'a dyn Outbox,
    session: &'a str,
    asker: &'a Sender,
}

impl crate::reply::Forward for ToOwner<'_> {
    fn forward<'f>(&'f self, id: &'f str, asked: &'f str) -> futures::future::BoxFuture<'f, bool> {
        Box::pin(async move {
            let platform = self.dispatcher.rules.platform;
            let chat = match self.dispatcher.conversations.owner_chat(platform).await {
                Ok(Some(chat)) => chat,
                Ok(None) => return false,
                Err(e) => {
                    tracing::warn!(error = %e, "the owner's chat could not be read");
                    return false;
                }
            };
            let question = ForwardedQuestion {
                session: self.session.to_owned(),
                approval: id.to_owned(),
            };
            let Some(key) = self.dispatcher.forwarded_lock().keep(question) else {
                return false;
            };
            // The asker is named by the platform's id, which the owner paired.
            let text = format!("In {}'s conversation: {asked}", self.asker);
            match crate::reply::with_retry(|| self.outbox.ask(&chat, &text, &key, None)).await {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "a question could not be put to the owner");
                    self.dispatcher.forwarded_lock().take(&key);
                    false
                }
            }
        })
    }
}

/// The files shared in one turn's session, from the edge.
struct SessionFiles<'a> {
    agent: &'a dyn Agent,
    subject: &'a str,
    session: &'a str,
}

impl crate::reply::SharedFiles for SessionFiles<'_> {
    fn file(&self, id: &str) -> Result<(String, bytes::Bytes), String> {
        self.agent.file(self.subject, self.session, id)
    }
}

/// `/yes KEY` or `/no KEY` (a question's answer in words) as the button's
/// data it stands for.
fn spoken_answer(text: &str) -> Option<String> {
    let (word, key) = text.split_once(' ')?;
    let approve = match word {
        "/yes" => true,
        "/no" => false,
        _ => return None,
    };
    let data = press_data(key.trim(), approve);
    parse_press(&data).is_some().then_some(data)
}

/// What a press of a question's button did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pressed {
    Approved,
    Refused,
    /// Not the owner, or not in the owner's own direct chat.
    NotYours,
    /// No such question waits in this chat's session (answered, expired).
    Unknown,
    /// Not a question's button.
    NotAQuestion,
}

impl Pressed {
    /// What the presser is shown.
    pub fn notice(self) -> &'static str {
        match self {
            Pressed::Approved => "Running it.",
            Pressed::Refused => "Not running it.",
            Pressed::NotYours => "Only the owner answers, in their own chat.",
            Pressed::Unknown => "That question is no longer waiting.",
            Pressed::NotAQuestion => "Nothing to answer.",
        }
    }
}

/// A question's button data: `x:<question id>:1` (run it) or `:0`.
pub fn press_data(approval: &str, approve: bool) -> String {
    format!("x:{approval}:{}", u8::from(approve))
}

fn parse_press(data: &str) -> Option<(&str, bool)> {
    let rest = data.strip_prefix("x:")?;
    let (approval, answer) = rest.rsplit_once(':')?;
    let approve = match answer {
        "1" => true,
        "0" => false,
        _ => return None,
    };
    let id_ok = (1..=60).contains(&approval.len())
        && approval
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    id_ok.then_some((approval, approve))
}
const UNAVAILABLE: &str = "The assistant is not available right now, so this message was not read. Please send it again later.";

/// What an unpaired sender is told: the code and what to do with it, and
/// nothing about whose assistant this is.
pub fn code_message(code: &Code) -> String {
    let code = code.expose();
    let (first, second) = code.split_at(code.len() / 2);
    format!(
        "This assistant only talks to people its owner has approved.\n\
         To ask for access, give the owner this pairing code: {first}-{second}\n\
         It expires in one hour."
    )
}

async fn send(
    outbox: &dyn Outbox,
    chat: &str,
    text: &str,
    reply_to: Option<&str>,
) -> Result<(), DispatchError> {
    crate::reply::with_retry(|| outbox.send(chat, text, reply_to))
        .await
        .map(drop)
        .map_err(|e| DispatchError::Send(e.to_string()))
}

/// 96 random bits, hex, as the edge makes its own.
fn request_id() -> String {
    let mut bytes = [0u8; 12];
    match getrandom::fill(&mut bytes) {
        Ok(()) => hex::encode(bytes),
        Err(_) => format!(
            "t{:x}",
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ),
    }
}

#[derive(Debug, Default)]
struct RefusalBudget {
    window_start: Option<std::time::Instant>,
    recorded: u32,
    dropped: u64,
}

impl RefusalBudget {
    /// Whether this refusal is recorded.
    fn take(&mut self) -> bool {
        let now = std::time::Instant::now();
        let fresh = self
            .window_start
            .is_none_or(|start| now.duration_since(start) >= REFUSAL_WINDOW);
        if fresh {
            if self.dropped > 0 {
                tracing::warn!(
                    dropped = self.dropped,
                    "channel refusals past the audit budget were not recorded"
                );
            }
            *self = RefusalBudget {
                window_start: Some(now),
                recorded: 0,
                dropped: 0,
            };
        }
        if self.recorded < REFUSALS_PER_WINDOW {
            self.recorded += 1;
            true
        } else {
            self.dropped += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests;
