//! Integration tests of hardshell-image: hostile layers against the unpacker,
//! and pulls from a real registry (Debian's docker-registry, TLS from a test CA).

mod support {
    pub mod layer;
}

mod cases {
    mod unpack;
}
