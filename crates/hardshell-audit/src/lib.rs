//! hardshell's audit log (the seed's Logpush): typed events in a SHA-256 hash
//! chain, written to storage in segments, with [`verify`] to prove the chain
//! intact and [`Tail`] to read it as it grows.
//!
//! Invariant: **no record can hold a credential.** Events are closed structs of
//! identifiers, addresses, enums and hardshell's own reason strings; there are no
//! header values, cookies, request paths, query strings, bodies, token or secret
//! values, claimed identities, and no free-form maps or "extra" fields to put
//! them in (see [`event`]). Reading a record with an unknown field fails.
//!
//! Invariant: **an acknowledged record is never silently lost or altered.**
//! [`AuditLog::record_durable`] returns only once its record is in storage;
//! every record links to the previous one's hash, the `head` object names the
//! last one, and a second writer on the same log is detected by compare-and-swap
//! and stops this one rather than overwrite. Objects are also sealed at rest by
//! the storage layer; the chain is what makes edits, deletions, insertions and
//! reordering by anyone who can write plaintext visible.
#![forbid(unsafe_code)]

mod error;
pub mod event;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod layout;
mod record;
mod search;
mod tail;
mod verify;
mod writer;

pub use error::AuditError;
pub use event::AuditEvent;
pub use layout::{Head, LogId};
pub use record::{ChainHash, ChainHashError, Record};
pub use search::{Page, Query, log_ids, search};
pub use tail::Tail;
pub use verify::{Finding, FindingKind, VerifyReport, verify};
pub use writer::{AuditLog, AuditOptions};
