//! Device names: what `hardshell device issue NAME` takes and a certificate's CN
//! carries. Parsed once; the same rule serves as a storage key segment.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::DeviceError;

const MAX_LEN: usize = 63;

/// `[a-z0-9][a-z0-9-]{0,62}`, e.g. `phone`, `work-laptop-2`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceName(String);

impl DeviceName {
    pub fn parse(text: &str) -> Result<Self, DeviceError> {
        let mut bytes = text.bytes();
        let first_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !first_ok || !rest_ok || text.len() > MAX_LEN {
            return Err(DeviceError::InvalidName {
                name: text.escape_debug().to_string(),
            });
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DeviceName {
    type Error = DeviceError;
    fn try_from(text: String) -> Result<Self, DeviceError> {
        Self::parse(&text)
    }
}

impl From<DeviceName> for String {
    fn from(name: DeviceName) -> String {
        name.0
    }
}

impl fmt::Display for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceName({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn plain_names_are_accepted() {
        for name in ["phone", "work-laptop-2", "0", "a-", &"a".repeat(63)] {
            assert_eq!(DeviceName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn other_names_are_refused() {
        let long = "a".repeat(64);
        for name in [
            "",
            "-phone",
            "Phone",
            "my phone",
            "phone.local",
            "../ca",
            "ph\u{0131}ne",
            &long,
        ] {
            assert!(DeviceName::parse(name).is_err(), "{name:?}");
        }
    }

    proptest! {
        #[test]
        fn accepted_names_match_the_documented_pattern(text in "\\PC{0,70}") {
            let pattern = |t: &str| {
                let b = t.as_bytes();
                !b.is_empty() && b.len() <= 63
                    && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
                    && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            };
            prop_assert_eq!(DeviceName::parse(&text).is_ok(), pattern(&text));
        }

        #[test]
        fn every_pattern_name_is_accepted(text in "[a-z0-9][a-z0-9-]{0,62}") {
            prop_assert!(DeviceName::parse(&text).is_ok());
        }
    }
}
