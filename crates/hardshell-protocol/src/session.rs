//! Sessions as the agent's socket lists and reads them:
//! `GET /v1/sessions` (a [`SessionSummary`] each) and
//! `GET /v1/sessions/<id>?limit=N` (a [`StoredMessage`] each, oldest first).

mod id;

use chrono::{DateTime, Utc};
use hardshell_llm::Message;
use serde::{Deserialize, Serialize};

pub use id::{SessionId, SessionIdError, subject_tag};

/// One message as stored: its place in the session, when it was stored, and the
/// message itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub message: Message,
}

/// A session as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub id: SessionId,
    /// The first user message, on one line and truncated.
    pub title: Option<String>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub message_count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pinned;

    #[test]
    fn sessions_and_messages_keep_their_wire_shape() {
        pinned::<Vec<SessionSummary>>(
            r#"[{"id":"web-1a2b3c4d-00ff","title":"What time is it?","created":"2026-01-02T03:04:05Z","updated":"2026-01-02T03:04:09.250Z","message_count":4},{"id":"api-x","title":null,"created":"2026-01-02T03:04:05Z","updated":"2026-01-02T03:04:05Z","message_count":0}]"#,
        );
        pinned::<Vec<StoredMessage>>(
            r#"[{"seq":0,"at":"2026-01-02T03:04:05Z","message":{"role":"user","content":[{"type":"text","text":"hi"}]}},{"seq":1,"at":"2026-01-02T03:04:06.500Z","message":{"role":"assistant","content":[{"type":"text","text":"hello"}]}}]"#,
        );
    }

    #[test]
    fn a_listed_session_with_an_invalid_id_is_unreadable() {
        let listed = r#"[{"id":"web/../x","title":null,"created":"2026-01-02T03:04:05Z","updated":"2026-01-02T03:04:05Z","message_count":0}]"#;
        assert!(serde_json::from_str::<Vec<SessionSummary>>(listed).is_err());
    }
}
