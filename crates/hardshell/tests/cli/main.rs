//! The real `hardshell` binary, driven as a user would drive it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod acme;
mod audit;
mod backup;
mod config_check;
mod devices;
mod doctor;
mod egress_ca;
mod image;
mod import;
mod init;
mod memory;
mod model_setup;
mod modules;
mod s3;
mod secrets;
mod service;
mod skills;
mod state;
mod token;
mod up;

/// The binary under test, run by the testkit's `Instance`.
const HARDSHELL: &str = env!("CARGO_BIN_EXE_hardshell");
