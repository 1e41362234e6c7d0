//! hardshell's `web-search` module: one tool, `search`, that asks the Brave
//! Search API for web results and answers them as a short plain-text list.
//!
//! The module never holds the API key. It sends the placeholder
//! `hs-secret:BRAVE_SEARCH_API_KEY`; its broker swaps the owner's key in on
//! the way to `api.search.brave.com`, the one host it is granted, and to no
//! other. Everything Brave answers is read as hostile: bounded in size,
//! parsed without panicking, and cut to a few fields of bounded length.

pub mod answer;
pub mod arguments;
pub mod request;

#[cfg(target_arch = "wasm32")]
mod component;
