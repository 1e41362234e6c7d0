//! How the shipped binary is built: its link flags, and the two programs it
//! carries (the module host and the shells' init).
//!
//! **Link flags.** Every process of hardshell (the edge, each shell's init,
//! the agent) execs this one position-independent binary, and the dynamic
//! loader reads all of its relocations at each start, so their table stays
//! mapped in each of them. Packed relative relocations (DT_RELR: GNU ld 2.38
//! and glibc 2.36 or later, as on any distribution with the Linux 6.12
//! hardshell needs) hold them in 12 KiB where the classic table took 721 KiB.
//! Measured with bench/idle-memory-compare.sh: 835 KiB less idle PSS over
//! the four processes.
//!
//! `keep-text-section-prefix` keeps the functions the compiler knows are cold
//! (panics, allocation failure: 695 KiB of them) in a section of their own
//! rather than between the code that runs, so the pages an idle process has
//! mapped hold less of what it never executes.
//!
//! Both only change how the linker lays the binary out; the binary stays
//! position-independent (its address randomised at every start).
//!
//! **The module host.** `hardshell-module-host` (wasmtime and Cranelift) is a
//! program of its own, built here by a second Cargo run into a target
//! directory of its own and carried inside this binary as bytes
//! (`src/module_host_image.rs`); the edge writes it out for the module
//! shells. Linked into this binary instead, its relocated constants (293 KB
//! of `.data.rel.ro`, written by the loader in every process that execs the
//! binary) and its larger code cost every process of hardshell memory at
//! rest: +1.65 to +1.9 MiB PSS measured over the edge, the agent's shell
//! init and the agent, none of which runs a module. Cargo has no stable way
//! for one package to depend on another's binary (artifact dependencies are
//! unstable), hence the second run.
//!
//! **The shells' init.** Each shell's init and its reaper (pid 1 of the
//! shell) were this whole binary, exec'd as `hardshell shell-init` for a job
//! of a few hundred lines: its loader-written pages and the code they touch
//! in every one of them. `hardshell-sandbox`'s own `shell-init` program (the
//! same code, under 1 MB) is built by the same second run and carried the
//! same way (`src/shell_init_image.rs`); `up` writes it out and starts every
//! shell with it. `hardshell shell-init` stays, for the tests that start
//! shells with the test binary.
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest as _;

fn main() {
    link_flags();
    carried_programs();
}

/// The programs carried, each as (package, binary, environment variable
/// naming its image for `include_bytes!`).
const CARRIED: [(&str, &str, &str); 2] = [
    (
        "hardshell-module-host",
        "hardshell-module-host",
        "HARDSHELL_MODULE_HOST_IMAGE",
    ),
    (
        "hardshell-sandbox",
        "shell-init",
        "HARDSHELL_SHELL_INIT_IMAGE",
    ),
];

fn link_flags() {
    // The flags depend on the target alone.
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
        println!("cargo:rustc-link-arg-bins=-Wl,-z,keep-text-section-prefix");
    }
}

/// Builds the [`CARRIED`] programs with this build's profile and target, in
/// one Cargo run, and names their images for `include_bytes!`.
fn carried_programs() {
    let out_dir = PathBuf::from(required("OUT_DIR"));
    // OUT_DIR is `<target>/[<triple>/]<profile>/build/hardshell-<hash>/out`.
    let target_dir = out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out_dir.join("module-host-target"));
    let own_target = target_dir.join("module-host");
    let workspace = PathBuf::from(required("CARGO_MANIFEST_DIR")).join("../..");
    let release = required("PROFILE") == "release";
    let target = required("TARGET");
    let cross = target != required("HOST");

    let mut cargo = Command::new(required("CARGO"));
    cargo.current_dir(&workspace).args(["build", "--locked"]);
    for (package, bin, _) in CARRIED {
        cargo.args(["--package", package, "--bin", bin]);
    }
    cargo
        .arg("--target-dir")
        .arg(&own_target)
        // Debug builds of it are the tests' and carry no debug information:
        // it would only make every test binary larger.
        .env("CARGO_PROFILE_DEV_STRIP", "debuginfo")
        // Under `cargo clippy` the wrapper would lint it a second time
        // (the workspace's own run lints it) and keep a second build.
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    if release {
        cargo.arg("--release");
    }
    if cross {
        cargo.args(["--target", &target]);
    }
    let status = cargo
        .status()
        .unwrap_or_else(|e| panic!("running cargo for the carried programs: {e}"));
    assert!(
        status.success(),
        "building the carried programs failed (their errors are above)"
    );

    let profile_dir = if cross {
        own_target.join(&target)
    } else {
        own_target.clone()
    }
    .join(if release { "release" } else { "debug" });
    for (_, bin, variable) in CARRIED {
        let built = profile_dir.join(bin);
        let image = out_dir.join(bin);
        copy_if_changed(&built, &image);
        println!("cargo:rustc-env={variable}={}", image.display());
        // Its SHA-256, so that a copy made without reading the carried bytes
        // can be checked (`shell_init_image.rs`).
        let bytes =
            std::fs::read(&image).unwrap_or_else(|e| panic!("reading {}: {e}", image.display()));
        let digest = sha2::Sha256::digest(bytes);
        println!("cargo:rustc-env={variable}_SHA256={digest:x}");
        // Run again when a source file of the program changes: Cargo wrote
        // the files the build read into its dep-info, the crates of this
        // workspace among them (a registry crate changes only with Cargo.lock).
        let dep_info = profile_dir.join(format!("{bin}.d"));
        for file in workspace_sources(&dep_info, &workspace, &target_dir) {
            println!("cargo:rerun-if-changed={}", file.display());
        }
    }
    for file in ["Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(file).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
}

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("Cargo sets {name} for build scripts"))
}

/// Copies `from` to `to` unless `to` already holds the same bytes, so an
/// unchanged program leaves the embedding file's time alone.
fn copy_if_changed(from: &Path, to: &Path) {
    let new = std::fs::read(from).unwrap_or_else(|e| panic!("reading {}: {e}", from.display()));
    if std::fs::read(to).ok().as_deref() == Some(new.as_slice()) {
        return;
    }
    std::fs::write(to, &new).unwrap_or_else(|e| panic!("writing {}: {e}", to.display()));
}

/// The files under `workspace`, and not under `target_dir` (generated), that
/// a Makefile-style dep-info names.
fn workspace_sources(dep_info: &Path, workspace: &Path, target_dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(dep_info)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dep_info.display()));
    let workspace = workspace
        .canonicalize()
        .unwrap_or_else(|e| panic!("resolving {}: {e}", workspace.display()));
    // `target: dep dep ...`, a space inside a path escaped as `\ `.
    let Some((_, deps)) = text.split_once(": ") else {
        return Vec::new();
    };
    let mut files = Vec::new();
    let mut current = String::new();
    let mut chars = deps.trim_end().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => {
                current.push(' ');
                chars.next();
            }
            ' ' | '\n' => {
                if !current.is_empty() {
                    files.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        files.push(PathBuf::from(current));
    }
    let target_dir = target_dir
        .canonicalize()
        .unwrap_or(target_dir.to_path_buf());
    files.retain(|file| file.starts_with(&workspace) && !file.starts_with(&target_dir));
    files
}
