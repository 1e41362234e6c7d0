//! The browser: headless Chromium for the agent and for clients of the
//! edge's `/cdp`, one fresh browser in a shell of its own per session, driven
//! only through a proxy that decides every DevTools protocol (CDP) method.
//!
//! The shell is the boundary (its network namespace reaches nothing but the
//! browser's broker); Chromium's flags and managed policies are hygiene on
//! top. The proxy speaks CDP as JSON values, not typed messages: Chromium
//! adds events and fields with every release, and a relay that passes
//! unknown fields through keeps working where a typed client breaks.
//!
//! This crate starts no shell: how a browser is launched is given to it, so
//! the edge can use it without linking the sandbox (`hardshell-shells` has
//! the browser's shell).
#![forbid(unsafe_code)]

mod agent_socket;
pub mod chromium;
mod command;
mod devtools;
pub mod handshake;
mod launch;
pub mod policy;
mod pool;
pub mod relay;
mod screenshots;
mod service;
mod trail;

pub use agent_socket::{OnBrowse, serve_agent_socket, serve_workload_socket};
pub use command::{Command, CommandError};
pub use devtools::DevtoolsError;
pub use launch::{BrowserExit, Cause, Launch, LaunchError, RunningBrowser, SessionId};
pub use policy::{MethodPolicy, Permitted, PolicyError, Refused, SessionRules, SessionRulesError};
pub use pool::{BrowserPool, BrowserSession, PoolError, PoolSettings};
pub use relay::{EndCause, RelayEnd, RelayLimits, relay};
pub use screenshots::{Screenshots, Shot};
pub use service::{CdpClient, CdpService, CdpServiceError, OpenSession};
pub use trail::BrowserTrail;
