//! Slack's interactions, as Socket Mode envelopes (`interactive`,
//! `slash_commands`) and signed HTTP deliveries (a form whose `payload` is
//! the interaction's JSON, or a slash command's fields) both carry them:
//! a press of a question's button (`block_actions`,
//! api.slack.com/reference/interaction-payloads/block-actions-payload) and
//! the app's slash command (api.slack.com/interactivity/slash-commands).
//!
//! Nothing in them is trusted but the ids, each checked against the form
//! Slack gives it; the sender is the immutable team and user ids, never a
//! name. Each is taken once, by its `trigger_id` (Slack's id of one
//! interaction), so a delivery retried, or replayed within the signature's
//! window, does nothing twice.

use serde::Deserialize;

use super::events::{MAX_TEXT_BYTES, is_id, is_ts, unescape};
use crate::dispatch::{Inbound, Place};
use crate::{Platform, Sender};

/// The longest button value read: Slack's own limit on one.
const MAX_VALUE_BYTES: usize = 2000;
/// The longest `trigger_id` remembered; Slack's are a few dozen characters.
const MAX_TRIGGER_BYTES: usize = 128;
/// The slash command answered when the config names none.
pub const DEFAULT_COMMAND: &str = "/hardshell";

/// A press of one button of a message the bot posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Press {
    pub trigger: String,
    pub sender: Sender,
    /// The presser's user id, to show them alone what came of it.
    pub user: String,
    pub channel: String,
    pub place: Place,
    /// The button's `value`, as the dispatch reads it.
    pub value: String,
    /// The pressed message's `ts`, whose buttons the outcome replaces.
    pub message: Option<String>,
    /// The pressed message's text as the writer (the bot) wrote it.
    pub question: Option<String>,
}

/// The app's slash command, as one of its users typed it.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub trigger: String,
    pub inbound: Inbound,
}

/// Where a conversation is: a direct message's id begins with `D` (Slack's
/// ids say what they name: `C` a channel, `G` a private one or a group
/// message, `D` a direct message); everything else is read by others.
fn place_of(channel: &str, mentioned: bool) -> Place {
    if channel.starts_with('D') {
        Place::Direct
    } else {
        Place::Group { mentioned }
    }
}

fn is_trigger(text: &str) -> bool {
    (1..=MAX_TRIGGER_BYTES).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

/// The fields of a `block_actions` payload the channel reads.
#[derive(Debug, Deserialize)]
struct BlockActions {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    trigger_id: Option<String>,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    team: Option<Named>,
    #[serde(default)]
    channel: Option<Named>,
    #[serde(default)]
    container: Option<Container>,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    actions: Vec<Action>,
}

#[derive(Debug, Deserialize)]
struct User {
    id: String,
    /// The presser's own workspace (another one's in a shared channel).
    #[serde(default)]
    team_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Named {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Container {
    #[serde(default)]
    message_ts: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Action {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    value: Option<String>,
}

/// A press of a button, from an interaction payload; `None` for any other
/// interaction (a shortcut, a modal), or one that is not as Slack sends it.
pub(crate) fn press(payload: &serde_json::Value) -> Option<Press> {
    let actions = BlockActions::deserialize(payload).ok()?;
    if actions.kind != "block_actions" {
        return None;
    }
    let trigger = actions.trigger_id.filter(|t| is_trigger(t))?;
    // One click is one action; anything else is no press of ours.
    let [action] = actions.actions.as_slice() else {
        return None;
    };
    if action.kind != "button" {
        return None;
    }
    let value = action
        .value
        .as_deref()
        .filter(|v| v.len() <= MAX_VALUE_BYTES)?;
    let user = actions.user?;
    let team = user
        .team_id
        .clone()
        .or(actions.team.map(|t| t.id))
        .filter(|t| is_id(t))?;
    if !is_id(&user.id) {
        return None;
    }
    let container = actions.container;
    let channel = actions
        .channel
        .map(|c| c.id)
        .or_else(|| container.as_ref().and_then(|c| c.channel_id.clone()))
        .filter(|c| is_id(c))?;
    let message = container.and_then(|c| c.message_ts).filter(|ts| is_ts(ts));
    let question = actions
        .message
        .and_then(|m| m.text)
        .filter(|t| t.len() <= MAX_TEXT_BYTES)
        .map(|t| unescape(&t));
    Some(Press {
        trigger,
        sender: Sender::parse(Platform::Slack, &format!("{team}:{}", user.id)).ok()?,
        user: user.id,
        place: place_of(&channel, false),
        channel,
        value: value.to_owned(),
        message,
        question,
    })
}

/// A slash command's fields, as its form (HTTP) or its envelope's payload
/// (Socket Mode) carries them.
#[derive(Debug, Deserialize)]
pub(crate) struct CommandFields {
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    trigger_id: Option<String>,
}

/// The slash command `name` as a message for the dispatch: no text, or
/// `new`, starts a new conversation (`/new`); anything else is a message
/// to the agent. In a channel it counts as addressed to the bot (a command
/// names the app). `None` for another command, or fields not as Slack
/// sends them.
pub(crate) fn command(fields: CommandFields, name: &str) -> Option<Command> {
    if fields.command.as_deref() != Some(name) {
        return None;
    }
    let trigger = fields.trigger_id.filter(|t| is_trigger(t))?;
    let team = fields.team_id.filter(|t| is_id(t))?;
    let user = fields.user_id.filter(|u| is_id(u))?;
    let channel = fields.channel_id.filter(|c| is_id(c))?;
    let text = fields.text.unwrap_or_default();
    if text.len() > MAX_TEXT_BYTES {
        return None;
    }
    let text = unescape(text.trim());
    let text = if text.is_empty() || text == "new" {
        "/new".to_owned()
    } else {
        text
    };
    let inbound = Inbound {
        sender: Sender::parse(Platform::Slack, &format!("{team}:{user}")).ok()?,
        place: place_of(&channel, true),
        chat: channel,
        text,
        // A command is no message: the answer starts its own.
        message: None,
        files: Vec::new(),
    };
    Some(Command { trigger, inbound })
}

/// What a signed form delivery is: an interaction (`payload=` JSON) or a
/// slash command (its fields); `None` when it is neither, or has a field
/// twice (Slack never repeats one).
pub(crate) enum Form {
    Interaction(serde_json::Value),
    Command(CommandFields),
    /// Slack checking the route's certificate (`ssl_check=1`): answered,
    /// nothing done.
    SslCheck,
}

pub(crate) fn form(body: &[u8]) -> Option<Form> {
    let mut fields = serde_json::Map::new();
    for (key, value) in url::form_urlencoded::parse(body) {
        let previous = fields.insert(key.into_owned(), value.into_owned().into());
        if previous.is_some() {
            return None;
        }
    }
    if fields.get("ssl_check").and_then(|v| v.as_str()) == Some("1") {
        return Some(Form::SslCheck);
    }
    if let Some(payload) = fields.get("payload") {
        let payload = serde_json::from_str(payload.as_str()?).ok()?;
        return Some(Form::Interaction(payload));
    }
    let fields = CommandFields::deserialize(serde_json::Value::Object(fields)).ok()?;
    fields.command.is_some().then_some(Form::Command(fields))
}

#[cfg(test)]
#[path = "interactive/tests.rs"]
mod tests;
