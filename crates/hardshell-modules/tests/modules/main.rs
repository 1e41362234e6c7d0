//! hardshell-modules against real minisign signatures and real tar
//! archives, and the lock in a real sealed store: every red line refused
//! with its own error, and the allow path beside it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_debug_implementations
)]

mod archive;
mod diff;
mod https;
mod lock;
mod manifest;
mod oci;
mod skills;
mod verify;

use chrono::Utc;
use hardshell_modules::{
    Acceptance, LockedModule, ModuleError, Modules, Package, TrustPolicy, Verified,
};
use hardshell_storage::ObjectKey;
use hardshell_testkit::TestStore;
use hardshell_testkit::modules::{PLAIN_BODY, Publisher, WASM, manifest};

/// A publisher and a `[modules]` that trusts it (official unless said).
pub struct Fixture {
    pub publisher: Publisher,
    pub config: hardshell_config::Modules,
}

impl Fixture {
    pub fn official() -> Self {
        Self::trusting(true)
    }

    pub fn trusting(official: bool) -> Self {
        let publisher = Publisher::new();
        let config = hardshell_config::Modules {
            trusted_keys: vec![hardshell_config::TrustedKey {
                name: "example".into(),
                key: publisher.public_key(),
                official,
            }],
            allow: Vec::new(),
            allow_unofficial: false,
        };
        Self { publisher, config }
    }

    pub fn policy(&self) -> TrustPolicy {
        TrustPolicy::from_config(&self.config).unwrap()
    }

    /// The plain module `name` at `version`, signed.
    pub fn package(&self, name: &str, version: &str) -> Vec<u8> {
        self.package_with(name, version, PLAIN_BODY)
    }

    pub fn package_with(&self, name: &str, version: &str, body: &str) -> Vec<u8> {
        let files: &[(&str, &[u8])] = &[("module.wasm", WASM)];
        self.publisher
            .package(&manifest(name, version, body, files), files)
    }

    pub fn verify(&self, bytes: Vec<u8>) -> Result<Verified, ModuleError> {
        self.policy().verify(Package::parse(bytes)?)
    }

    /// The lock in `store`'s `modules` scope, under this fixture's policy.
    pub fn modules(&self, store: &TestStore) -> Modules {
        let scope = store
            .store
            .root()
            .scope(&ObjectKey::parse("modules").unwrap())
            .unwrap();
        Modules::new(scope, self.policy())
    }

    /// The package `bytes`, verified and locked in `modules` with the
    /// owner's yes.
    pub async fn add(&self, modules: &Modules, bytes: Vec<u8>) -> LockedModule {
        let verified = self.verify(bytes).unwrap();
        let acceptance = Acceptance::confirmed(&verified);
        modules
            .add(&verified, &acceptance, "a", Utc::now())
            .await
            .unwrap()
    }
}
