use std::fmt;

/// A secret's name, e.g. `ANTHROPIC_API_KEY`: an upper-case letter, then up to 63
/// upper-case letters, digits or underscores (the rule `secret:NAME` uses in config).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretName(String);

impl SecretName {
    pub fn parse(text: &str) -> Result<Self, crate::SecretsError> {
        if hardshell_config::is_valid_secret_name(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(crate::SecretsError::InvalidName {
                name: text.chars().take(80).collect(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
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

impl std::str::FromStr for SecretName {
    type Err = crate::SecretsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_config_rule() {
        assert!(SecretName::parse("ANTHROPIC_API_KEY").is_ok());
        assert!(SecretName::parse("S3").is_ok());
        for bad in ["", "lower", "_X", "1X", "A-B", "A B", "../X", "A/B"] {
            assert!(SecretName::parse(bad).is_err(), "{bad}");
        }
    }
}
