//! `[modules]`: which signed module packages the owner may add. A package
//! is accepted only when a key listed here signed it; `allow` and
//! `allow_unofficial` narrow that further, as OpenClaw's `MOLTHUB_ALLOWLIST`
//! and `MOLTHUB_ALLOW_UNOFFICIAL` do, but over signatures rather than names.

use hardshell_vocabulary::ModuleName;
use serde::{Deserialize, Serialize};

/// `[modules]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Modules {
    /// The publishers' minisign public keys a package may be signed by.
    /// None listed: no module can be added.
    pub trusted_keys: Vec<TrustedKey>,
    /// The module names that may be added. Empty: any name whose package
    /// passes the rest (signature, `allow_unofficial`).
    pub allow: Vec<ModuleName>,
    /// Whether a package signed by a trusted key that is not `official`
    /// may be added. Off: only official keys' packages.
    pub allow_unofficial: bool,
}

/// One entry of `[modules] trusted_keys`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedKey {
    /// The owner's name for the key, shown and locked with each module it
    /// signed: 1 to 64 characters of a-z, 0-9, `.`, `_` and `-`.
    pub name: String,
    /// The minisign public key, as the second line of its `.pub` file
    /// (`RW…`, base64 of the algorithm, the key id and the Ed25519 key).
    /// Public, so no secret reference.
    pub key: String,
    /// Whether the key is an official publisher's; see
    /// [`Modules::allow_unofficial`].
    #[serde(default)]
    pub official: bool,
}

impl Modules {
    /// `(key, consequence)` for each setting that widens which packages
    /// may be added, for the start-up warnings.
    pub fn warnings(&self) -> Vec<(&'static str, &'static str)> {
        let mut on = Vec::new();
        if self.allow_unofficial && self.trusted_keys.iter().any(|key| !key.official) {
            on.push((
                "modules.allow_unofficial",
                "modules signed by keys not marked official may be added",
            ));
        }
        on
    }
}
