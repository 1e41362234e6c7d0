//! The model providers as routes of the agent's broker: what the agent may
//! send, what the provider receives (the key only where the placeholder
//! was), what is metered and when the budget says no.
//!
//! The provider here is a loopback server that records what reaches it and
//! answers in the documented OpenAI and Anthropic stream formats; the broker
//! against the real local model is tested end to end in the hardshell crate.
//! Requests reach the broker the way the agent's do: an HTTP proxy on
//! loopback that relays to the broker's unix socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cap;
mod keys;
mod metering;
mod routing;
mod support;
