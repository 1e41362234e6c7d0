//! A secret's value under its name, the one shape in which values travel
//! to the leak scan and the echo redactor: from the secret store, the
//! config's credentials and the providers' keys, and out of a request the
//! broker swapped them into.

use zeroize::Zeroizing;

/// A secret's name and value. The value is wiped from memory when dropped
/// and shown by no `Debug`; the one way to its bytes is
/// [`NamedSecret::expose`], so every use is visible in review.
#[derive(Clone)]
pub struct NamedSecret {
    name: String,
    value: Zeroizing<Vec<u8>>,
}

impl NamedSecret {
    /// Takes ownership of `value` (a `Vec<u8>` moves in without a copy).
    pub fn new(name: impl Into<String>, value: impl Into<Zeroizing<Vec<u8>>>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value's bytes. Call only where the value is about to be used.
    pub fn expose(&self) -> &[u8] {
        &self.value
    }
}

impl std::fmt::Debug for NamedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedSecret")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_name_and_never_the_value() {
        let secret = NamedSecret::new("GITHUB_TOKEN", b"ghp-canary-0123456789".to_vec());
        let shown = format!("{secret:?} {:?} {secret:#?}", vec![secret.clone()]);
        assert!(!shown.contains("canary"), "{shown}");
        assert!(!shown.contains("0123456789"), "{shown}");
        assert!(shown.contains("GITHUB_TOKEN"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert_eq!(secret.expose(), b"ghp-canary-0123456789");
    }
}
