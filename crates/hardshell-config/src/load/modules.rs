//! `[modules]`'s rules: every trusted key is a minisign Ed25519 public key,
//! named once and listed once, and `allow` names each module once. A key
//! that does not parse is refused here, so `config check` finds it rather
//! than the first `hardshell module add`.

use std::collections::BTreeSet;

use base64::Engine as _;

use crate::load::{ConfigError, LoadedConfig};

/// Trusted keys at most: a handful of publishers is the expected case.
const MAX_TRUSTED_KEYS: usize = 64;
/// `allow` entries at most.
const MAX_ALLOWED: usize = 1000;
/// A minisign public key: 2 bytes of algorithm (`Ed`), 8 of key id, 32 of
/// Ed25519 key.
const PUBLIC_KEY_BYTES: usize = 42;

impl LoadedConfig {
    pub(super) fn validate_modules(&self) -> Result<(), ConfigError> {
        let modules = &self.config.modules;
        if modules.trusted_keys.len() > MAX_TRUSTED_KEYS {
            return Err(self.error_at(
                "modules.trusted_keys",
                format!("at most {MAX_TRUSTED_KEYS} keys"),
            ));
        }
        let mut names = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for (i, trusted) in modules.trusted_keys.iter().enumerate() {
            let at = |field: &str| format!("modules.trusted_keys[{i}].{field}");
            if !is_key_name(&trusted.name) {
                return Err(self.error_at(
                    &at("name"),
                    "a key's name is 1 to 64 characters of a-z, 0-9, ., _ and -",
                ));
            }
            if !names.insert(trusted.name.as_str()) {
                return Err(self.error_at(&at("name"), "another trusted key has this name"));
            }
            if !is_minisign_public_key(&trusted.key) {
                return Err(self.error_at(
                    &at("key"),
                    "not a minisign public key: give the second line of the key's .pub \
                     file (RW followed by 54 base64 characters)",
                ));
            }
            if !keys.insert(key_id(&trusted.key)) {
                return Err(self.error_at(
                    &at("key"),
                    "this key (or another of the same minisign key id) is listed twice: \
                     one key id has one name and one official flag",
                ));
            }
        }
        if modules.allow.len() > MAX_ALLOWED {
            return Err(self.error_at("modules.allow", format!("at most {MAX_ALLOWED} names")));
        }
        let mut allowed = BTreeSet::new();
        for (i, name) in modules.allow.iter().enumerate() {
            if !allowed.insert(name) {
                return Err(self.error_at(&format!("modules.allow[{i}]"), "listed twice"));
            }
        }
        Ok(())
    }
}

fn is_key_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// A public key's minisign key id (bytes 2..10): signatures name their key
/// by it, so two listed keys must not share one.
fn key_id(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|bytes| bytes.get(2..10).map(<[u8]>::to_vec))
        .unwrap_or_default()
}

/// Whether `text` is a minisign public key of the Ed25519 algorithm (`Ed`;
/// minisign's only one). The key id and key are checked by the signature
/// crate when it is used; here only the form.
pub(crate) fn is_minisign_public_key(text: &str) -> bool {
    match base64::engine::general_purpose::STANDARD.decode(text.trim()) {
        Ok(bytes) => bytes.len() == PUBLIC_KEY_BYTES && bytes.starts_with(b"Ed"),
        Err(_) => false,
    }
}
