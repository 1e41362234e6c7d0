//! Secret names: the one rule for `hardshell secret put NAME`, the config's
//! `secret:NAME` and `[egress.secrets.NAME]`, and the store's listing.
//!
//! The rule: an upper-case letter, then up to 63 upper-case letters, digits
//! or underscores. A name is also written inside `hs-secret:NAME`
//! placeholders and `LLM_<PROVIDER>` key names, so it must be a plain token
//! there: no lower case (placeholders are found by their upper-case run), no
//! separator a URL or header would alter, and a bounded length.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest name, in bytes.
pub const MAX_SECRET_NAME_BYTES: usize = 64;

/// The secret holding the egress CA (its certificate, then its key): named
/// here so the config can refuse to bind it and the CA's crate can keep it.
pub const EGRESS_CA_SECRET: &str = "EGRESS_CA";

/// A secret's name, e.g. `ANTHROPIC_API_KEY`, checked.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretName(String);

/// Why a text is not a secret name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "secret name {name:?} is not valid: use A-Z, 0-9 and _, starting with a letter (at most 64)"
)]
pub struct SecretNameError {
    /// The text, cut to 80 characters.
    pub name: String,
}

impl SecretName {
    /// Whether `text` follows the rule.
    pub fn is_valid(text: &str) -> bool {
        let mut bytes = text.bytes();
        matches!(bytes.next(), Some(b'A'..=b'Z'))
            && text.len() <= MAX_SECRET_NAME_BYTES
            && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    }

    /// `text` as a name, if it follows the rule.
    pub fn parse(text: &str) -> Result<Self, SecretNameError> {
        if Self::is_valid(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(SecretNameError {
                name: text.chars().take(80).collect(),
            })
        }
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SecretName {
    type Error = SecretNameError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<SecretName> for String {
    fn from(name: SecretName) -> String {
        name.0
    }
}

impl std::str::FromStr for SecretName {
    type Err = SecretNameError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretName({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_of_upper_case_letters_digits_and_underscores_are_accepted() {
        let longest = format!("A{}", "_".repeat(MAX_SECRET_NAME_BYTES - 1));
        for good in [
            "ANTHROPIC_API_KEY",
            "S3",
            "X",
            "LLM_LOCAL_2",
            longest.as_str(),
        ] {
            assert_eq!(SecretName::parse(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn other_names_are_refused() {
        let too_long = "A".repeat(MAX_SECRET_NAME_BYTES + 1);
        for bad in [
            "",
            "lower",
            "Mixed",
            "_X",
            "1X",
            "A-B",
            "A.B",
            "A B",
            "../X",
            "A/B",
            "A\u{c4}",
            too_long.as_str(),
        ] {
            assert!(SecretName::parse(bad).is_err(), "{bad:?}");
            assert!(!SecretName::is_valid(bad), "{bad:?}");
        }
    }

    #[test]
    fn names_deserialise_only_when_valid() {
        let name: SecretName = serde_json::from_str(r#""GITHUB_TOKEN""#).unwrap();
        assert_eq!(name.as_str(), "GITHUB_TOKEN");
        assert!(serde_json::from_str::<SecretName>(r#""github""#).is_err());
        assert_eq!(serde_json::to_string(&name).unwrap(), r#""GITHUB_TOKEN""#);
    }
}
