//! Module names: the one rule for a module's manifest, `[modules] allow`,
//! the lock, `hardshell module rm NAME` and the audit log.
//!
//! The rule: 1 to 64 characters of `a-z`, `0-9` and `-`, starting with a
//! letter and not ending with `-`. One spelling per module (no upper case,
//! no look-alike Unicode), so an allowlist entry and a package's name are
//! compared byte for byte, and a name is safe as a storage key segment, in
//! a terminal and in a record.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest name, in bytes.
pub const MAX_MODULE_NAME_BYTES: usize = 64;

/// A module's name, e.g. `web-search`, checked.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModuleName(String);

/// Why a text is not a module name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "module name {name:?} is not valid: use a-z, 0-9 and -, starting with a letter, \
     not ending with -, at most 64"
)]
pub struct ModuleNameError {
    /// The text, cut to 80 characters.
    pub name: String,
}

impl ModuleName {
    /// Whether `text` follows the rule.
    pub fn is_valid(text: &str) -> bool {
        let bytes = text.as_bytes();
        matches!(bytes.first(), Some(b'a'..=b'z'))
            && !text.ends_with('-')
            && text.len() <= MAX_MODULE_NAME_BYTES
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    }

    /// `text` as a name, if it follows the rule.
    pub fn parse(text: &str) -> Result<Self, ModuleNameError> {
        if Self::is_valid(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(ModuleNameError {
                name: text.chars().take(80).collect(),
            })
        }
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ModuleName {
    type Error = ModuleNameError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<ModuleName> for String {
    fn from(name: ModuleName) -> String {
        name.0
    }
}

impl std::str::FromStr for ModuleName {
    type Err = ModuleNameError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for ModuleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ModuleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModuleName({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::ModuleName;

    #[test]
    fn plain_lower_case_names_pass_and_every_other_spelling_is_refused() {
        for good in ["web-search", "fetch", "a", "x2", &"a".repeat(64)] {
            assert!(ModuleName::is_valid(good), "{good:?}");
        }
        for bad in [
            "",
            "Web-Search",
            "web_search",
            "-web",
            "web-",
            "2fa",
            "../fetch",
            "fetch/x",
            "fetch.wasm",
            "fеtch", // a Cyrillic e
            "web search",
            "fetch\n",
            &"a".repeat(65),
        ] {
            assert!(ModuleName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
