//! The install id that names a CA, so an operator who trusts several
//! installs' CAs can tell them apart.

use std::fmt;

use crate::InterceptError;

/// 1 to 40 of `A-Z a-z 0-9 . _ -`: short enough that "hardshell egress CA "
/// and the id fit a certificate's 64-character common name, plain enough to
/// need no escaping anywhere it is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallId(String);

/// A character an id may hold.
fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

impl InstallId {
    pub fn parse(text: &str) -> Result<Self, InterceptError> {
        if text.is_empty() || text.len() > 40 || !text.chars().all(allowed) {
            return Err(InterceptError::InstallId {
                id: text.escape_debug().to_string(),
            });
        }
        Ok(Self(text.to_owned()))
    }

    /// An id for the machine named `hostname`: its characters outside the
    /// allowed ones become `-`, cut to 40; `hardshell` for an empty name.
    pub fn of_host(hostname: &str) -> Self {
        let id: String = hostname
            .trim()
            .chars()
            .map(|c| if allowed(c) { c } else { '-' })
            .take(40)
            .collect();
        if id.is_empty() {
            return Self("hardshell".to_owned());
        }
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_parse_and_others_are_refused() {
        assert!(InstallId::parse("home-lab.1").is_ok());
        for bad in ["", "has space", "new\nline", "ünï", &"x".repeat(41), "a/b"] {
            assert!(InstallId::parse(bad).is_err(), "{bad:?}");
            let of_host = InstallId::of_host(bad);
            assert!(
                InstallId::parse(of_host.as_str()).is_ok(),
                "{bad:?} {of_host}"
            );
        }
        assert_eq!(InstallId::of_host("box.lan\n").as_str(), "box.lan");
        assert_eq!(InstallId::of_host("").as_str(), "hardshell");
    }
}
