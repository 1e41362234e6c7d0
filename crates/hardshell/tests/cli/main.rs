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

/// A chat token, made and revoked, with its stored copy from before the
/// revocation put back where someone with write access to the object store
/// could put it. The token, its id, and the revoked copy's bytes.
fn revoked_token_put_back(hs: &hardshell_testkit::instance::Instance) -> (String, String, Vec<u8>) {
    let token = hs
        .run(&["token", "create", "--name", "ci", "--scope", "chat"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let id = token["hs_tok_".len().."hs_tok_".len() + 16].to_owned();
    let file = hs.path(&format!("data/objects/tokens/{id}"));
    let live = std::fs::read(&file).unwrap();
    hs.run(&["token", "revoke", &id]).ok();
    let revoked = std::fs::read(&file).unwrap();
    std::fs::write(&file, &live).unwrap();
    (token, id, revoked)
}
