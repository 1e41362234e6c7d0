//! The built-in agent end to end: the real binary, the real local model
//! (llama.cpp serving SmolLM2, started by scripts/test), every way to talk to it,
//! fallback, the spend cap, and durability across kill -9.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browsing;
mod channels;
mod durability;
mod exec_secrets;
mod models;
mod module_llama;
mod module_turns;
mod running;
mod scripted;
mod shell;
mod surfaces;

/// The binary under test, run by the testkit's `Instance`.
const HARDSHELL: &str = env!("CARGO_BIN_EXE_hardshell");
