//! The agent against a real local object store in a temporary directory and a
//! scripted model: sessions, memory, the workspace, and turns good and bad.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod exec;
mod memory;
mod send_file;
mod sessions;
mod support;
mod turn;
mod workspace;
