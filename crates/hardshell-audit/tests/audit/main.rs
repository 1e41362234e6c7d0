//! The audit log against a real local object store in a temporary directory:
//! writing, restarting, tampering with stored segments, verifying and tailing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod channels;
mod support;
mod tail;
mod tamper;
mod writer;
