//! The `browser` tool against a real headless Chromium and the test site
//! (`scripts/test-site.py`), both on 127.0.0.1: the tool connects straight
//! to the browser's DevTools WebSocket, where in `hardshell agent` it goes
//! through the edge's policed proxy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod refusals;
mod sessions;
mod support;
mod tool;
