//! The audit log against a real local object store in a temporary directory:
//! writing, restarting, tampering with stored segments, verifying, tailing and
//! searching.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod channels;
mod search;
mod support;
mod tail;
mod tamper;
mod writer;
