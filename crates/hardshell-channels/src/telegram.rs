//! Telegram, through its Bot API.

pub mod api;
pub mod types;
