use std::fmt;

use zeroize::Zeroizing;

/// Largest secret value accepted: enough for any key, token or certificate bundle.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// A secret's value. Wiped from memory when dropped; shows as `<redacted>` in
/// `Debug`; has no `Display`. The one way to the bytes is [`SecretValue::expose`],
/// so every use is visible in review.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Zeroizing<Vec<u8>>);

impl SecretValue {
    /// Takes ownership of `bytes`; refuses empty and oversized values.
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Result<Self, crate::SecretsError> {
        if bytes.is_empty() {
            return Err(crate::SecretsError::EmptyValue);
        }
        if bytes.len() > MAX_SECRET_BYTES {
            return Err(crate::SecretsError::TooLarge { len: bytes.len() });
        }
        Ok(Self(bytes))
    }

    /// The value's bytes. Call only where the value is about to be used.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The value as UTF-8, for credentials that are text.
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let value = SecretValue::new(Zeroizing::new(b"hunter2-canary".to_vec())).unwrap();
        let shown = format!("{value:?} {:?}", Some(&value));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }

    #[test]
    fn empty_and_oversized_values_are_refused() {
        assert!(SecretValue::new(Zeroizing::new(Vec::new())).is_err());
        assert!(SecretValue::new(Zeroizing::new(vec![b'x'; MAX_SECRET_BYTES + 1])).is_err());
        assert!(SecretValue::new(Zeroizing::new(vec![b'x'; MAX_SECRET_BYTES])).is_ok());
    }
}
