//! `secret:NAME` and `env:NAME`: how the config points at a credential without
//! containing it.

use std::fmt;

use hardshell_vocabulary::SecretName;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a credential comes from. The config holds only this reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// A secret stored with `hardshell secret put NAME`.
    Secret(SecretName),
    /// An environment variable of the hardshell process.
    Env(String),
}

/// Why a credential reference was refused. Never holds the text when it was
/// not a reference at all: that text may be the credential itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretRefError {
    /// `secret:NAME` with a name outside the secret-name rule.
    #[error("secret name {name:?} is not valid: use A-Z, 0-9 and _, starting with a letter")]
    SecretName {
        /// The name as written.
        name: String,
    },
    /// `env:NAME` with a name no environment variable can have.
    #[error("environment variable name {name:?} is not valid")]
    EnvName {
        /// The name as written.
        name: String,
    },
    /// Neither form: likely a value pasted where its reference belongs.
    #[error(
        "expected a reference like \"secret:NAME\" or \"env:NAME\", not a value; \
         store the value with `hardshell secret put NAME`"
    )]
    NotAReference,
}

fn is_valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'A'..=b'Z' | b'a'..=b'z' | b'_'))
        && name.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl SecretRef {
    /// Parses `secret:NAME` or `env:NAME`.
    pub fn parse(text: &str) -> Result<Self, SecretRefError> {
        if let Some(name) = text.strip_prefix("secret:") {
            return SecretName::parse(name).map(SecretRef::Secret).map_err(|_| {
                SecretRefError::SecretName {
                    name: name.to_owned(),
                }
            });
        }
        if let Some(name) = text.strip_prefix("env:") {
            return if is_valid_env_name(name) {
                Ok(SecretRef::Env(name.to_owned()))
            } else {
                Err(SecretRefError::EnvName {
                    name: name.to_owned(),
                })
            };
        }
        // Deliberately not echoing `text`: it may be the credential itself.
        Err(SecretRefError::NotAReference)
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Secret(name) => write!(f, "secret:{name}"),
            SecretRef::Env(name) => write!(f, "env:{name}"),
        }
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        SecretRef::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for SecretRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse() {
        assert_eq!(
            SecretRef::parse("secret:R2_KEY"),
            Ok(SecretRef::Secret(SecretName::parse("R2_KEY").unwrap()))
        );
        assert_eq!(
            SecretRef::parse("env:AWS_ACCESS_KEY_ID"),
            Ok(SecretRef::Env("AWS_ACCESS_KEY_ID".into()))
        );
    }

    #[test]
    fn values_are_refused_without_being_echoed() {
        let err = SecretRef::parse("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("wJalr"), "{err}");
        assert!(err.contains("secret put"), "{err}");
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in [
            "secret:",
            "secret:lower",
            "secret:1X",
            "secret:A-B",
            "env:",
            "env:A B",
        ] {
            assert!(SecretRef::parse(bad).is_err(), "{bad}");
        }
        assert!(SecretRef::parse(&format!("secret:{}", "A".repeat(65))).is_err());
    }
}
