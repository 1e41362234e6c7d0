//! How the shipped binary is linked.
//!
//! Every process of hardshell (the edge, each shell's init, the agent) execs
//! this one position-independent binary, and the dynamic loader reads all of
//! its relocations at each start, so their table stays mapped in each of them.
//! Packed relative relocations (DT_RELR: GNU ld 2.38 and glibc 2.36 or later,
//! as on any distribution with the Linux 6.12 hardshell needs) hold them in
//! 12 KiB where the classic table took 721 KiB. Measured with
//! bench/idle-memory-compare.sh: 835 KiB less idle PSS over the four processes.
//!
//! `keep-text-section-prefix` keeps the functions the compiler knows are cold
//! (panics, allocation failure: 695 KiB of them) in a section of their own
//! rather than between the code that runs, so the pages an idle process has
//! mapped hold less of what it never executes.
//!
//! Both only change how the linker lays the binary out; the binary stays
//! position-independent (its address randomised at every start).
fn main() {
    // The flags depend on the target alone: without this line Cargo would run
    // the script again whenever any file of the package changes.
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
        println!("cargo:rustc-link-arg-bins=-Wl,-z,keep-text-section-prefix");
    }
}
