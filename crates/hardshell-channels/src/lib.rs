//! hardshell's chat channels: the built-in agent reached from Telegram, Slack,
//! Discord and WhatsApp. Every sender is a principal the owner paired: a
//! sender nobody paired gets a short pairing code and nothing else (no model
//! call, no tool), and every inbound message is authenticated (by the
//! platform connection the edge opened, or by a webhook's signature) before
//! it is read. Adapters run in the edge, never in a shell, so no shell ever
//! holds a bot token or a signing secret.

#![forbid(unsafe_code)]

pub use hardshell_vocabulary::{ChannelRole, IdentityError, Platform, Sender};

pub mod agent;
pub mod chunk;
pub mod conversations;
pub mod discord;
pub mod dispatch;
mod lanes;
mod network;
pub mod outbox;
pub mod pairing;
mod reply;
pub mod slack;
pub mod telegram;
pub mod verify;
pub mod webhook;
pub mod whatsapp;

pub use agent::Agent;
pub use dispatch::{
    ChannelRules, Dispatcher, Handled, Inbound, InboundFile, Place, Pressed, Unpaired,
};
pub use outbox::{Outbox, OutboxError};
pub use pairing::{Code, Pairing, PairingError, Pairings, Request as PairingRequest};
