//! The seam between the turn loop and whatever answers it: in production the
//! edge's model route (a `FallbackChain` behind the broker), in tests a scripted
//! model replaying queued replies.

use std::future::Future;
use std::pin::Pin;

use futures::Stream;
use futures::future::BoxFuture;
use hardshell_llm::{ChatEvent, ChatRequest};

/// A streamed reply. A well-formed stream ends with exactly one
/// [`ChatEvent::Finished`]; the loop treats a stream that ends without one as
/// truncated.
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatEvent, ModelError>> + Send>>;

/// Something that answers a [`ChatRequest`] with a stream of events.
///
/// Implementations write `async fn stream(&self, request: ChatRequest) -> Result<ChatStream, ModelError>`;
/// the agent erases the type itself, so implementors need no boxing of their own.
pub trait Model: Send + Sync + 'static {
    fn stream(
        &self,
        request: ChatRequest,
    ) -> impl Future<Output = Result<ChatStream, ModelError>> + Send;
}

/// Why a model call failed: a message fit to show the user (the implementation
/// decides what is safe to show; the agent passes it on verbatim) and whether the
/// turn can go on by asking again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ModelError {
    message: String,
    can_continue: bool,
}

impl ModelError {
    /// A failure worth one more attempt in the same turn (a dropped connection, an
    /// overloaded provider). The loop retries once, and only if nothing of the
    /// failed reply has reached the user yet.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            can_continue: true,
        }
    }

    /// A failure that ends the turn (every provider refused, the budget is spent).
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            can_continue: false,
        }
    }

    /// The text for the user.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the turn may go on by asking the model again.
    pub fn can_continue(&self) -> bool {
        self.can_continue
    }
}

/// [`Model`] with its future boxed, so the agent can hold any model behind one
/// pointer type.
pub(crate) trait DynModel: Send + Sync {
    fn stream_boxed(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatStream, ModelError>>;
}

impl<M: Model> DynModel for M {
    fn stream_boxed(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatStream, ModelError>> {
        Box::pin(self.stream(request))
    }
}
