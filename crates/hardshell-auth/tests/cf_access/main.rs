//! Cloudflare Access token verification against a real JWKS server on
//! 127.0.0.1, with keys generated for the run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod attacks;
mod claims;
mod key_set;
mod settings;

use hardshell_testkit::cloudflare as support;
