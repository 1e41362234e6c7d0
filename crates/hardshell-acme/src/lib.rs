//! The edge's certificate from an ACME server (RFC 8555; Let's Encrypt by
//! default), proven with TLS-ALPN-01 (RFC 8737) on the edge's own listener,
//! renewed ahead of its end without a restart, and kept in hardshell's storage
//! (sealed under the master key, so a second replica or a new machine reuses
//! the account and the certificate). Or proven with HTTP-01 on a plain-HTTP
//! listener of its own ([`http01`]), which redirects everything else to https.
//!
//! [`Certificates`] is what the edge's TLS asks for a certificate: the current
//! one, or during a challenge the challenge's own for a client that offers
//! only `acme-tls/1`. [`Issuer`] orders, proves, stores and installs; its
//! [`Issuer::run`] renews until the edge stops. A failure leaves the current
//! certificate in place and is tried again later, each time saying what the
//! ACME server answered.

#![forbid(unsafe_code)]

mod certificates;
pub mod http01;
mod issuer;
mod stored;

pub use certificates::{Certificates, Validity};
pub use issuer::{AcmeError, AcmeSettings, Challenge, Issuer, stored_chain};
