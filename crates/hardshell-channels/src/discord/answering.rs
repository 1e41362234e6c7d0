//! What the channel does with an interaction, apart from the messages'
//! queue, so a press is answered at once and never waits behind the turn
//! that asked the question:
//!
//! - a press of a question's button goes to `Dispatcher::press`, which
//!   answers only the owner, in their own direct chat, for the session that
//!   chat continues; the message's buttons are replaced by what came of it,
//!   and any other press gets an answer only its presser sees;
//! - the slash command is acknowledged (deferred, seen only by who typed
//!   it), then queued as a message like any other (a guild's counts as a
//!   mention; empty or `new` starts a new conversation) and the deferred
//!   answer says it was taken.
//!
//! Over the gateway the acknowledgement is the callback, sent here; over
//! HTTP it was the response to Discord's request (a press deferred, a
//! command deferred), so here the interaction's original message is edited
//! or a follow-up sent instead.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::api::DiscordApi;
use super::interaction::{Interaction, Kind, MAX_CONTENT_CHARS};
use crate::dispatch::{Dispatcher, Inbound, Place, Pressed};

/// Interactions waiting to be answered; past it, one is dropped (Discord
/// shows its presser that it failed).
pub(super) const QUEUE: usize = 64;

/// `CHANNEL_MESSAGE_WITH_SOURCE`.
const MESSAGE: u8 = 4;
/// `DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE`: "thinking…" until edited.
const DEFERRED_MESSAGE: u8 = 5;
/// `DEFERRED_UPDATE_MESSAGE`: a press taken, the message edited later.
const DEFERRED_UPDATE: u8 = 6;
/// `UPDATE_MESSAGE`: the pressed message replaced.
const UPDATE_MESSAGE: u8 = 7;
/// The `EPHEMERAL` message flag: only the interaction's user sees it.
const EPHEMERAL: u32 = 1 << 6;

pub(super) const TAKEN: &str = "Taken: the answer follows in this channel.";
pub(super) const BUSY: &str = "Too many messages are waiting: send it again in a moment.";
pub(super) const NOT_OURS: &str = "This assistant has no such command.";
pub(super) const NOT_SUPPORTED: &str =
    "This assistant reads messages and its own command only: write to it instead.";

/// How the interaction came, and so how it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Over the gateway: not acknowledged yet.
    Gateway,
    /// Over HTTP: acknowledged (deferred) in the response to Discord.
    Http,
}

/// An interaction taken, waiting to be answered.
#[derive(Debug)]
pub struct Arrived {
    pub interaction: Interaction,
    pub via: Via,
}

/// What answering needs; see the module.
pub(super) struct Answering {
    pub dispatcher: Arc<Dispatcher>,
    pub api: Arc<DiscordApi>,
    /// The messages' queue, which a command joins.
    pub messages: mpsc::Sender<Inbound>,
    /// The slash command's configured name.
    pub command: String,
}

impl Answering {
    /// Answers interactions one at a time until `stop` turns true.
    pub(super) async fn run(
        self,
        mut arrived: mpsc::Receiver<Arrived>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let next = tokio::select! {
                _ = stop.wait_for(|stop| *stop) => return,
                next = arrived.recv() => next,
            };
            let Some(next) = next else { return };
            self.answer(next).await;
        }
    }

    async fn answer(&self, Arrived { interaction, via }: Arrived) {
        let result = match &interaction.kind {
            Kind::Press { data, question } => {
                let pressed = self.press(&interaction, data).await;
                self.show_pressed(&interaction, via, question, pressed)
                    .await
            }
            Kind::Command { name, text } => {
                self.command(&interaction, via, name == &self.command, text)
                    .await
            }
            Kind::Other => match via {
                Via::Gateway => {
                    self.api
                        .interaction_callback(
                            &interaction.id,
                            &interaction.token,
                            &ephemeral(NOT_SUPPORTED),
                        )
                        .await
                }
                // The endpoint answered it already.
                Via::Http => Ok(()),
            },
        };
        if let Err(e) = result {
            tracing::warn!(interaction = %interaction.id, error = %e, "discord: an interaction was not answered");
        }
    }

    /// What the dispatch makes of a press; a bot's is never the owner's.
    async fn press(&self, interaction: &Interaction, data: &str) -> Pressed {
        let Some(user) = &interaction.user else {
            return Pressed::NotYours;
        };
        self.dispatcher
            .press(user, &interaction.channel, interaction.press_place(), data)
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "discord: a button press could not be read");
                Pressed::Unknown
            })
    }

    /// An answered question loses its buttons and says what came of it; any
    /// other press is told why, where only its presser reads it.
    async fn show_pressed(
        &self,
        interaction: &Interaction,
        via: Via,
        question: &str,
        pressed: Pressed,
    ) -> Result<(), super::api::DiscordError> {
        let answered = matches!(pressed, Pressed::Approved | Pressed::Refused);
        let (id, token, app) = (
            &interaction.id,
            &interaction.token,
            &interaction.application,
        );
        match (via, answered) {
            (Via::Gateway, true) => {
                let update =
                    json!({ "type": UPDATE_MESSAGE, "data": answered_question(question, pressed) });
                self.api.interaction_callback(id, token, &update).await
            }
            (Via::Gateway, false) => {
                let refusal = ephemeral(pressed.notice());
                self.api.interaction_callback(id, token, &refusal).await
            }
            (Via::Http, true) => {
                let message = answered_question(question, pressed);
                self.api.edit_original(app, token, &message).await
            }
            (Via::Http, false) => {
                let message = ephemeral_message(pressed.notice());
                self.api.follow_up(app, token, &message).await
            }
        }
    }

    /// Acknowledges the command, queues its text as a message and says it
    /// was taken.
    async fn command(
        &self,
        interaction: &Interaction,
        via: Via,
        ours: bool,
        text: &str,
    ) -> Result<(), super::api::DiscordError> {
        let (token, app) = (&interaction.token, &interaction.application);
        if via == Via::Gateway {
            self.api
                .interaction_callback(&interaction.id, token, &deferred_command())
                .await?;
        }
        let note = match (&interaction.user, ours) {
            (Some(sender), true) => {
                let text = text.trim();
                let text = if text.is_empty() || text.eq_ignore_ascii_case("new") {
                    "/new".to_owned()
                } else {
                    text.to_owned()
                };
                let inbound = Inbound {
                    sender: sender.clone(),
                    chat: interaction.channel.clone(),
                    place: if interaction.in_guild {
                        // Typing the bot's own command addresses it.
                        Place::Group { mentioned: true }
                    } else {
                        Place::Direct
                    },
                    text,
                    message: None,
                    files: Vec::new(),
                };
                match self.messages.try_send(inbound) {
                    Ok(()) => TAKEN,
                    Err(_) => {
                        tracing::warn!("discord: too many messages waiting; a command was refused");
                        BUSY
                    }
                }
            }
            _ => NOT_OURS,
        };
        let edit = json!({ "content": note, "allowed_mentions": { "parse": [] } });
        self.api.edit_original(app, token, &edit).await
    }
}

/// The question with what came of the press under it, its buttons gone.
fn answered_question(question: &str, pressed: Pressed) -> Value {
    let notice = pressed.notice();
    let room = MAX_CONTENT_CHARS.saturating_sub(notice.chars().count() + 2);
    let question: String = question.chars().take(room).collect();
    let content = if question.is_empty() {
        notice.to_owned()
    } else {
        format!("{question}\n\n{notice}")
    };
    json!({ "content": content, "components": [], "allowed_mentions": { "parse": [] } })
}

fn ephemeral_message(text: &str) -> Value {
    json!({ "content": text, "flags": EPHEMERAL, "allowed_mentions": { "parse": [] } })
}

/// A message answering the interaction that only its user sees.
pub(super) fn ephemeral(text: &str) -> Value {
    json!({ "type": MESSAGE, "data": ephemeral_message(text) })
}

/// A command's acknowledgement: "thinking…", seen only by who typed it.
pub(super) fn deferred_command() -> Value {
    json!({ "type": DEFERRED_MESSAGE, "data": { "flags": EPHEMERAL } })
}

/// A press's acknowledgement: the message is edited later.
pub(super) fn deferred_update() -> Value {
    json!({ "type": DEFERRED_UPDATE })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answered_question_keeps_its_text_within_a_message() {
        let answered = answered_question("Run `ls`?", Pressed::Approved);
        assert_eq!(answered["content"], "Run `ls`?\n\nRunning it.");
        assert_eq!(answered["components"], json!([]));
        let long = "q".repeat(MAX_CONTENT_CHARS);
        let answered = answered_question(&long, Pressed::Refused);
        let content = answered["content"].as_str().unwrap_or_default();
        assert_eq!(content.chars().count(), MAX_CONTENT_CHARS);
        assert!(content.ends_with("\n\nNot running it."), "{content}");
    }
}
