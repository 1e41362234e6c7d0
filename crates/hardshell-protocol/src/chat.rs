//! The edge's chat API, the one a person talks to the agent through (the chat
//! page, `hardshell chat`, any program with a token of scope `chat`):
//!
//! ```text
//! GET  /api/sessions                 -> SessionList, newest first
//! POST /api/sessions                 -> NewSession
//! GET  /api/sessions/{id}            -> SessionHistory: its messages, and the questions waiting
//! POST /api/sessions/{id}/messages   SendMessage -> text/event-stream, a ChatEvent each
//! POST /api/sessions/{id}/approvals/{approval}  Approve -> 204
//! ```
//!
//! Bodies go out through `serde_json::Value`, whose objects keep their keys
//! in order: every object here is written with its keys sorted, as the edge
//! has always sent them.

use hardshell_llm::Usage;
use serde::{Deserialize, Serialize};

use crate::{SessionSummary, StoredMessage};

/// The chat API's paths: the patterns the edge's route table registers
/// (`{name}` is a parameter) and their values for a client.
pub mod path {
    pub const SESSIONS: &str = "/api/sessions";
    pub const SESSION: &str = "/api/sessions/{id}";
    pub const MESSAGES: &str = "/api/sessions/{id}/messages";
    pub const APPROVAL: &str = "/api/sessions/{id}/approvals/{approval}";
    /// A screenshot the agent's browser took in the session, as the edge
    /// kept it (`image/png`).
    pub const SCREENSHOT: &str = "/api/sessions/{id}/screenshots/{shot}";
    /// A file the agent shared in the session, as the edge kept it, served
    /// as a download (`application/octet-stream`, never shown inline).
    pub const FILE: &str = "/api/sessions/{id}/files/{file}";

    /// [`SESSION`] of `id`.
    pub fn session(id: &str) -> String {
        format!("{SESSIONS}/{id}")
    }

    /// [`MESSAGES`] of session `id`.
    pub fn messages(id: &str) -> String {
        format!("{SESSIONS}/{id}/messages")
    }

    /// [`FILE`]: shared file `file` of session `id`.
    pub fn file(id: &str, file: &str) -> String {
        format!("{SESSIONS}/{id}/files/{file}")
    }

    /// [`APPROVAL`]: question `approval` of session `id`.
    pub fn approval(id: &str, approval: &str) -> String {
        format!("{SESSIONS}/{id}/approvals/{approval}")
    }
}

/// `POST /api/sessions`: the id of a new session of the caller's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSession {
    pub id: String,
}

/// `GET /api/sessions`: the caller's sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionList {
    pub sessions: Vec<SessionSummary>,
}

/// `GET /api/sessions/{id}`: the session's messages, oldest first, and the
/// commands waiting for the owner's answer (the edge's record of each).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionHistory {
    pub messages: Vec<StoredMessage>,
    pub waiting: Vec<Question>,
}

/// A command the edge asks the session's owner about: its own record of it,
/// never the agent's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub command: String,
    pub id: String,
}

/// `POST /api/sessions/{id}/messages`: what the user says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    pub text: String,
}

/// `POST /api/sessions/{id}/approvals/{approval}`: the owner's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    pub approve: bool,
}

/// One event of a turn's stream, as a server-sent event: its name is the
/// variant's, its data the fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum ChatEvent {
    /// The message is stored as message `seq` of the session.
    Accepted { seq: u64 },
    /// More of the reply's text.
    Delta { text: String },
    /// A tool started, or finished (`ok` then says how).
    Tool {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ok: Option<bool>,
        state: ToolState,
    },
    /// The edge asks the owner: run `command`? Answer with [`Approve`].
    /// `reason`, the edge's own words, says why when it is not the command
    /// itself (the conversation has read web pages).
    Approval {
        command: String,
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The owner answered question `id`, or it expired (`approved: false`).
    ApprovalResolved { approved: bool, id: String },
    /// The edge runs a command in the session's workspace, and why.
    Command {
        command: String,
        decision: CommandDecision,
    },
    /// The stream fell behind the edge's news and missed this many.
    CommandsMissed { count: u64 },
    /// The agent's browser took a screenshot in this session; the edge
    /// serves its own copy at [`path::SCREENSHOT`] with this `id`.
    Screenshot { id: u64 },
    /// The agent shared a file of the session's workspace; the edge serves
    /// its own copy, as a download, at [`path::FILE`] with this `id`.
    File { id: String, name: String, size: u64 },
    /// The reply is complete and stored.
    Done { usage: Usage },
    /// The turn ended early; `message` is for the user.
    Error { message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolState {
    Started,
    Finished,
}

/// Why a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandDecision {
    /// Every program in it is in `[exec] allow`.
    Allowed,
    /// The session's owner said yes.
    Approved,
}

impl ChatEvent {
    /// The event as the stream carries it: `event: <name>\ndata: <json>\n\n`.
    pub fn to_sse(&self) -> String {
        let (name, data) = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut event)) => {
                (event.remove("event"), event.remove("data"))
            }
            _ => (None, None),
        };
        match (name, data) {
            (Some(serde_json::Value::String(name)), Some(data)) => {
                format!("event: {name}\ndata: {data}\n\n")
            }
            // Not reached: every variant is a name and an object of data.
            _ => String::new(),
        }
    }

    /// One event as the stream carries it (its `event:` and `data:` lines);
    /// `None` for one of another name or with data that does not fit.
    pub fn from_sse(text: &str) -> Option<Self> {
        let mut name = "message";
        let mut data = Vec::new();
        for line in text.lines() {
            if let Some(value) = line.strip_prefix("event:") {
                name = value.trim();
            } else if let Some(value) = line.strip_prefix("data:") {
                data.push(value.trim_start());
            }
        }
        let data: serde_json::Value = serde_json::from_str(&data.join("\n")).ok()?;
        serde_json::from_value(serde_json::json!({ "event": name, "data": data })).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pinned;

    /// `text` as the edge has always written it, which reads back as itself.
    #[track_caller]
    fn sent(text: &str) {
        let event = ChatEvent::from_sse(text).unwrap_or_else(|| panic!("{text} does not read"));
        assert_eq!(event.to_sse(), text);
    }

    #[test]
    fn a_client_fills_in_the_patterns_the_edge_registers() {
        let filled = |pattern: &str| {
            pattern
                .replace("{id}", "web-a")
                .replace("{approval}", "q1")
                .replace("{file}", "f1")
        };
        assert_eq!(path::session("web-a"), filled(path::SESSION));
        assert_eq!(path::messages("web-a"), filled(path::MESSAGES));
        assert_eq!(path::approval("web-a", "q1"), filled(path::APPROVAL));
        assert_eq!(path::file("web-a", "f1"), filled(path::FILE));
        assert_eq!(path::APPROVAL, "/api/sessions/{id}/approvals/{approval}");
    }

    #[test]
    fn every_chat_event_keeps_its_wire_shape() {
        for text in [
            "event: accepted\ndata: {\"seq\":3}\n\n",
            "event: delta\ndata: {\"text\":\"Hel\\nlo\"}\n\n",
            "event: tool\ndata: {\"name\":\"exec\",\"state\":\"started\"}\n\n",
            "event: tool\ndata: {\"name\":\"exec\",\"ok\":false,\"state\":\"finished\"}\n\n",
            "event: approval\ndata: {\"command\":\"rm -r x\",\"id\":\"a1\"}\n\n",
            "event: approval_resolved\ndata: {\"approved\":true,\"id\":\"a1\"}\n\n",
            "event: command\ndata: {\"command\":\"ls\",\"decision\":\"allowed\"}\n\n",
            "event: command\ndata: {\"command\":\"rm -r x\",\"decision\":\"approved\"}\n\n",
            "event: commands_missed\ndata: {\"count\":7}\n\n",
            "event: file\ndata: {\"id\":\"f1\",\"name\":\"plot.png\",\"size\":12}\n\n",
            "event: done\ndata: {\"usage\":{\"input_tokens\":10,\"output_tokens\":2}}\n\n",
            "event: error\ndata: {\"message\":\"stopped\"}\n\n",
        ] {
            sent(text);
        }
    }

    #[test]
    fn an_event_of_another_name_or_shape_reads_as_none() {
        for text in [
            "event: ping\ndata: {}\n\n",
            "data: {\"text\":\"no name\"}\n\n",
            "event: delta\ndata: {\"txt\":\"hi\"}\n\n",
            "event: tool\ndata: {\"name\":\"exec\",\"state\":\"paused\"}\n\n",
            "event: command\ndata: {\"command\":\"ls\",\"decision\":\"forced\"}\n\n",
            "event: delta\ndata: not json\n\n",
        ] {
            assert_eq!(ChatEvent::from_sse(text), None, "{text}");
        }
    }

    #[test]
    fn request_and_answer_bodies_keep_their_wire_shape() {
        pinned::<NewSession>(r#"{"id":"web-1a2b3c4d-00ff"}"#);
        pinned::<SendMessage>(r#"{"text":"hi"}"#);
        pinned::<Approve>(r#"{"approve":false}"#);
        pinned::<Question>(r#"{"command":"make","id":"a1"}"#);
        assert!(serde_json::from_str::<SendMessage>(r#"{"text":"hi","role":"system"}"#).is_err());
        assert!(serde_json::from_str::<Approve>(r#"{"approve":true,"all":true}"#).is_err());
    }

    #[test]
    fn listings_and_histories_go_out_with_sorted_keys_as_always() {
        let list: SessionList = serde_json::from_str(
            r#"{"sessions":[{"id":"web-a","title":"hi","created":"2026-01-02T03:04:05Z","updated":"2026-01-02T03:04:06Z","message_count":2}]}"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&list).unwrap().to_string(),
            r#"{"sessions":[{"created":"2026-01-02T03:04:05Z","id":"web-a","message_count":2,"title":"hi","updated":"2026-01-02T03:04:06Z"}]}"#
        );
        let history: SessionHistory = serde_json::from_str(
            r#"{"messages":[{"seq":0,"at":"2026-01-02T03:04:05Z","message":{"role":"user","content":[{"type":"text","text":"hi"}]}}],"waiting":[{"id":"a1","command":"make"}]}"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&history).unwrap().to_string(),
            r#"{"messages":[{"at":"2026-01-02T03:04:05Z","message":{"content":[{"text":"hi","type":"text"}],"role":"user"},"seq":0}],"waiting":[{"command":"make","id":"a1"}]}"#
        );
    }
}
