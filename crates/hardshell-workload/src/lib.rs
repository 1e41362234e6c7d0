//! The workload: an OCI image hardshell runs in a shell of its own (OpenClaw,
//! or anything else that serves HTTP on a port), reached only through the
//! edge. This crate holds what is the workload's own: whether it is ready
//! ([`health`], [`status`]).

pub mod health;
pub mod status;

pub use health::{HealthProbe, NoAnswer, Probe};
pub use status::{Monitor, Status, Timing};
