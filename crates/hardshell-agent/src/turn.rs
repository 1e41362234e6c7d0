//! The turn loop: one user message in, a reply out, with the model calling tools
//! in between.
//!
//! Order of a turn, each step persisted before the next begins so a restart
//! resumes the conversation where it stopped:
//! 1. refuse an empty or oversized message before anything is stored;
//! 2. wait for any other turn on the same session to finish;
//! 3. store the user message and, meanwhile, ask the model; tell the client
//!    `Accepted` once the message is stored, and stream the model's text to
//!    it only after that (a failed store drops the model call);
//! 4. from the second step on, ask the model, streaming its text;
//! 5. if it called tools: store its message, run the calls, store the results,
//!    and go back to 4, at most `max_steps` times;
//! 6. store the final reply and send `Done`.
//!
//! Steps 2 to 6 run under the per-turn time limit. Every way out ends with exactly
//! one `Done` or `Failed` event and a [`TurnOutcome`].

mod reply;
mod sink;
mod tools;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use hardshell_llm::{ChatRequest, Content, Message, Role, Usage};

use crate::history;
use crate::model::DynModel;
use crate::{
    Clock, Model, OwnerTimeZone, SessionId, SessionStore, ToolContext, ToolRegistry, Workspace,
    prompt,
};

pub use hardshell_protocol::{
    ToolCallRecord, TurnEnd, TurnEvent, TurnFailure, TurnOutcome, TurnRefusal,
};
use sink::Held;
pub use sink::TurnSink;

use reply::{ReplyError, read_reply};

/// Limits of a turn. [`Default`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// Model calls per turn (default 8).
    pub max_steps: u32,
    /// Wall-clock limit of a turn, from acceptance to the last event (default 120 s).
    pub turn_timeout: Duration,
    /// Largest user message accepted, in bytes (default 32 KiB).
    pub max_user_message_bytes: usize,
    /// Most earlier messages sent to the model (default 40).
    pub history_messages: usize,
    /// Character budget for the messages sent to the model; the current turn is
    /// always sent whole (default 48 000).
    pub history_chars: usize,
    /// Longest tool result given to the model, in bytes; longer ones are cut
    /// (default 16 KiB).
    pub max_tool_output_bytes: usize,
    /// Tool calls run per model reply; further calls get an error result (default 16).
    pub max_calls_per_step: usize,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            max_steps: 8,
            turn_timeout: Duration::from_secs(120),
            max_user_message_bytes: 32 * 1024,
            history_messages: 40,
            history_chars: 48_000,
            max_tool_output_bytes: 16 * 1024,
            max_calls_per_step: 16,
            max_tokens: 4096,
            temperature: None,
        }
    }
}

/// Everything an [`Agent`] is built from.
pub struct AgentParts<M> {
    pub model: M,
    pub tools: ToolRegistry,
    pub sessions: SessionStore,
    pub workspace: Workspace,
    pub clock: Arc<dyn Clock>,
    pub time_zone: OwnerTimeZone,
    pub config: AgentConfig,
}

/// The agent: runs turns against a model, with tools, over stored sessions.
pub struct Agent {
    model: Box<dyn DynModel>,
    tools: ToolRegistry,
    sessions: SessionStore,
    workspace: Workspace,
    clock: Arc<dyn Clock>,
    time_zone: OwnerTimeZone,
    config: AgentConfig,
    /// One lock per session with a turn running, so two turns of one conversation
    /// never interleave their messages. Weak: a lock lives only while in use.
    session_locks: Mutex<HashMap<SessionId, Weak<tokio::sync::Mutex<()>>>>,
}

/// What a turn has done so far; kept outside the timed part so a timeout still
/// reports it.
struct Progress {
    user_seq: Option<u64>,
    steps: u32,
    tool_calls: Vec<ToolCallRecord>,
    usage: Usage,
}

impl Agent {
    pub fn new<M: Model>(parts: AgentParts<M>) -> Self {
        Self {
            model: Box::new(parts.model),
            tools: parts.tools,
            sessions: parts.sessions,
            workspace: parts.workspace,
            clock: parts.clock,
            time_zone: parts.time_zone,
            config: parts.config,
            session_locks: Mutex::new(HashMap::new()),
        }
    }

    pub fn sessions(&self) -> &SessionStore {
        &self.sessions
    }

    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// Runs one turn of `session` for `user_text`, sending events to `sink` as they
    /// happen. Never panics on bad input and never outlives the turn time limit.
    pub async fn turn(
        &self,
        session: &SessionId,
        user_text: &str,
        sink: &mut dyn TurnSink,
    ) -> TurnOutcome {
        let mut progress = Progress {
            user_seq: None,
            steps: 0,
            tool_calls: Vec::new(),
            usage: Usage::default(),
        };
        let end = match self.check_message(user_text) {
            Err(refusal) => {
                sink.emit(TurnEvent::Failed {
                    message: refusal.user_message(),
                });
                TurnEnd::Refused(refusal)
            }
            Ok(()) => {
                let limit = self.config.turn_timeout;
                let run = self.run(session, user_text, &mut progress, sink);
                let end = match tokio::time::timeout(limit, run).await {
                    Ok(Ok(())) => TurnEnd::Completed,
                    Ok(Err(failure)) => TurnEnd::Failed(failure),
                    Err(_) => TurnEnd::Failed(TurnFailure::TimedOut {
                        limit_secs: limit.as_secs(),
                    }),
                };
                sink.emit(match &end {
                    TurnEnd::Failed(failure) => TurnEvent::Failed {
                        message: failure.user_message(),
                    },
                    _ => TurnEvent::Done {
                        usage: progress.usage,
                    },
                });
                end
            }
        };
        TurnOutcome {
            session: session.clone(),
            user_seq: progress.user_seq,
            steps: progress.steps,
            tool_calls: progress.tool_calls,
            usage: progress.usage,
            end,
        }
    }

    fn check_message(&self, user_text: &str) -> Result<(), TurnRefusal> {
        let limit = self.config.max_user_message_bytes;
        if user_text.len() > limit {
            return Err(TurnRefusal::MessageTooLarge {
                bytes: user_text.len(),
                limit,
            });
        }
        if user_text.trim().is_empty() {
            return Err(TurnRefusal::EmptyMessage);
        }
        Ok(())
    }

    async fn run(
        &self,
        session: &SessionId,
        user_text: &str,
        progress: &mut Progress,
        sink: &mut dyn TurnSink,
    ) -> Result<(), TurnFailure> {
        let lock = self.session_lock(session);
        let _turn = lock.lock().await;

        let user = Message::user(user_text);
        // Both before the model is asked; neither waits for the other.
        let (earlier, mut files) =
            tokio::join!(self.history_so_far(session), self.workspace.files());
        let mut turn = vec![user.clone()];
        let circle = crate::Circle::of(session);
        files.retain(|file| circle.reads_workspace_file(file.name));
        let system = prompt::system_prompt(
            &files,
            self.clock.now(),
            &self.time_zone,
            self.tools.specs(),
        );
        let request = |turn: &[Message]| ChatRequest {
            system: Some(system.clone()),
            messages: history::window(
                &earlier,
                turn,
                self.config.history_messages + turn.len(),
                self.config.history_chars,
            ),
            tools: self.tools.specs().to_vec(),
            max_tokens: self.config.max_tokens,
            temperature: self.config.temperature,
        };

        // The user message is stored while the model is asked: the client is
        // told `Accepted` once it is durable, and hears nothing of the reply
        // before. A store that fails ends the turn and drops the model call.
        progress.steps = 1;
        let (user_seq, first) = self
            .store_while_asking(
                session,
                &user,
                request(&turn),
                sink,
                (&mut progress.user_seq, &mut progress.usage),
            )
            .await?;
        let mut first = Some(first?);

        let cx = ToolContext::new(session.clone(), user_seq);
        let mut strikes = tools::Strikes::default();

        for step in 1..=self.config.max_steps {
            progress.steps = step;
            let reply = match first.take() {
                Some(reply) => reply,
                None => self.ask(request(&turn), sink, &mut progress.usage).await?,
            };
            let mut content = Vec::new();
            if !reply.text.is_empty() {
                content.push(Content::Text {
                    text: reply.text.clone(),
                });
            }
            if reply.calls.is_empty() {
                tracing::debug!(session = %session, stop = ?reply.stop, "reply finished");
                if !content.is_empty() {
                    self.store(
                        session,
                        Message {
                            role: Role::Assistant,
                            content,
                        },
                    )
                    .await?;
                }
                return Ok(());
            }
            let calls = tools::with_ids(reply.calls, step);
            content.extend(calls.iter().map(|call| Content::ToolCall {
                id: call.id.clone(),
                name: call.name.clone(),
                arguments: call.arguments.clone(),
            }));
            let assistant = Message {
                role: Role::Assistant,
                content,
            };
            self.store(session, assistant.clone()).await?;
            turn.push(assistant);
            let results = tools::run_calls(self, &calls, &cx, &mut strikes, progress, sink).await;
            let results = Message {
                role: Role::Tool,
                content: results,
            };
            self.store(session, results.clone()).await?;
            turn.push(results);
            strikes.check()?;
        }
        Err(TurnFailure::StepLimit {
            steps: self.config.max_steps,
        })
    }

    /// Stores the user message while the model is asked for the turn's
    /// first reply: the stored message's number (in `user_seq` as soon as
    /// it is known: a turn that times out later still says it) and that
    /// reply. The client
    /// is told `Accepted` once the message is stored, and hears nothing of
    /// the reply before (see [`Held`]). A store that fails ends the turn and
    /// drops the model call; a model call that fails first waits for the
    /// store, so a stored message is acknowledged either way.
    async fn store_while_asking(
        &self,
        session: &SessionId,
        user: &Message,
        request: ChatRequest,
        sink: &mut dyn TurnSink,
        (user_seq, usage): (&mut Option<u64>, &mut Usage),
    ) -> Result<(u64, Result<reply::Reply, TurnFailure>), TurnFailure> {
        let held = Held::new(sink);
        let stored = async {
            let seq = self.sessions.append(session, user).await.map_err(|e| {
                TurnFailure::StoreMessage {
                    detail: e.to_string(),
                }
            })?;
            *user_seq = Some(seq);
            held.open(seq);
            Ok::<u64, TurnFailure>(seq)
        };
        let mut to_held = &held;
        let asked = self.ask(request, &mut to_held, usage);
        tokio::pin!(stored, asked);
        tokio::select! {
            seq = &mut stored => Ok((seq?, asked.await)),
            reply = &mut asked => Ok((stored.await?, reply)),
        }
    }

    /// Asks the model, retrying once when it reports a failure the turn can go on
    /// from and nothing of the failed reply reached the client.
    async fn ask(
        &self,
        request: ChatRequest,
        sink: &mut dyn TurnSink,
        usage: &mut Usage,
    ) -> Result<reply::Reply, TurnFailure> {
        let mut retried = false;
        loop {
            match read_reply(self.model.as_ref(), request.clone(), sink, usage).await {
                Ok(reply) => return Ok(reply),
                Err(ReplyError::Model { error, streamed })
                    if error.can_continue() && !streamed && !retried =>
                {
                    tracing::info!(error = %error, "model call failed; retrying once");
                    retried = true;
                }
                Err(ReplyError::Model { error, .. }) => {
                    return Err(TurnFailure::Model {
                        message: error.message().to_owned(),
                    });
                }
                Err(ReplyError::Truncated) => return Err(TurnFailure::Truncated),
            }
        }
    }

    /// The session's messages so far (before this turn's), repaired.
    /// Unreadable history is not worth failing a turn over: the model then
    /// sees only this message.
    async fn history_so_far(&self, session: &SessionId) -> Vec<Message> {
        match self
            .sessions
            .history_now(session, self.config.history_messages)
            .await
        {
            Ok(stored) => history::repair(stored.into_iter().map(|m| m.message).collect()),
            Err(e) => {
                tracing::warn!(session = %session, error = %e, "could not read the session's history");
                Vec::new()
            }
        }
    }

    async fn store(&self, session: &SessionId, message: Message) -> Result<u64, TurnFailure> {
        self.sessions
            .append(session, &message)
            .await
            .map_err(|e| TurnFailure::StoreReply {
                detail: e.to_string(),
            })
    }

    fn session_lock(&self, session: &SessionId) -> Arc<tokio::sync::Mutex<()>> {
        // A poisoned map is still a valid map: a panic elsewhere cannot leave it
        // half-updated in a way that matters here.
        let mut locks = self
            .session_locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        locks.retain(|_, lock| lock.strong_count() > 0);
        if let Some(lock) = locks.get(session).and_then(Weak::upgrade) {
            return lock;
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(session.clone(), Arc::downgrade(&lock));
        lock
    }
}

impl<M> std::fmt::Debug for AgentParts<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentParts")
            .field("tools", &self.tools)
            .field("workspace", &self.workspace)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("tools", &self.tools)
            .field("sessions", &self.sessions)
            .field("workspace", &self.workspace)
            .field("time_zone", &self.time_zone)
            .field("config", &self.config)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_and_their_turns_can_cross_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Agent>();
        // Compiles only if a turn can be handed to `tokio::spawn`.
        fn spawnable(agent: &Agent, id: &SessionId, sink: &mut dyn TurnSink) -> impl Send {
            agent.turn(id, "hi", sink)
        }
        let _ = spawnable;
    }
}
