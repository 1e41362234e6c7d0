//! The per-install egress CA and the leaf certificates it issues, so the broker
//! can terminate a shell's TLS and apply its HTTP checks to what is inside.
//!
//! Invariants: the CA's private key never leaves this crate's types (no `Debug`,
//! `Display`, error or log shows it; it is wiped on drop), and a leaf names
//! exactly one DNS host, the one the client asked for in its SNI.
#![forbid(unsafe_code)]

mod ca;
mod custody;
mod error;
mod leaf;
mod rotation;
mod trust;

pub use ca::{CA_VALIDITY, EgressCa, InstallId};
pub use custody::{CA_SECRET, scanned_key};
pub use error::InterceptError;
pub use leaf::{LEAF_CACHE_HOSTS, LEAF_VALIDITY, LeafIssuer, LeafRefused};
pub use rotation::follow_rotations;
pub use trust::{BUNDLE_FILE, CA_FILE, SYSTEM_BUNDLES, TrustError, TrustFiles};
