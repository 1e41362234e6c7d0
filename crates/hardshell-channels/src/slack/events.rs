//! Slack's events (api.slack.com/events), as Socket Mode envelopes and
//! Events API deliveries both carry them: an `event_callback` whose `event`
//! is a `message` or an `app_mention`. Only a person's new message becomes
//! an [`Inbound`] (with the files it shares, `file_share`); everything else
//! (a bot's message, the bot's own, an edit, a join, a deletion: any other
//! `subtype`) is dropped here, before the dispatch. Every id is checked against the form Slack gives it, and a
//! delivery seen before (by `event_id`, and the same message arriving both
//! as `message` and as `app_mention`, by channel and `ts`) is dropped.

use serde::Deserialize;
use tokio::sync::mpsc;

use super::api::BotIdentity;
use super::interactive::{self, Command, CommandFields, Press};
use crate::dispatch::{Inbound, InboundFile, Place};
use crate::verify::SeenIds;
use crate::{Platform, Sender};

/// Slack's limit on a message's text is 40,000 characters; in bytes, at
/// most four times that. A longer text is no message Slack sends.
pub(super) const MAX_TEXT_BYTES: usize = 160_000;
/// Event ids (and message keys) remembered for dropping repeats: Slack
/// retries within minutes, far fewer deliveries than this.
const SEEN_CAPACITY: usize = 4096;
/// The most files one message shares: Slack's own limit.
const MAX_FILES: usize = 10;
/// The longest file URL or name kept; Slack's are far shorter.
const MAX_FILE_FIELD_BYTES: usize = 2048;

/// An `event_callback`, the outer shape of every event delivery.
#[derive(Debug, Deserialize)]
pub(crate) struct Callback {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub event_id: Option<String>,
    /// Kept as JSON until it is read: events of other kinds (a
    /// `channel_created`'s `channel` is an object) must not make the whole
    /// delivery unreadable, or Slack would retry it and then turn the
    /// subscription off.
    #[serde(default)]
    pub event: Option<serde_json::Value>,
}

/// The fields of a `message` or `app_mention` event the channel reads.
#[derive(Debug, Deserialize)]
pub(crate) struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    subtype: Option<String>,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    hidden: bool,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    channel_type: Option<String>,
    #[serde(default)]
    user: Option<String>,
    /// The sender's own workspace (it differs from the delivery's in a
    /// channel shared with another workspace).
    #[serde(default)]
    user_team: Option<String>,
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
    /// The files a `file_share` message shares, each read on its own: one
    /// of another shape is dropped, not the message.
    #[serde(default)]
    files: Vec<serde_json::Value>,
}

/// The fields of a shared file the channel reads (api.slack.com/types/file).
#[derive(Debug, Deserialize)]
struct SharedFile {
    /// Where the file is fetched, with the bot token; absent when Slack
    /// withholds it (`file_access: "check_file_info"`).
    url_private: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    size: Option<u64>,
}

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// An event, queued for the channel's run.
    Queued,
    /// A delivery id seen before: a retry, or a replay.
    Duplicate,
    /// Not an event: nothing to do.
    Ignored,
    /// The queue is full: dropped, and logged.
    Dropped,
}

/// What waits for the channel's run, in the order it came: an event, or
/// the slash command (a message too, so it takes its turn after those
/// before it).
#[derive(Debug)]
pub(crate) enum Delivery {
    Event(Callback),
    Command(Command),
}

/// The first stage, where deliveries arrive (the Socket Mode reader, the
/// webhook): each `event_callback` queued once by its `event_id`, each
/// slash command and button press once by its `trigger_id`. It needs
/// nothing from Slack, so a webhook can take deliveries before the channel
/// has read its bot's identity. Presses have their own queue: the question
/// they answer holds up the turn that asked it, so they cannot wait
/// behind it.
#[derive(Debug)]
pub(crate) struct Inbox {
    events: SeenIds,
    triggers: SeenIds,
    queue: mpsc::Sender<Delivery>,
    presses: mpsc::Sender<Press>,
    /// The slash command answered (`/hardshell`); others are ignored.
    command: String,
}

impl Inbox {
    pub fn new(
        queue: mpsc::Sender<Delivery>,
        presses: mpsc::Sender<Press>,
        command: impl Into<String>,
    ) -> Self {
        Self {
            events: SeenIds::new(SEEN_CAPACITY),
            triggers: SeenIds::new(SEEN_CAPACITY),
            queue,
            presses,
            command: command.into(),
        }
    }

    /// Takes an interaction payload: a press of a button, once; any other
    /// interaction is ignored.
    pub fn take_interaction(&mut self, payload: &serde_json::Value) -> Taken {
        match interactive::press(payload) {
            Some(press) => self.take_press(press),
            None => Taken::Ignored,
        }
    }

    /// Takes a slash command's fields: the app's command, once; another
    /// command, or fields not as Slack sends them, are ignored.
    pub fn take_slash_command(&mut self, fields: CommandFields) -> Taken {
        match interactive::command(fields, &self.command) {
            Some(command) => self.take_command(command),
            None => Taken::Ignored,
        }
    }

    /// Takes one slash command, once.
    fn take_command(&mut self, command: Command) -> Taken {
        if !self.triggers.first_time(&command.trigger) {
            return Taken::Duplicate;
        }
        match self.queue.try_send(Delivery::Command(command)) {
            Ok(()) => Taken::Queued,
            Err(_) => {
                tracing::warn!("slack: the event queue is full; a slash command was dropped");
                Taken::Dropped
            }
        }
    }

    /// Takes one button press, once.
    fn take_press(&mut self, press: Press) -> Taken {
        if !self.triggers.first_time(&press.trigger) {
            return Taken::Duplicate;
        }
        match self.presses.try_send(press) {
            Ok(()) => Taken::Queued,
            Err(_) => {
                tracing::warn!("slack: the press queue is full; a button press was dropped");
                Taken::Dropped
            }
        }
    }

    /// Takes one `event_callback` (anything else Slack sends is ignored).
    pub fn take(&mut self, callback: Callback) -> Taken {
        if callback.kind != "event_callback" || callback.event.is_none() {
            return Taken::Ignored;
        }
        let Some(event_id) = callback.event_id.as_deref() else {
            return Taken::Ignored;
        };
        if !self.events.first_time(event_id) {
            return Taken::Duplicate;
        }
        match self.queue.try_send(Delivery::Event(callback)) {
            Ok(()) => Taken::Queued,
            Err(_) => {
                tracing::warn!("slack: the event queue is full; an event was dropped");
                Taken::Dropped
            }
        }
    }
}

/// The second stage, in the channel's run once the bot is known: a
/// person's new message becomes an [`Inbound`], once.
#[derive(Debug)]
pub(crate) struct Reader {
    bot: BotIdentity,
    messages: SeenIds,
}

impl Reader {
    pub fn new(bot: BotIdentity) -> Self {
        Self {
            bot,
            messages: SeenIds::new(SEEN_CAPACITY),
        }
    }

    /// The message for the dispatch, with its key (`channel:ts`); `None`
    /// for what is not a person's new message, or one already read (as the
    /// other of `message` and `app_mention`).
    pub fn read(&mut self, callback: &Callback) -> Option<(String, Inbound)> {
        let event = Event::deserialize(callback.event.as_ref()?).ok()?;
        let (key, inbound) = self.inbound(&event, callback.team_id.as_deref())?;
        self.messages.first_time(&key).then_some((key, inbound))
    }

    /// A person's message and its key (`channel:ts`); `None` for anything else.
    fn inbound(&self, event: &Event, team_id: Option<&str>) -> Option<(String, Inbound)> {
        let shares_files = event.subtype.as_deref() == Some("file_share");
        if (event.subtype.is_some() && !shares_files) || event.bot_id.is_some() || event.hidden {
            return None;
        }
        let user = event.user.as_deref()?;
        if user == self.bot.user_id {
            return None;
        }
        let channel = event.channel.as_deref().filter(|c| is_id(c))?;
        let ts = event.ts.as_deref().filter(|t| is_ts(t))?;
        let thread = match event.thread_ts.as_deref() {
            Some(thread) if is_ts(thread) => Some(thread),
            Some(_) => return None,
            None => None,
        };
        let text = event.text.as_deref()?;
        if text.len() > MAX_TEXT_BYTES {
            return None;
        }
        let place = match (event.kind.as_str(), event.channel_type.as_deref()) {
            ("app_mention", _) => Place::Group { mentioned: true },
            ("message", Some("im")) => Place::Direct,
            ("message", Some("channel" | "group" | "mpim")) => Place::Group {
                mentioned: self.mentions(text),
            },
            _ => return None,
        };
        let team = event
            .user_team
            .as_deref()
            .or(event.team.as_deref())
            .or(team_id)?;
        let sender = Sender::parse(Platform::Slack, &format!("{team}:{user}")).ok()?;
        // In a channel the answer goes in the message's thread, so it does
        // not interleave with others' talk; in a direct chat it follows the
        // message, threaded only if the person wrote in a thread.
        let message = match place {
            Place::Direct => thread,
            Place::Group { .. } => Some(thread.unwrap_or(ts)),
        };
        let inbound = Inbound {
            sender,
            chat: channel.to_owned(),
            place,
            text: unescape(text),
            message: message.map(str::to_owned),
            files: files(&event.files),
        };
        Some((format!("{channel}:{ts}"), inbound))
    }

    /// Whether `text` mentions the bot: `<@U…>` or `<@U…|name>`.
    fn mentions(&self, text: &str) -> bool {
        let bare = format!("<@{}>", self.bot.user_id);
        let named = format!("<@{}|", self.bot.user_id);
        text.contains(&bare) || text.contains(&named)
    }
}

/// The files a message shares, as the platform describes them: at most
/// [`MAX_FILES`], each with a URL (which only the outbox reads, and only
/// fetches from Slack's files host) and bounded fields.
fn files(shared: &[serde_json::Value]) -> Vec<InboundFile> {
    shared
        .iter()
        .filter_map(|file| SharedFile::deserialize(file).ok())
        .filter(|file| {
            file.url_private.len() <= MAX_FILE_FIELD_BYTES
                && file
                    .name
                    .as_ref()
                    .is_none_or(|n| n.len() <= MAX_FILE_FIELD_BYTES)
        })
        .take(MAX_FILES)
        .map(|file| InboundFile {
            reference: file.url_private,
            name: file.name,
            size: file.size,
        })
        .collect()
}

/// A message's text as its writer typed it: Slack escapes `&`, `<` and `>`
/// (and only those) in `text`; `&amp;` last, so `&amp;lt;` stays `&lt;`.
pub(super) fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// An id as Slack writes them, a channel's (`C…`, `D…`, `G…`), a user's
/// (`U…`, `W…`) or a team's (`T…`, `E…`): upper-case letters and digits.
pub(super) fn is_id(text: &str) -> bool {
    (2..=32).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A message timestamp: `1700000000.000100`.
pub(super) fn is_ts(text: &str) -> bool {
    text.split_once('.').is_some_and(|(secs, micros)| {
        (1..=16).contains(&secs.len())
            && (1..=8).contains(&micros.len())
            && secs.bytes().all(|b| b.is_ascii_digit())
            && micros.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
#[path = "events/tests.rs"]
mod tests;
