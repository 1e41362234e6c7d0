//! Who signed a manifest: minisign (Ed25519) signatures, checked against
//! the owner's `[modules] trusted_keys` with `minisign-verify`. Only
//! pre-hashed signatures (minisign's default since 0.8) are accepted; the
//! legacy form signs the raw bytes and is refused, so one form is reviewed.

use std::fmt;

use base64::Engine as _;
use hardshell_vocabulary::Digest;
use minisign_verify::{PublicKey, Signature};

use crate::ModuleError;
use crate::package::sha256;

/// A minisign key id: 8 bytes, shown as minisign shows it (the
/// little-endian number in upper-case hex), so the owner can compare it
/// with the `.pub` file's comment.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// Parses the id as [`fmt::Display`] writes it.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 16 {
            return None;
        }
        let number = u64::from_str_radix(text, 16).ok()?;
        (format!("{number:016X}") == text).then(|| Self(number.to_le_bytes()))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// One of `[modules] trusted_keys`, parsed.
#[derive(Clone)]
pub struct TrustedKey {
    pub name: String,
    pub id: KeyId,
    /// SHA-256 of the key as minisign encodes it (algorithm, id and the
    /// Ed25519 key): what the lock pins, since the id alone is the key
    /// maker's choice.
    pub fingerprint: Digest,
    pub official: bool,
    key: PublicKey,
}

impl fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedKey")
            .field("name", &self.name)
            .field("id", &self.id)
            .field("fingerprint", &self.fingerprint)
            .field("official", &self.official)
            .finish()
    }
}

impl TrustedKey {
    /// A key from its base64 (the `.pub` file's second line).
    pub fn parse(name: &str, base64_key: &str, official: bool) -> Result<Self, ModuleError> {
        let refused = || ModuleError::TrustedKey {
            name: name.to_owned(),
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(base64_key.trim())
            .map_err(|_| refused())?;
        let id: [u8; 8] = bytes
            .get(2..10)
            .and_then(|id| id.try_into().ok())
            .ok_or_else(refused)?;
        let key = PublicKey::from_base64(base64_key.trim()).map_err(|_| refused())?;
        Ok(Self {
            name: name.to_owned(),
            id: KeyId(id),
            fingerprint: sha256(&bytes),
            official,
            key,
        })
    }
}

/// The trusted key whose signature `signature` is over `manifest`.
pub fn verify_manifest<'k>(
    keys: &'k [TrustedKey],
    manifest: &[u8],
    signature: Option<&[u8]>,
) -> Result<&'k TrustedKey, ModuleError> {
    let text = signature.ok_or(ModuleError::Unsigned)?;
    let text = std::str::from_utf8(text).map_err(|_| ModuleError::SignatureMalformed)?;
    let decoded = Signature::decode(text).map_err(|_| ModuleError::SignatureMalformed)?;
    let signed_by = signature_key_id(text).ok_or(ModuleError::SignatureMalformed)?;
    // Key ids are the key maker's choice, not a hash: a trusted but
    // unofficial publisher could pick an official key's id. Each key of
    // that id is tried, so a collision can neither borrow another key's
    // standing nor hide the real signer (the config refuses two listed
    // keys of one id as well).
    let mut candidates = keys.iter().filter(|key| key.id == signed_by).peekable();
    let Some(first) = candidates.peek().copied() else {
        return Err(ModuleError::UnknownKey {
            key_id: signed_by.to_string(),
        });
    };
    candidates
        .find(|key| key.key.verify(manifest, &decoded, false).is_ok())
        .ok_or_else(|| ModuleError::BadSignature {
            key_name: first.name.clone(),
        })
}

/// The key id a signature names: bytes 2..10 of its second line (after
/// the two-byte algorithm). `minisign-verify` checks it but does not say
/// it, and an unknown key is told apart from a bad signature by it.
fn signature_key_id(text: &str) -> Option<KeyId> {
    let line = text.lines().nth(1)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(line.trim())
        .ok()?;
    Some(KeyId(bytes.get(2..10)?.try_into().ok()?))
}

impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        KeyId::parse(&text).ok_or_else(|| serde::de::Error::custom("not a minisign key id"))
    }
}
