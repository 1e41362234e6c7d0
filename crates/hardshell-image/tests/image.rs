//! Integration tests of hardshell-image: hostile layers against the unpacker,
//! and pulls from a real registry (Debian's docker-registry, TLS from a test CA).

// Test support: a failed setup step should panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod layer;
    pub mod layout;
}

mod cases {
    mod pull;
    mod store;
    mod unpack;
}
