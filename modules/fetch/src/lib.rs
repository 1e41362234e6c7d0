//! hardshell's `fetch` module: one tool, `fetch`, that reads one web page
//! and answers its text.
//!
//! It is granted the public web and nothing else: `GET` and `HEAD` of any
//! host on its scheme's default port, through its broker, which refuses
//! every internal address a name resolves to and holds no secret for it.
//! What a page says is hostile: read bounded, never run, turned into plain
//! text of bounded length; the agent frames it as untrusted, and a call of
//! this module marks the conversation as having read untrusted content.

pub mod arguments;
pub mod page;

#[cfg(target_arch = "wasm32")]
mod component;
