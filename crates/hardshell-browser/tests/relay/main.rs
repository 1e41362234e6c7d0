//! The CDP relay against a real Chromium: what Playwright sends works, what
//! the policy refuses is refused and the session goes on, the limits end a
//! session with the right close code, and the audit log holds method names
//! and hosts, never parameters.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod connect;
mod hostile;
mod limits;
mod playwright;
mod rewrites;
mod support;
mod table;
