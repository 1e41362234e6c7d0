//! Who is asking, and may they: hardshell's authentication methods and its
//! authorization policy.
//!
//! Invariant: a [`Permit`] can only be made by [`authorize`], which denies by
//! default; the edge's handlers take a `Permit` as an argument, so a route that
//! skipped the check does not compile. Principals come from a method that
//! verified a proof (today: [`passkey`]); a [`Device`] comes from a client
//! certificate the edge's TLS verifier accepted ([`devices`]).
#![forbid(unsafe_code)]

mod cf_access;
pub mod devices;
pub mod ephemeral;
mod fetch;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod handoff;
pub mod identity;
mod jwks;
mod oidc;
pub mod passkey;
mod policy;
mod principal;
mod random;
pub mod revocation;
pub mod sessions;
pub mod tokens;

pub use cf_access::{
    CfAccessError, CfAccessSettings, CfAccessVerifier, MAX_TOKEN_BYTES, UnverifiedHeader,
    parse_unverified_header,
};
pub use ephemeral::{Ephemeral, EphemeralError};
pub use fetch::{FetchError, FetchLimits, InsecureEndpoint};
pub use handoff::{HANDOFF_TTL, HandedOver, HandoffCode, HandoffError, Handoffs};
pub use jwks::{KeySetError, KeySetParseError, KeySetPolicy};
pub use oidc::{
    ClientSecret, EmailVerification, OidcClient, OidcError, OidcSettings, PendingLogin,
};
pub use policy::{
    Admin, Browser, Chat, Denied, FreshAdmin, Permit, Policy, Public, Requirement, Role, Rule,
    Subject, authorize,
};
pub use principal::{Device, Method, Principal, TokenScope};
pub use random::RandomError;
pub use revocation::{RevocationFeed, RevocationWatch, Revoked};
pub use sessions::{
    ResolvedSession, SessionError, SessionHandle, SessionId, SessionInfo, SessionStore,
};
pub use tokens::{ApiToken, TokenError, TokenRecord, TokenStore};
