//! Envelope encryption: every object gets a fresh 256-bit data key; the data key is
//! wrapped by the master key. Both layers are XChaCha20-Poly1305 with random 192-bit
//! nonces, so random nonces never need a counter or a collision budget.
//!
//! Layout of a sealed object (all offsets in bytes):
//!
//! ```text
//!   0  magic "HSE1"            identifies the format and its version
//!   4  master key id (8)       which master key wrapped the data key
//!  12  wrap nonce (24)
//!  36  wrapped data key (48)   32-byte key + 16-byte tag
//!  84  data nonce (24)
//! 108  ciphertext + tag (16)
//! ```
//!
//! Both layers authenticate the object's key as associated data, and the data layer
//! also authenticates the whole header: an object copied to another key, a header
//! byte flipped, or a ciphertext truncated all fail to open. What is not detected is
//! a rollback to an older ciphertext of the same key (see docs/threat-model.md).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::master_key::{KeyId, MasterKey};

const MAGIC: &[u8; 4] = b"HSE1";
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const DATA_KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const WRAP_NONCE_AT: usize = MAGIC.len() + KEY_ID_LEN;
const WRAPPED_KEY_AT: usize = WRAP_NONCE_AT + NONCE_LEN;
const DATA_NONCE_AT: usize = WRAPPED_KEY_AT + DATA_KEY_LEN + TAG_LEN;
const HEADER_LEN: usize = DATA_NONCE_AT + NONCE_LEN;

/// Bytes a sealed object adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not a hardshell envelope ({reason})")]
    Malformed { reason: &'static str },
    #[error(
        "sealed under master key {sealed_with}, but the loaded master key is {loaded}: wrong master key"
    )]
    WrongMasterKey { sealed_with: KeyId, loaded: KeyId },
    #[error("authentication failed: the object was modified, truncated or moved from another key")]
    Tampered,
    #[error("the operating system's random number generator failed")]
    Random,
}

/// Seals `plaintext` stored under `object_key`.
pub fn seal(
    master: &MasterKey,
    object_key: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    let mut data_key = Zeroizing::new([0u8; DATA_KEY_LEN]);
    let mut header = [0u8; HEADER_LEN];
    getrandom::fill(data_key.as_mut()).map_err(|_| EnvelopeError::Random)?;
    getrandom::fill(&mut header[WRAP_NONCE_AT..WRAPPED_KEY_AT])
        .map_err(|_| EnvelopeError::Random)?;
    getrandom::fill(&mut header[DATA_NONCE_AT..HEADER_LEN]).map_err(|_| EnvelopeError::Random)?;
    header[..4].copy_from_slice(MAGIC);
    header[4..WRAP_NONCE_AT].copy_from_slice(&master.id().0);

    let wrap_aad = aad(&header[..WRAP_NONCE_AT], object_key);
    let wrapped = cipher(master.bytes())
        .encrypt(
            &nonce(&header[WRAP_NONCE_AT..WRAPPED_KEY_AT])?,
            Payload {
                msg: data_key.as_ref(),
                aad: &wrap_aad,
            },
        )
        .map_err(|_| EnvelopeError::Random)?;
    header[WRAPPED_KEY_AT..DATA_NONCE_AT].copy_from_slice(&wrapped);

    let data_aad = aad(&header, object_key);
    let body = cipher(&data_key)
        .encrypt(
            &nonce(&header[DATA_NONCE_AT..HEADER_LEN])?,
            Payload {
                msg: plaintext,
                aad: &data_aad,
            },
        )
        .map_err(|_| EnvelopeError::Random)?;

    let mut sealed = Vec::with_capacity(HEADER_LEN + body.len());
    sealed.extend_from_slice(&header);
    sealed.extend_from_slice(&body);
    Ok(sealed)
}

/// Opens an object sealed by [`seal`] under the same `object_key`.
pub fn open(
    master: &MasterKey,
    object_key: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    if sealed.len() < MAGIC.len() || &sealed[..MAGIC.len()] != MAGIC {
        return Err(EnvelopeError::Malformed {
            reason: "bad magic",
        });
    }
    if sealed.len() < HEADER_LEN + TAG_LEN {
        return Err(EnvelopeError::Malformed {
            reason: "shorter than the envelope header",
        });
    }
    let (header, body) = sealed.split_at(HEADER_LEN);
    let mut sealed_with = [0u8; KEY_ID_LEN];
    sealed_with.copy_from_slice(&header[4..WRAP_NONCE_AT]);
    if sealed_with != master.id().0 {
        return Err(EnvelopeError::WrongMasterKey {
            sealed_with: KeyId(sealed_with),
            loaded: master.id(),
        });
    }

    let wrap_aad = aad(&header[..WRAP_NONCE_AT], object_key);
    let data_key = Zeroizing::new(
        cipher(master.bytes())
            .decrypt(
                &nonce(&header[WRAP_NONCE_AT..WRAPPED_KEY_AT])?,
                Payload {
                    msg: &header[WRAPPED_KEY_AT..DATA_NONCE_AT],
                    aad: &wrap_aad,
                },
            )
            .map_err(|_| EnvelopeError::Tampered)?,
    );
    let data_key: &[u8; DATA_KEY_LEN] = data_key
        .as_slice()
        .try_into()
        .map_err(|_| EnvelopeError::Tampered)?;

    let data_aad = aad(header, object_key);
    cipher(data_key)
        .decrypt(
            &nonce(&header[DATA_NONCE_AT..HEADER_LEN])?,
            Payload {
                msg: body,
                aad: &data_aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| EnvelopeError::Tampered)
}

fn nonce(bytes: &[u8]) -> Result<XNonce, EnvelopeError> {
    XNonce::try_from(bytes).map_err(|_| EnvelopeError::Malformed {
        reason: "nonce of the wrong length",
    })
}

fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.into())
}

/// `prefix || object_key`: the prefix is fixed-length, so the concatenation is unambiguous.
fn aad(prefix: &[u8], object_key: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(prefix.len() + object_key.len());
    aad.extend_from_slice(prefix);
    aad.extend_from_slice(object_key.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::generate().unwrap()
    }

    #[test]
    fn sealed_objects_round_trip_and_hide_the_plaintext() {
        let master = key();
        let sealed = seal(&master, "a/b", b"attack at dawn").unwrap();
        assert_eq!(sealed.len(), b"attack at dawn".len() + OVERHEAD);
        assert!(!sealed.windows(6).any(|w| w == b"attack"));
        assert_eq!(
            open(&master, "a/b", &sealed).unwrap().as_slice(),
            b"attack at dawn"
        );
    }

    #[test]
    fn every_seal_uses_fresh_randomness() {
        let master = key();
        let one = seal(&master, "k", b"same").unwrap();
        let two = seal(&master, "k", b"same").unwrap();
        assert_ne!(one, two);
        assert_ne!(
            one[WRAPPED_KEY_AT..DATA_NONCE_AT],
            two[WRAPPED_KEY_AT..DATA_NONCE_AT]
        );
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let master = key();
        let sealed = seal(&master, "k", b"0123456789").unwrap();
        for byte in 0..sealed.len() {
            for bit in 0..8 {
                let mut tampered = sealed.clone();
                tampered[byte] ^= 1 << bit;
                let err = open(&master, "k", &tampered).unwrap_err();
                assert!(
                    matches!(
                        err,
                        EnvelopeError::Tampered
                            | EnvelopeError::Malformed { .. }
                            | EnvelopeError::WrongMasterKey { .. }
                    ),
                    "byte {byte} bit {bit}: {err:?}"
                );
            }
        }
    }

    #[test]
    fn every_truncation_is_detected() {
        let master = key();
        let sealed = seal(&master, "k", b"some plaintext").unwrap();
        for len in 0..sealed.len() {
            assert!(open(&master, "k", &sealed[..len]).is_err(), "length {len}");
        }
        let mut extended = sealed.clone();
        extended.push(0);
        assert_eq!(
            open(&master, "k", &extended).unwrap_err(),
            EnvelopeError::Tampered
        );
    }

    #[test]
    fn an_object_moved_to_another_key_does_not_open() {
        let master = key();
        let sealed = seal(&master, "secrets/A", b"value").unwrap();
        assert_eq!(
            open(&master, "secrets/B", &sealed).unwrap_err(),
            EnvelopeError::Tampered
        );
    }

    #[test]
    fn a_different_master_key_is_named_not_called_tampering() {
        let sealer = key();
        let other = key();
        let sealed = seal(&sealer, "k", b"value").unwrap();
        assert_eq!(
            open(&other, "k", &sealed).unwrap_err(),
            EnvelopeError::WrongMasterKey {
                sealed_with: sealer.id(),
                loaded: other.id()
            }
        );
    }

    #[test]
    fn plaintext_is_refused_as_malformed() {
        let err = open(&key(), "k", b"{\"plain\": true}").unwrap_err();
        assert!(matches!(err, EnvelopeError::Malformed { .. }));
    }
}
