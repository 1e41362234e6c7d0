//! The shells hardshell starts, and what each can see: the agent's shell
//! (its policy; the binary's supervisor runs it), the `exec` tool's shells
//! ([`SandboxShell`], one per command, a few prepared ahead in its
//! [`pool`]), each module's host process
//! ([`ModuleShells`], one shell per module), and the workload's shell (its policy,
//! [`policy::workload()`]: an image run as hardshell's workload).
//!
//! Invariants: every shell's policy is in [`policy`], side by side, so "what
//! can a shell see?" has one answer there; a shell sees the system
//! directories read-only (the workload's: its image's root, read-only), its
//! own workspace, and only the sockets its policy binds in (never the edge's
//! control socket in an exec or workload shell); its one way out is a broker.
//! This crate, with the binary, is all that links `hardshell-sandbox`: the
//! edge and exec's decisions start no shell.
#![forbid(unsafe_code)]

mod browser;
mod exec;
mod files;
mod listener;
mod module;
pub mod policy;
pub mod pool;
mod workspaces;

pub use browser::{BrowserLimits, BrowserShells};
pub use exec::SandboxShell;
pub use module::{MAX_SESSION_SHELLS, ModuleLimits, ModuleRunner, ModuleShells, ModuleSpec};
pub use pool::ShellPool;
pub use workspaces::SessionWorkspaces;
