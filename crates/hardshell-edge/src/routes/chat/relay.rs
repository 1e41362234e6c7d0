//! A chat turn's events: the agent's, checked, merged with what the
//! edge itself says about the session's commands. A question the agent
//! announces is shown only as the edge holds it for this session, once; how it
//! ended and which commands ran are the edge's alone.

use std::collections::HashSet;

use futures::StreamExt;
use hardshell_protocol::TurnEvent;
use hardshell_protocol::chat::{ChatEvent, CommandDecision};
use tokio::sync::broadcast;

use super::chat_event;
use hardshell_exec::{ExecEvent, ExecService, RunDecision};

/// The agent's stream for one session, with the edge's news about it.
pub(super) struct Relay<C> {
    pub(super) session: String,
    pub(super) turn: futures::stream::BoxStream<'static, TurnEvent>,
    /// Subscribed before the turn started, so none of its commands is missed.
    pub(super) exec_events: Option<broadcast::Receiver<ExecEvent>>,
    /// The agent's browser's screenshots, as the edge kept them.
    pub(super) shots: Option<broadcast::Receiver<hardshell_browser::Shot>>,
    /// What of the agent's events is shown, and as what.
    pub(super) check: C,
}

impl<C> Relay<C>
where
    C: FnMut(TurnEvent) -> Option<ChatEvent> + Send + 'static,
{
    /// Until the agent's stream ends.
    pub(super) fn events(self) -> impl futures::Stream<Item = ChatEvent> + Send + 'static {
        futures::stream::unfold(self, |mut relay| async move {
            let event = relay.next_event().await?;
            Some((event, relay))
        })
    }

    async fn next_event(&mut self) -> Option<ChatEvent> {
        loop {
            let exec_news = async {
                match &mut self.exec_events {
                    Some(events) => events.recv().await,
                    None => std::future::pending().await,
                }
            };
            let shot = async {
                match &mut self.shots {
                    Some(shots) => shots.recv().await,
                    None => std::future::pending().await,
                }
            };
            // The edge's news first: a command's announcement comes before
            // the agent's report of it.
            tokio::select! {
                biased;
                shot = shot => match shot {
                    Ok(shot) if shot.session == self.session => {
                        return Some(ChatEvent::Screenshot { id: shot.id });
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => self.shots = None,
                },
                news = exec_news => match news {
                    Ok(news) if news.session() == self.session => return Some(exec_event(&news)),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(count)) => {
                        return Some(ChatEvent::CommandsMissed { count });
                    }
                    Err(broadcast::error::RecvError::Closed) => self.exec_events = None,
                },
                event = self.turn.next() => {
                    if let Some(shown) = (self.check)(event?) {
                        return Some(shown);
                    }
                }
            }
        }
    }
}

/// What becomes of an event of the agent's.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Checked {
    /// Passed on, as this event.
    Shown(ChatEvent),
    /// Not the agent's to say (how a question ended), and not suspicious.
    Withheld,
    /// A question the edge does not hold for this session: not shown, audited.
    Unheld,
}

/// The agent's event as the session's client sees it. A question shows the
/// edge's own text for the id, only if the edge holds that id for this
/// session, and once (`asked`: the ids shown so far in this stream).
pub(crate) fn checked(
    exec: Option<&ExecService>,
    session: &str,
    asked: &mut HashSet<String>,
    event: TurnEvent,
) -> Checked {
    match event {
        TurnEvent::ApprovalRequested { id, .. } if asked.contains(&id) => Checked::Withheld,
        TurnEvent::ApprovalRequested { id, .. } => {
            match exec.and_then(|exec| exec.question(session, &id)) {
                Some(question) => {
                    let shown = ChatEvent::Approval {
                        command: question.command,
                        id: id.clone(),
                        reason: question.reason.map(str::to_owned),
                    };
                    asked.insert(id);
                    Checked::Shown(shown)
                }
                None => Checked::Unheld,
            }
        }
        // How a question ended is the edge's to say (`ExecEvent::Resolved`).
        TurnEvent::ApprovalResolved { .. } => Checked::Withheld,
        event => chat_event(&event).map_or(Checked::Withheld, Checked::Shown),
    }
}

/// What the edge says about a session's commands.
pub(super) fn exec_event(event: &ExecEvent) -> ChatEvent {
    match event {
        ExecEvent::Running {
            command, decision, ..
        } => ChatEvent::Command {
            command: command.clone(),
            decision: match decision {
                RunDecision::Allowed => CommandDecision::Allowed,
                RunDecision::Approved => CommandDecision::Approved,
            },
        },
        ExecEvent::Resolved { id, ran, .. } => ChatEvent::ApprovalResolved {
            approved: *ran,
            id: id.clone(),
        },
        ExecEvent::File { file, .. } => ChatEvent::File {
            id: file.id.clone(),
            name: file.name.clone(),
            size: file.size,
        },
    }
}
