//! hardshell-intercept's integration tests, one binary: real TLS handshakes,
//! the CA in a real sealed store, and OpenSSL's view of the certificates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod custody;
mod handshake;
mod openssl;
mod support;
