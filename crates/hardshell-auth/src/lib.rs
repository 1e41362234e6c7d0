//! Who is asking, and may they: hardshell's authentication methods and its
//! authorization policy.
//!
//! Invariant: a [`Permit`] can only be made by [`authorize`], which denies by
//! default; the edge's handlers take a `Permit` as an argument, so a route that
//! skipped the check does not compile. Principals come from a method that
//! verified a proof (today: [`passkey`]); a [`Device`] comes from a client
//! certificate the edge's TLS verifier accepted ([`devices`]).
#![forbid(unsafe_code)]

pub mod devices;
pub mod passkey;
mod policy;
mod principal;

pub use policy::{
    Admin, Chat, Denied, FreshAdmin, Permit, Policy, Public, Requirement, Role, Rule, Subject,
    authorize,
};
pub use principal::{Device, Method, Principal, TokenScope};
