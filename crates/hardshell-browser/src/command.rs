//! A client's CDP command, parsed from its text frame: a JSON object with an
//! integer `id`, a string `method`, an optional object `params` and an
//! optional string `sessionId` (flat sessions). Every other field is kept and
//! passed on: Chromium adds fields, and the proxy must not be what breaks.

use serde_json::{Map, Number, Value};

/// Why a client's frame is not a CDP command. Says which part, never what
/// the client sent (it may hold typed text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("a command must be JSON")]
    NotJson,
    #[error("a command must be a JSON object")]
    NotObject,
    #[error("a command's id must be an integer")]
    Id,
    #[error("a command's method must be a string")]
    Method,
    #[error("a command's params must be an object")]
    Params,
    #[error("a command's sessionId must be a string of at most 128 bytes")]
    SessionId,
}

/// The longest `sessionId` taken.
const MAX_SESSION_ID: usize = 128;

/// One command, as the client sent it.
#[derive(Clone, PartialEq)]
pub struct Command {
    id: Number,
    method: String,
    session_id: Option<String>,
    /// The whole object, `id` included.
    fields: Map<String, Value>,
}

impl Command {
    pub fn parse(text: &str) -> Result<Command, CommandError> {
        let value: Value = serde_json::from_str(text).map_err(|_| CommandError::NotJson)?;
        let Value::Object(fields) = value else {
            return Err(CommandError::NotObject);
        };
        let id = match fields.get("id") {
            Some(Value::Number(id)) if id.is_i64() || id.is_u64() => id.clone(),
            _ => return Err(CommandError::Id),
        };
        let Some(Value::String(method)) = fields.get("method") else {
            return Err(CommandError::Method);
        };
        let method = method.clone();
        if !matches!(fields.get("params"), None | Some(Value::Object(_))) {
            return Err(CommandError::Params);
        }
        let session_id = match fields.get("sessionId") {
            None => None,
            // Kept while the command waits: bounded (Chromium's are 32 hex
            // digits), or 1,024 waiting commands could hold gigabytes.
            Some(Value::String(session)) if session.len() <= MAX_SESSION_ID => {
                Some(session.clone())
            }
            Some(_) => return Err(CommandError::SessionId),
        };
        Ok(Command {
            id,
            method,
            session_id,
            fields,
        })
    }

    /// A command of the proxy's own, on the browser-wide session.
    pub(crate) fn own(method: &str, params: Value) -> Command {
        let mut fields = Map::new();
        fields.insert("method".to_owned(), Value::String(method.to_owned()));
        fields.insert("params".to_owned(), params);
        Command {
            id: Number::from(0u8),
            method: method.to_owned(),
            session_id: None,
            fields,
        }
    }

    /// The id the client chose, to answer it with.
    pub fn id(&self) -> &Number {
        &self.id
    }

    pub fn method(&self) -> &str {
        &self.method
    }

    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    pub(crate) fn params(&self) -> Option<&Map<String, Value>> {
        match self.fields.get("params") {
            Some(Value::Object(params)) => Some(params),
            _ => None,
        }
    }

    /// Changes the params (an empty object when the client sent none).
    pub(crate) fn edit_params<R>(&mut self, edit: impl FnOnce(&mut Map<String, Value>) -> R) -> R {
        let mut params = match self.fields.remove("params") {
            Some(Value::Object(params)) => params,
            _ => Map::new(),
        };
        let result = edit(&mut params);
        self.fields
            .insert("params".to_owned(), Value::Object(params));
        result
    }

    /// The text to send the browser, under the proxy's own id.
    ///
    /// The id is written first: Chromium reads fields in order and refuses a
    /// message at its first unknown one, naming the id only if it has read
    /// it. An error without an id would answer no one (and end the session).
    pub(crate) fn to_browser(&self, proxy_id: u64) -> String {
        let mut text = format!("{{\"id\":{proxy_id}");
        for (key, value) in self.fields.iter().filter(|(key, _)| *key != "id") {
            text.push(',');
            text.push_str(&Value::String(key.clone()).to_string());
            text.push(':');
            text.push_str(&value.to_string());
        }
        text.push('}');
        text
    }
}

/// Method and ids only: params hold typed text, cookies and code.
impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Command")
            .field("id", &self.id)
            .field("method", &self.method.chars().take(64).collect::<String>())
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_keeps_unknown_fields_and_takes_the_proxy_id() {
        let command =
            Command::parse(r#"{"id":7,"method":"Page.enable","sessionId":"S1","future":[1]}"#)
                .unwrap();
        assert_eq!(command.method(), "Page.enable");
        assert_eq!(command.session_id(), Some("S1"));
        let text = command.to_browser(90);
        assert!(text.starts_with(r#"{"id":90,"#), "{text}");
        let sent: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(sent["id"], 90);
        assert_eq!(sent["future"], serde_json::json!([1]));
        assert_eq!(sent["sessionId"], "S1");
    }

    #[test]
    fn frames_that_are_not_commands_are_refused_by_part() {
        for (text, error) in [
            ("{", CommandError::NotJson),
            ("[1]", CommandError::NotObject),
            (r#"{"method":"A.b"}"#, CommandError::Id),
            (r#"{"id":1.5,"method":"A.b"}"#, CommandError::Id),
            (r#"{"id":"1","method":"A.b"}"#, CommandError::Id),
            (r#"{"id":1}"#, CommandError::Method),
            (
                r#"{"id":1,"method":"A.b","params":[]}"#,
                CommandError::Params,
            ),
            (
                r#"{"id":1,"method":"A.b","sessionId":3}"#,
                CommandError::SessionId,
            ),
        ] {
            assert_eq!(Command::parse(text), Err(error), "{text}");
        }
        let long = format!(
            r#"{{"id":1,"method":"A.b","sessionId":"{}"}}"#,
            "S".repeat(129)
        );
        assert_eq!(Command::parse(&long), Err(CommandError::SessionId));
    }

    #[test]
    fn debug_shows_no_params() {
        let command =
            Command::parse(r#"{"id":1,"method":"Input.insertText","params":{"text":"hunter2"}}"#)
                .unwrap();
        assert!(!format!("{command:?}").contains("hunter2"));
    }
}
