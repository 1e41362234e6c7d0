//! The Discord bot token in no log line and no error, in a test binary of
//! its own: every test here captures `tracing` at every level, so no other
//! test leaves twilight's or hyper's callsites cached as uninteresting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "discord/leaks.rs"]
mod leaks;
// Shared with tests/discord.rs, which counts the channel's opcodes.
#[allow(dead_code)]
#[path = "discord/relay.rs"]
mod relay;
// Shared with tests/discord.rs, which uses all of it.
#[allow(dead_code)]
#[path = "discord/setup.rs"]
mod setup;
