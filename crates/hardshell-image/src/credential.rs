//! A registry credential. It is a secret: its Debug and Display redact, it is
//! never part of an error, and its memory is wiped on drop.

use std::fmt;

use zeroize::Zeroizing;

/// A `user:password` pair for a registry (Basic auth, or to obtain a Bearer token).
pub struct RegistryCredential {
    user: Zeroizing<String>,
    password: Zeroizing<String>,
}

/// Why a credential was refused. Carries no part of the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialError {
    #[error("a registry credential must be user:password (UTF-8, user not empty)")]
    Form,
}

impl RegistryCredential {
    /// From a secret's value, `user:password` (the password may contain ':').
    pub fn from_secret(value: &[u8]) -> Result<Self, CredentialError> {
        let text = std::str::from_utf8(value).map_err(|_| CredentialError::Form)?;
        let (user, password) = text.split_once(':').ok_or(CredentialError::Form)?;
        if user.is_empty() || user.contains(['\r', '\n']) || password.contains(['\r', '\n']) {
            return Err(CredentialError::Form);
        }
        Ok(Self {
            user: Zeroizing::new(user.to_owned()),
            password: Zeroizing::new(password.to_owned()),
        })
    }

    /// The value of an `Authorization: Basic …` header.
    pub(crate) fn basic_header(&self) -> Zeroizing<String> {
        use base64::Engine as _;
        let pair = Zeroizing::new(format!("{}:{}", &*self.user, &*self.password));
        Zeroizing::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
        ))
    }
}

impl fmt::Debug for RegistryCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RegistryCredential(<redacted>)")
    }
}

impl fmt::Display for RegistryCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted registry credential>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_redacts_in_debug_and_display() {
        let c = RegistryCredential::from_secret(b"alice:s3cr3t:pw").unwrap();
        let shown = format!("{c:?} {c} {:?}", Some(&c));
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(!shown.contains("alice"), "{shown}");
        // base64("alice:s3cr3t:pw")
        assert_eq!(&*c.basic_header(), "Basic YWxpY2U6czNjcjN0OnB3");
    }

    #[test]
    fn malformed_credential_is_refused_without_echoing_it() {
        for bad in [&b"no-colon-s3cr3t"[..], b":s3cr3t", b"a:b\nc", b"\xff:x"] {
            let err = RegistryCredential::from_secret(bad).unwrap_err();
            assert!(!err.to_string().contains("s3cr3t"));
        }
    }
}
