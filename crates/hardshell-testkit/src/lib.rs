//! hardshell's test support, in one place instead of a copy per crate: a
//! sealed local store in a temporary directory ([`TestStore`]), a tmpfs that
//! can be filled ([`SmallDisk`]), the fixtures of the authentication tests
//! (Cloudflare Access keys and JWKS, the OIDC provider's pages, passkey
//! ceremonies), the chat platforms' local emulator (crabline), the
//! `hardshell` binary in a scratch directory, its readiness as systemd
//! would see it ([`ready::NotifySocket`]), a loopback HTTP server that
//! answers with a test's own handler (`http_server`), and a real OCI
//! registry with layouts to push to it (`registry`).
//!
//! A dev-dependency only (`publish = false`). Everything here may panic: a
//! fixture that cannot be built is a failed test, never a skipped one.
#![forbid(unsafe_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_debug_implementations
)]

mod disk;
pub mod ready;
mod store;

#[cfg(feature = "browser")]
pub mod browser;
#[cfg(feature = "cloudflare")]
pub mod cloudflare;
#[cfg(feature = "channels")]
pub mod crabline;
#[cfg(feature = "channels")]
pub mod front;
#[cfg(feature = "http-server")]
pub mod http_server;
#[cfg(feature = "binary")]
pub mod instance;
#[cfg(feature = "modules")]
pub mod modules;
#[cfg(feature = "browser")]
pub mod netns;
#[cfg(feature = "oidc")]
pub mod oidc;
#[cfg(feature = "passkey")]
pub mod passkey;
#[cfg(feature = "acme")]
pub mod pebble;
#[cfg(any(feature = "registry", feature = "acme"))]
mod pki;
#[cfg(feature = "registry")]
pub mod registry;

pub use disk::SmallDisk;
pub use store::TestStore;

/// A TCP port on 127.0.0.1 nothing listens on now (for a server a test
/// starts there, or one that is down).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("binding 127.0.0.1:0")
}

/// The permission bits of `path` itself (a symlink there is not followed),
/// without its file type: what a test of a mode compares.
pub fn permission_bits(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}
