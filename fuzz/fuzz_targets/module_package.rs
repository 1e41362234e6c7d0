//! Module packages and manifests, as a publisher, a download or the state
//! store could hand them over: `Package::parse`, `Manifest::parse` and the
//! whole `TrustPolicy::verify` under a policy trusting one key whose secret
//! half nobody holds.
//!
//! The first byte chooses the input's kind:
//! - 0: a package archive. If it parses: its digest is the input's sha256,
//!   it holds at most `MAX_ENTRIES` entries, every file's path parses again
//!   to itself (relative, no `.`/`..`), and no package verifies.
//! - 1: a manifest. If it parses: its limits are within their caps, every
//!   secret's host is one of its hosts, and it lists `module.wasm`.
//!
//! Either way, a refusal's message holds no control or text-direction
//! character: it is printed to the owner's terminal as it is.
#![no_main]

use std::sync::OnceLock;

use hardshell_modules::{
    MAX_ENTRIES, MAX_MEMORY_MB, MAX_TIMEOUT_MS, Manifest, ModuleError, Package, PackagePath,
    TrustPolicy, sha256,
};
use libfuzzer_sys::fuzz_target;

/// A minisign public key nobody has the secret key of.
const KEY: &str = "RWQBAgMEBQYHCCgpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZH";

fn policy() -> &'static TrustPolicy {
    static POLICY: OnceLock<TrustPolicy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let modules = hardshell_config::Modules {
            trusted_keys: vec![hardshell_config::TrustedKey {
                name: "fuzz".into(),
                key: KEY.into(),
                official: true,
            }],
            allow: Vec::new(),
            allow_unofficial: true,
        };
        TrustPolicy::from_config(&modules).unwrap_or_else(|e| panic!("fuzz fixture: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        0 => package(rest),
        1 => manifest(rest),
        _ => {}
    }
});

fn package(bytes: &[u8]) {
    let package = match Package::parse(bytes.to_vec()) {
        Ok(package) => package,
        Err(error) => return shown_safely(&error),
    };
    assert_eq!(package.digest(), sha256(bytes));
    assert!(package.files().len() + 2 <= MAX_ENTRIES);
    for path in package.files().keys() {
        let again = PackagePath::parse(path.as_str()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&again, path);
        assert!(!path.as_str().starts_with('/'));
        assert!(!path.as_str().split('/').any(|s| s == ".." || s == "."));
    }
    match policy().verify(package) {
        Ok(_) => panic!("a package verified without its signer's secret key"),
        Err(error) => shown_safely(&error),
    }
}

fn manifest(bytes: &[u8]) {
    let manifest = match Manifest::parse(bytes) {
        Ok(manifest) => manifest,
        Err(error) => return shown_safely(&error),
    };
    let capabilities = &manifest.capabilities;
    assert!((1..=MAX_MEMORY_MB).contains(&capabilities.memory_mb));
    assert!((1..=MAX_TIMEOUT_MS).contains(&capabilities.timeout_ms));
    for secret in &capabilities.secrets {
        assert!(capabilities.hosts.iter().any(|h| h.host == secret.host));
    }
    assert!(manifest.files.keys().any(|p| p.as_str() == "module.wasm"));
}

fn shown_safely(error: &ModuleError) {
    let shown = error.to_string();
    assert!(
        !shown.chars().any(hardshell_audit::event::disturbs),
        "{shown:?}"
    );
}
