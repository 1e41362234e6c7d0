//! hardshell-llm against real servers on loopback: a scripted server that speaks
//! Anthropic's documented stream byte for byte (the real API is out of reach here),
//! llama.cpp's OpenAI-compatible server with a real small model, and real storage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod anthropic;
mod bad_input;
mod fallback;
mod ledger;
mod local_model;
mod support;
