//! The broker over a real unix socket, against "external" servers that live on
//! this machine's loopback (reached by names a test resolver maps there, and
//! allowed by an explicit exception — without it, loopback is refused, which
//! is tested too).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod inspect;
mod limits;
mod plain_tunnel;
mod routes;
mod secrets;
mod streams;
mod support;
mod tap;
mod tls;
mod websocket;
