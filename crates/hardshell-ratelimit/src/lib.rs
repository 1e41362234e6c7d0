//! Rate limiting for the edge: the seed's `RATE_LIMIT_RPM` and `RATE_LIMIT_BURST`,
//! applied per key (a principal, a client address) with the generic cell rate
//! algorithm (GCRA).
//!
//! Invariants: pure — no clock, no I/O; time is always a parameter, measured from
//! any monotonic origin the caller picks. Per key, no window of length `t` admits
//! more than `burst + ceil(t × rate)` requests. A [`Limiter`] never holds more than
//! its `max_keys` keys; when full it refuses new keys rather than forgetting a
//! limited one. Client addresses are keyed as [`ClientKey`]s: IPv6 by /64.
#![forbid(unsafe_code)]

mod client_key;
mod gcra;
mod limiter;
mod quota;

pub use client_key::ClientKey;
pub use gcra::{Decision, Tat, check, retry_after_secs};
pub use limiter::Limiter;
pub use quota::{Quota, QuotaError};
