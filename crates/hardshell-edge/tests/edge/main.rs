//! The edge over real sockets, with a real upstream on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod admin_devices_page;
mod admin_page;
mod audit;
mod browser_origin;
mod chat_page;
mod client_limits;
mod cloudflare;
mod connections;
mod files;
mod framing;
mod markdown_page;
mod oidc;
mod origin;
mod passkey;
mod pipeline;
mod proxy;
mod revocation;
mod sessions;
mod support;
mod tls;
mod webhooks;
