//! The test guests, built once per test binary from
//! `crates/hardshell-module-host/guests` for wasm32-wasip2 into their own
//! target directory beside the tests' own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

static GUESTS: OnceLock<PathBuf> = OnceLock::new();

/// The component bytes of guest `name` (`echo` or `hostile`).
pub fn guest(name: &str) -> Vec<u8> {
    let directory = GUESTS.get_or_init(build_guests);
    let path = directory.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

fn build_guests() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("guests");
    let target = tests_target_dir().join("module-guests");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
        ])
        .current_dir(&workspace)
        .env("CARGO_TARGET_DIR", &target)
        // Flags meant for the host build (coverage, sanitizers) would break
        // or slow the wasm build.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("running cargo to build the test guests");
    assert!(
        status.success(),
        "building the test guests failed; is the target installed? `rustup target add wasm32-wasip2`"
    );
    target.join("wasm32-wasip2").join("release")
}

/// The target directory this test binary was built in: the binary is
/// `<target>/<profile>/deps/<name>`.
fn tests_target_dir() -> PathBuf {
    let executable = std::env::current_exe().expect("the test binary's path");
    executable
        .ancestors()
        .nth(3)
        .expect("a test binary under <target>/<profile>/deps")
        .to_path_buf()
}
