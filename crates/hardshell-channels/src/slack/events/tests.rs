//! x
#![allow(clippy::unwrap_used)]
