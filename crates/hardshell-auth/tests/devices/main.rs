//! Device certificates over real TLS: a tokio-rustls server on 127.0.0.1 with the
//! device CA's verifier, and tokio-rustls clients presenting issued, foreign,
//! revoked, expired or no certificates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod authority;
mod handshake;
mod support;
