//! Unguessable identifiers, and the one-way form in which they are stored.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Why randomness could not be had. The OS RNG failing is not recoverable here.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomError(pub String);

/// `len` bytes from the OS CSPRNG, base64url without padding.
pub(crate) fn token(len: usize) -> Result<Zeroizing<String>, RandomError> {
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
    Ok(Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_slice())))
}

/// `len` random bytes as lowercase hex: for identifiers that are not secrets.
pub(crate) fn hex_id(len: usize) -> Result<String, RandomError> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
    Ok(hex::encode(bytes))
}

/// SHA-256 as hex. High-entropy secrets (tokens, session ids) are stored only in
/// this form: a stolen store yields nothing that can be presented. A slow hash
/// would add nothing for 256-bit random values.
pub(crate) fn digest_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Constant-time equality for digests and other fixed-size secrets.
pub(crate) fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether `text` is base64url of the length [`token`] produces for `len` bytes.
pub(crate) fn is_token_shaped(text: &str, len: usize) -> bool {
    text.len() == (len * 4).div_ceil(3)
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_and_shaped() {
        let a = token(32).unwrap();
        let b = token(32).unwrap();
        assert_ne!(*a, *b);
        assert!(is_token_shaped(&a, 32));
        assert!(!is_token_shaped("short", 32));
        assert!(!is_token_shaped(&format!("{}!", &a[1..]), 32));
    }

    #[test]
    fn same_compares_exactly() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
    }
}
