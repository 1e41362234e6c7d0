//! Model providers for hardshell: one vocabulary for conversations, tools and
//! streamed replies ([`types`]); the wire formats of Anthropic and OpenAI-compatible
//! servers ([`wire`]); a client per provider endpoint, over TCP or the edge's unix
//! socket ([`ProviderClient`]); an ordered [`FallbackChain`]; and, for the edge, a
//! [`UsageMeter`] over relayed bytes, prices, a monthly ledger and a spend cap.
//!
//! Invariants: the agent's clients hold no provider key (the edge adds it on the way
//! out); a key never reaches an error message or `Debug` output; a reply stream ends
//! with `Finished` or an error, never silently.
#![forbid(unsafe_code)]

mod client;
mod error;
mod fallback;
mod meter;
mod spend;
pub mod sse;
pub mod types;
pub mod wire;

pub use client::{
    ApiKey, DEFAULT_MAX_RESPONSE_BYTES, ProviderClient, ProviderConfig, ReplyStream, Timeouts,
    Transport,
};
pub use error::{LlmError, ProviderComplaint, SwitchReason};
pub use fallback::{COOLDOWN_STEPS, Cooldown, FallbackChain, FallbackReply, MAX_RETRY_AFTER};
pub use meter::{ESTIMATE_BYTES_PER_TOKEN, MAX_JSON_BODY_BYTES, Metered, UsageMeter};
pub use spend::{
    CHARGE_WINDOW, MicroUsd, ModelUsage, MonthUsage, Price, PriceList, RETRY_WAIT_MAX, Reservation,
    SpendCap, SpendError, UsageLedger, cost,
};
pub use types::{
    ChatEvent, ChatRequest, Content, Message, ModelRef, ModelRefError, Role, StopReason, ToolSpec,
    Usage,
};
pub use wire::ProviderKind;
