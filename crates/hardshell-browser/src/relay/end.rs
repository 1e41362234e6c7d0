//! How a relayed session ends: the cause for the audit record, and the close
//! frame the client gets for it.

use std::time::Duration;

use hardshell_audit::event::BrowserEnding;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::command::CommandError;

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndCause {
    /// The client closed its WebSocket or its connection went away.
    ClientClosed,
    /// The browser's WebSocket closed or failed: it crashed or was killed.
    BrowserEnded,
    Idle,
    Lifetime,
    ClientMalformed(CommandError),
    ClientTooLarge,
    ClientBinary,
    BrowserMalformed,
    BrowserTooLarge,
    /// The caller's `stop` completed (a revoked credential, the edge stopping).
    Stopped,
}

impl EndCause {
    pub fn ending(self) -> BrowserEnding {
        match self {
            EndCause::ClientClosed => BrowserEnding::ClientClosed,
            EndCause::BrowserEnded => BrowserEnding::BrowserEnded,
            EndCause::Idle => BrowserEnding::Idle,
            EndCause::Lifetime => BrowserEnding::Lifetime,
            EndCause::ClientMalformed(_) => BrowserEnding::ClientMalformed,
            EndCause::ClientTooLarge => BrowserEnding::ClientTooLarge,
            EndCause::ClientBinary => BrowserEnding::ClientBinary,
            EndCause::BrowserMalformed => BrowserEnding::BrowserMalformed,
            EndCause::BrowserTooLarge => BrowserEnding::BrowserTooLarge,
            EndCause::Stopped => BrowserEnding::Stopped,
        }
    }

    /// The close frame the client gets; `None` when it closed itself.
    pub(crate) fn close_frame(self) -> Option<CloseFrame> {
        let (code, reason) = match self {
            EndCause::ClientClosed => return None,
            EndCause::BrowserEnded => (CloseCode::Error, "the browser ended"),
            EndCause::Idle => (CloseCode::Normal, "the session was idle too long"),
            EndCause::Lifetime => (CloseCode::Normal, "the session reached its lifetime"),
            EndCause::ClientMalformed(error) => (CloseCode::Invalid, malformed_reason(error)),
            EndCause::ClientTooLarge => (CloseCode::Size, "the message is too large"),
            EndCause::ClientBinary => (CloseCode::Unsupported, "CDP commands are text frames"),
            EndCause::BrowserMalformed => {
                (CloseCode::Error, "the browser sent a malformed message")
            }
            EndCause::BrowserTooLarge => (CloseCode::Size, "the browser's message is too large"),
            EndCause::Stopped => (CloseCode::Away, "the session was stopped"),
        };
        Some(CloseFrame {
            code,
            reason: reason.into(),
        })
    }
}

fn malformed_reason(error: CommandError) -> &'static str {
    match error {
        CommandError::NotJson => "a command must be JSON",
        CommandError::NotObject => "a command must be a JSON object",
        CommandError::Id => "a command's id must be an integer",
        CommandError::Method => "a command's method must be a string",
        CommandError::Params => "a command's params must be an object",
        CommandError::SessionId => "a command's sessionId must be a string of at most 128 bytes",
    }
}

/// What the relay reports when a session is over: for its end record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayEnd {
    pub cause: EndCause,
    /// Pages the browser opened in the session, its first blank page included.
    pub pages: u32,
    /// Commands refused (each recorded, up to a bound).
    pub refused: u64,
    /// Navigations let through (each recorded, up to a bound).
    pub navigated: u64,
    pub duration: Duration,
}
