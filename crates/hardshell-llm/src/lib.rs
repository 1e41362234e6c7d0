//! Model providers for hardshell: one vocabulary for conversations, tools and
//! streamed replies ([`types`]), and the wire formats of the providers that speak it.
//!
//! Invariant: no type here holds a provider key; keys are added on the way out by
//! the edge, never seen by the agent.
#![forbid(unsafe_code)]

pub mod types;

pub use types::{
    ChatEvent, ChatRequest, Content, Message, ModelRef, ModelRefError, Role, StopReason, ToolSpec,
    Usage,
};
