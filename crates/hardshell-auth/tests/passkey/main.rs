//! The owner's passkey ceremonies end to end: a real (local, encrypted) object
//! store and a software authenticator (webauthn-authenticator-rs' `SoftPasskey`)
//! that builds and signs client data exactly as a browser and authenticator do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod login;
mod registration;
mod setup_links;

use hardshell_testkit::passkey as support;
