//! The agent's turns for the edge's other front doors (the chat channels of
//! `hardshell-channels`), run exactly as the chat page's are: the agent's
//! events checked (a question shown only as the edge holds it), the edge's
//! own news of the session's commands merged in, the outcome audited.
//! The caller authenticated the subject it names, by its own means (a paired
//! platform identity); sessions carry that subject's tag, so a subject only
//! ever continues its own.

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use hardshell_protocol::TurnRequest;
use hardshell_protocol::chat::ChatEvent;

use crate::agent::AgentClient;
use crate::routes::chat::{checked_turn, new_session_for, owned_by};
use crate::state::SharedState;

/// Running the built-in agent's turns for a subject; see the module.
#[derive(Clone)]
pub struct ChatTurns {
    agent: Arc<AgentClient>,
    state: SharedState,
}

impl std::fmt::Debug for ChatTurns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTurns").finish_non_exhaustive()
    }
}

/// Why a turn could not start, or a question not be answered.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error("the agent is not answering: {0}")]
    Unavailable(String),
    #[error("session {session:?} is not this subject's")]
    NotOwned { session: String },
    #[error("the agent's exec tool is off")]
    NoExec,
    #[error("no such question is waiting in this session")]
    UnknownQuestion,
    #[error("the question was already answered")]
    Answered,
    /// A file was not put into the session's workspace, and why.
    #[error(transparent)]
    File(#[from] hardshell_exec::FileError),
    #[error("no such file is kept for this session")]
    UnknownFile,
}

/// A file the agent shared, as the edge kept it.
#[derive(Clone)]
pub struct SharedFile {
    /// Cleaned: letters, digits, `.`, `_` and `-` only.
    pub name: String,
    pub bytes: bytes::Bytes,
}

impl std::fmt::Debug for SharedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedFile")
            .field("name", &self.name)
            .field("size", &self.bytes.len())
            .finish()
    }
}

impl ChatTurns {
    pub(crate) fn new(agent: Arc<AgentClient>, state: SharedState) -> Self {
        Self { agent, state }
    }

    /// A new session id on `channel` (1–16 letters a-z) for `subject`.
    pub fn new_session(channel: &str, subject: &str) -> String {
        new_session_for(channel, subject)
    }

    /// Sends `text` in `subject`'s `session`: the turn's events until it ends.
    /// A caller that stops reading does not stop the turn; it is stored.
    pub async fn send(
        &self,
        subject: &str,
        session: &str,
        text: String,
        request_id: String,
    ) -> Result<BoxStream<'static, ChatEvent>, TurnError> {
        if !owned_by(subject, session) {
            return Err(TurnError::NotOwned {
                session: session.to_owned(),
            });
        }
        let turn = TurnRequest {
            session: session.to_owned(),
            text,
            prior: Vec::new(),
            request_id,
        };
        checked_turn(&self.agent, &self.state, subject, &turn)
            .await
            .map(StreamExt::boxed)
            .map_err(|e| TurnError::Unavailable(e.to_string()))
    }

    /// Puts `bytes`, a file named `name` by a chat platform (cleaned by the
    /// edge), into `subject`'s `session`'s workspace at `inbox/`; returns its
    /// path as the agent's commands see it (`/workspace/inbox/<name>`).
    pub async fn deposit(
        &self,
        subject: &str,
        session: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<String, TurnError> {
        if !owned_by(subject, session) {
            return Err(TurnError::NotOwned {
                session: session.to_owned(),
            });
        }
        let exec = self.state.exec.as_ref().ok_or(TurnError::NoExec)?;
        let name = exec.deposit(session, name, bytes.into()).await?;
        Ok(format!(
            "{}/{}/{name}",
            hardshell_exec::files::WORKSPACE,
            hardshell_exec::files::INBOX
        ))
    }

    /// The file `id` the agent shared in `subject`'s `session`, while the
    /// edge keeps it.
    pub fn file(&self, subject: &str, session: &str, id: &str) -> Result<SharedFile, TurnError> {
        if !owned_by(subject, session) {
            return Err(TurnError::NotOwned {
                session: session.to_owned(),
            });
        }
        let exec = self.state.exec.as_ref().ok_or(TurnError::NoExec)?;
        let (name, bytes) = exec
            .shared_file(session, id)
            .ok_or(TurnError::UnknownFile)?;
        Ok(SharedFile { name, bytes })
    }

    /// `subject` answers question `approval` of its `session`.
    pub fn answer(
        &self,
        subject: &str,
        session: &str,
        approval: &str,
        approve: bool,
    ) -> Result<(), TurnError> {
        if !owned_by(subject, session) {
            return Err(TurnError::NotOwned {
                session: session.to_owned(),
            });
        }
        self.answer_for(subject, session, approval, approve)
    }

    /// The owner answers question `approval` of `session`, whoever's it is:
    /// a question of a guest's conversation that the caller put to the
    /// owner itself (the session comes from the caller's own record of
    /// what it asked, never from a request).
    pub fn answer_as_owner(
        &self,
        session: &str,
        approval: &str,
        approve: bool,
    ) -> Result<(), TurnError> {
        self.answer_for(
            hardshell_auth::passkey::OWNER_SUBJECT,
            session,
            approval,
            approve,
        )
    }

    fn answer_for(
        &self,
        actor: &str,
        session: &str,
        approval: &str,
        approve: bool,
    ) -> Result<(), TurnError> {
        let exec = self.state.exec.as_ref().ok_or(TurnError::NoExec)?;
        exec.answer(session, approval, approve, actor)
            .map_err(|e| match e {
                hardshell_exec::AnswerError::Unknown => TurnError::UnknownQuestion,
                hardshell_exec::AnswerError::Answered => TurnError::Answered,
            })
    }
}
