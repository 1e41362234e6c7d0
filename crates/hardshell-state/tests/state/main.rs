//! hardshell-state against real stores: the testkit's sealed local store and
//! SeaweedFS (S3 with real compare-and-swap and SigV4).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_debug_implementations
)]

mod crash;
mod garbage;
mod hostile;
mod lease;
mod operator;
mod restore;
mod support;
