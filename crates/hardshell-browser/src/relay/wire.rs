//! Frames on the two WebSockets: sending one, a CDP error answer, and what
//! a read error means for the session.

use std::ops::ControlFlow::{Break, Continue};

use futures::SinkExt;
use serde_json::{Map, Number, Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::{EndCause, Step};
use crate::command::CommandError;

pub(super) async fn send<S>(
    stream: &mut WebSocketStream<S>,
    text: String,
    on_error: EndCause,
) -> Step
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    match stream.send(Message::text(text)).await {
        Ok(()) => Continue(()),
        Err(_) => Break(on_error),
    }
}

/// A CDP error answer, in the client's session when it named one.
pub(super) fn error_answer(
    id: &Number,
    session_id: Option<&str>,
    code: i64,
    message: &str,
) -> String {
    let mut answer = Map::new();
    answer.insert("id".to_owned(), Value::Number(id.clone()));
    if let Some(session_id) = session_id {
        answer.insert("sessionId".to_owned(), Value::String(session_id.to_owned()));
    }
    answer.insert(
        "error".to_owned(),
        json!({"code": code, "message": message}),
    );
    Value::Object(answer).to_string()
}

pub(super) fn client_failed(error: &WsError) -> EndCause {
    match error {
        WsError::Capacity(_) => EndCause::ClientTooLarge,
        WsError::Utf8(_) => EndCause::ClientMalformed(CommandError::NotJson),
        _ => EndCause::ClientClosed,
    }
}

pub(super) fn browser_failed(error: &WsError) -> EndCause {
    match error {
        WsError::Capacity(_) => EndCause::BrowserTooLarge,
        WsError::Utf8(_) => EndCause::BrowserMalformed,
        _ => EndCause::BrowserEnded,
    }
}
