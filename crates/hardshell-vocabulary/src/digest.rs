//! Content digests: `sha256:` and 64 lower-case hex digits, the only form
//! accepted, as an image reference pins its manifest and as the image store
//! names its blobs.
//!
//! Upper-case hex is refused because it would give one blob two names.
//! Hashing is not done here (this crate stays free of crypto): the image
//! crate hashes and hands the 32 bytes to [`Digest::from_sha256`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const PREFIX: &str = "sha256:";
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";
/// How much of a refused digest an error repeats (a registry's answer may be long).
const SHOWN_CHARS: usize = 100;

/// A `sha256:<64 lower-case hex>` content digest: the hash's 32 bytes, so
/// errors and records that carry two stay small.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

/// Why a text is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not `sha256:`: no other algorithm is accepted.
    #[error("digest {0:?} is not sha256 (only sha256:<64 hex digits> digests are accepted)")]
    Algorithm(String),
    /// `sha256:` but not 64 lower-case hex digits after it.
    #[error("digest {0:?} is not 64 lower-case hex digits after sha256:")]
    Hex(String),
}

impl Digest {
    /// Parses `sha256:` and 64 lower-case hex digits; nothing else.
    pub fn parse(text: &str) -> Result<Self, DigestError> {
        let Some(hex_digits) = text.strip_prefix(PREFIX) else {
            return Err(DigestError::Algorithm(shown(text)));
        };
        Self::from_hex(hex_digits).map_err(|_| DigestError::Hex(shown(text)))
    }

    /// Parses the 64 hex digits alone (a store's file name).
    pub fn from_hex(hex_digits: &str) -> Result<Self, DigestError> {
        let refused = || DigestError::Hex(shown(hex_digits));
        let digits = hex_digits.as_bytes();
        if digits.len() != 64 {
            return Err(refused());
        }
        let mut hash = [0u8; 32];
        for (byte, pair) in hash.iter_mut().zip(digits.chunks_exact(2)) {
            let (Some(high), Some(low)) = (nibble(pair[0]), nibble(pair[1])) else {
                return Err(refused());
            };
            *byte = high << 4 | low;
        }
        Ok(Self(hash))
    }

    /// The digest of content whose SHA-256 is `hash`: any 32 bytes are one.
    pub fn from_sha256(hash: [u8; 32]) -> Self {
        Self(hash)
    }

    /// The 64 hex digits, as the store names a blob.
    pub fn hex(&self) -> String {
        let mut text = String::with_capacity(64);
        for byte in self.0 {
            text.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
            text.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
        }
        text
    }
}

/// A lower-case hex digit's value; upper case is refused.
fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

fn shown(text: &str) -> String {
    text.chars().take(SHOWN_CHARS).collect()
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// SHA-256 of `abc` (FIPS 180-2's example).
    const ABC: [u8; 32] = [
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22,
        0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00,
        0x15, 0xad,
    ];

    #[test]
    fn a_hash_prints_as_sha256_hex_and_parses_back() {
        let digest = Digest::from_sha256(ABC);
        let text = digest.to_string();
        assert_eq!(
            text,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(digest.hex(), &text[7..]);
        assert_eq!(text.parse::<Digest>(), Ok(digest));
        assert_eq!(Digest::from_hex(&digest.hex()), Ok(digest));
        let json = serde_json::to_string(&digest).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), digest);
    }

    #[test]
    fn other_algorithms_upper_case_and_paths_are_refused() {
        let upper = Digest::from_sha256(ABC)
            .to_string()
            .to_uppercase()
            .replace("SHA256", "sha256");
        for (text, algorithm) in [
            ("sha512:ab", true),
            ("", true),
            ("SHA256:00", true),
            (upper.as_str(), false),
            ("sha256:../../etc", false),
            ("sha256:", false),
            (&format!("sha256:{}", "0".repeat(65)), false),
        ] {
            let refused = Digest::parse(text).unwrap_err();
            assert_eq!(
                matches!(refused, DigestError::Algorithm(_)),
                algorithm,
                "{text}: {refused}"
            );
        }
        assert!(Digest::from_hex("..").is_err());
        assert!(serde_json::from_str::<Digest>("\"sha256:00\"").is_err());
    }

    #[test]
    fn a_long_refused_digest_is_cut_in_its_error() {
        let long = format!("sha256:{}", "x".repeat(10_000));
        let DigestError::Hex(shown) = Digest::parse(&long).unwrap_err() else {
            panic!("not a hex error");
        };
        assert_eq!(shown.chars().count(), SHOWN_CHARS);
    }
}
