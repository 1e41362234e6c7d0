//! hardshell's module host: runs one tool call of a WebAssembly component
//! under the capabilities it was granted. Each call gets a fresh instance, a
//! deadline and a memory cap; the module sees no environment, no arguments,
//! no files but a granted `/workspace`, no sockets, and reaches the network
//! only through `wasi:http`, where every request is checked against its host
//! grants before the embedder's [`Egress`] sends it.
//!
//! - [`grants`]: what a module was granted.
//! - [`host`]: the engine, preparing components, running calls.
//! - [`outgoing`]: the check of each outgoing request.
//! - [`egress`]: where permitted requests leave (the broker's proxy).
//! - `workspace_open`: how the workspace's files open (regular files and
//!   directories only, never waiting on a FIFO the shell planted).

mod call_state;
pub mod egress;
pub mod error;
pub mod grants;
pub mod host;
pub mod outgoing;
mod ticker;
mod workspace_open;

pub use call_state::{HEADER_BYTES, MAX_RESOURCES};
pub use egress::{
    BodyLimits, Egress, EgressError, NoEgress, ProxyAddress, ProxyEgress, ProxyTimeouts,
};
pub use error::{CallError, HostError, PrepareError};
pub use grants::{GrantError, Grants, HostGrant, Workspace};
pub use host::{MAX_ANSWER_BYTES, ModuleHost, Prepared};
pub use outgoing::{Denial, Permit};
