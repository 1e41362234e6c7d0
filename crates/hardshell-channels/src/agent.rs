//! The agent as the channels reach it: the edge's `ChatTurns`, behind a trait
//! so this crate does not link the edge (the binary joins the two), and so
//! the dispatch can be tested with a scripted agent.

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use hardshell_protocol::chat::ChatEvent;

/// Runs the built-in agent's turns for a subject the channel authenticated.
pub trait Agent: Send + Sync {
    /// A new session id on `channel` (the platform's name) for `subject`.
    fn new_session(&self, channel: &str, subject: &str) -> String;

    /// Sends `text` in `subject`'s `session`; the turn's events, checked by
    /// the edge as the chat page's are, until it ends. `Err` when the agent
    /// is not answering (the text says why, for the log).
    fn send(
        &self,
        subject: &str,
        session: &str,
        text: String,
        request_id: String,
    ) -> BoxFuture<'_, Result<BoxStream<'static, ChatEvent>, String>>;

    /// `subject` answers question `approval` of its `session` (a button in
    /// the owner's own chat). `Err` says why not, for the presser.
    fn answer(
        &self,
        subject: &str,
        session: &str,
        approval: &str,
        approve: bool,
    ) -> Result<(), String> {
        let _ = (subject, session, approval, approve);
        Err("this agent takes no answers".to_owned())
    }

    /// The owner answers question `approval` of `session`, another
    /// principal's conversation, from their own chat (a question the
    /// dispatch forwarded to them: it names the session from its own
    /// record, never from what a platform sent).
    fn answer_as_owner(&self, session: &str, approval: &str, approve: bool) -> Result<(), String> {
        let _ = (session, approval, approve);
        Err("this agent takes no answers".to_owned())
    }

    /// Saves a file the sender attached, `name` (the sender's, made safe by
    /// the edge) with `bytes`, in the workspace of `subject`'s `session`;
    /// the path the agent's commands see it at. `Err` says why not.
    fn deposit(
        &self,
        subject: &str,
        session: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> BoxFuture<'_, Result<String, String>> {
        let _ = (subject, session, name, bytes);
        Box::pin(async { Err("this agent takes no files".to_owned()) })
    }

    /// The file the agent shared in `subject`'s `session` as `id` (a
    /// `ChatEvent::File`): its name and bytes, as the edge keeps them.
    fn file(
        &self,
        subject: &str,
        session: &str,
        id: &str,
    ) -> Result<(String, bytes::Bytes), String> {
        let _ = (subject, session, id);
        Err("this agent shares no files".to_owned())
    }
}
