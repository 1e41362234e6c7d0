//! The egress broker. Its decisions are pure functions (no I/O), so each rule
//! is tested alone and the proxy that applies them stays a thin loop.
//!
//! - [`host`]: host patterns, exact or label-bounded wildcards.
//! - [`address`]: the address guard, applied to the addresses the broker
//!   resolved itself, right before it dials them.
//! - [`policy`]: routes (hosts, ports, and for plain HTTP methods and path
//!   prefixes or exact paths, and what they do with placeholders) and the
//!   decision for one request.
//! - [`secrets`]: `hs-secret:NAME` placeholders, swapped only where a secret is
//!   bound (or, on a model route, in its key header only), and the leak scan
//!   for secret values in raw, base64, hex and URL-encoded forms, in any ASCII
//!   case and across line breaks.
//! - [`proxy`]: the broker itself, applying all of the above on a unix socket.
//! - [`socket`]: binding such a socket (and every other unix socket hardshell
//!   serves on).

pub mod address;
/// Host names and patterns, from the shared vocabulary (the config parses
/// them at load; the broker matches with them).
pub use hardshell_vocabulary::host;
pub mod policy;
pub mod proxy;
pub mod secrets;
pub mod socket;
