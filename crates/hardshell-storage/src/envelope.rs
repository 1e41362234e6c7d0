//! Envelope encryption: every object gets a fresh 256-bit data key; the data key is
//! wrapped by the master key. Both layers are XChaCha20-Poly1305 with random 192-bit
//! nonces, so random nonces never need a counter or a collision budget.
//!
//! Two layouts (all offsets in bytes). `HSE2`, which the store writes, carries
//! the object's *stamp*: the write's number in the version register
//! (`register.rs`), so what the register remembers is bound into the sealed bytes
//! and an older copy cannot pass for a newer one. `HSE1` has no stamp; it is what
//! objects written before the register look like, and what a backup archive's
//! records are (an archive is one file, whole or not at all).
//!
//! ```text
//!   HSE2                             HSE1
//!   0  magic "HSE2"                  0  magic "HSE1"
//!   4  master key id (8)             4  master key id (8)
//!  12  stamp (8, big-endian)
//!  20  wrap nonce (24)              12  wrap nonce (24)
//!  44  wrapped data key (48)        36  wrapped data key (48)   32-byte key + 16-byte tag
//!  92  data nonce (24)              84  data nonce (24)
//! 116  ciphertext + tag (16)       108  ciphertext + tag (16)
//! ```
//!
//! Both layers authenticate the object's key as associated data, and the data layer
//! also authenticates the whole header (the stamp with it): an object copied to
//! another key, a header byte flipped, or a ciphertext truncated all fail to open.
//! An older ciphertext of the same key does open; telling it from the newest is the
//! register's job, by its stamp.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::master_key::{KeyId, MasterKey};

const KEY_ID_LEN: usize = 8;
const STAMP_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const DATA_KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// Where each part of a header lies, for one layout.
#[derive(Clone, Copy)]
struct Layout {
    magic: &'static [u8; 4],
    stamped: bool,
}

const V1: Layout = Layout {
    magic: b"HSE1",
    stamped: false,
};
const V2: Layout = Layout {
    magic: b"HSE2",
    stamped: true,
};

impl Layout {
    const fn key_id_at(self) -> usize {
        4
    }
    const fn wrap_nonce_at(self) -> usize {
        self.key_id_at() + KEY_ID_LEN + if self.stamped { STAMP_LEN } else { 0 }
    }
    const fn wrapped_key_at(self) -> usize {
        self.wrap_nonce_at() + NONCE_LEN
    }
    const fn data_nonce_at(self) -> usize {
        self.wrapped_key_at() + DATA_KEY_LEN + TAG_LEN
    }
    const fn header_len(self) -> usize {
        self.data_nonce_at() + NONCE_LEN
    }

    fn of(sealed: &[u8]) -> Result<Self, EnvelopeError> {
        match sealed.get(..4) {
            Some(magic) if magic == V2.magic => Ok(V2),
            Some(magic) if magic == V1.magic => Ok(V1),
            _ => Err(EnvelopeError::Malformed {
                reason: "bad magic",
            }),
        }
    }
}

/// Bytes a sealed object adds to its plaintext, in the layout the store writes.
pub const OVERHEAD: usize = V2.header_len() + TAG_LEN;

/// Bytes [`seal`] adds (the unstamped layout).
pub const OVERHEAD_UNSTAMPED: usize = V1.header_len() + TAG_LEN;

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

/// An opened object and the stamp it was sealed with (0 for the unstamped layout).
pub struct Opened {
    pub value: Zeroizing<Vec<u8>>,
    pub stamp: u64,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The value may be a secret; show only its size.
        f.debug_struct("Opened")
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .field("stamp", &self.stamp)
            .finish()
    }
}

/// Seals `plaintext` stored under `object_key`, without a stamp (`HSE1`).
pub fn seal(
    master: &MasterKey,
    object_key: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    seal_as(V1, master, object_key, 0, plaintext)
}

/// Seals `plaintext` stored under `object_key` with its `stamp` (`HSE2`).
pub fn seal_stamped(
    master: &MasterKey,
    object_key: &str,
    stamp: u64,
    plaintext: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    seal_as(V2, master, object_key, stamp, plaintext)
}

fn seal_as(
    layout: Layout,
    master: &MasterKey,
    object_key: &str,
    stamp: u64,
    plaintext: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    let (wrap_nonce_at, wrapped_key_at, data_nonce_at, header_len) = (
        layout.wrap_nonce_at(),
        layout.wrapped_key_at(),
        layout.data_nonce_at(),
        layout.header_len(),
    );
    let mut data_key = Zeroizing::new([0u8; DATA_KEY_LEN]);
    let mut header = vec![0u8; header_len];
    getrandom::fill(data_key.as_mut()).map_err(|_| EnvelopeError::Random)?;
    getrandom::fill(&mut header[wrap_nonce_at..wrapped_key_at])
        .map_err(|_| EnvelopeError::Random)?;
    getrandom::fill(&mut header[data_nonce_at..header_len]).map_err(|_| EnvelopeError::Random)?;
    header[..4].copy_from_slice(layout.magic);
    let key_id_at = layout.key_id_at();
    header[key_id_at..key_id_at + KEY_ID_LEN].copy_from_slice(&master.id().0);
    if layout.stamped {
        let at = key_id_at + KEY_ID_LEN;
        header[at..at + STAMP_LEN].copy_from_slice(&stamp.to_be_bytes());
    }

    let wrap_aad = aad(&header[..wrap_nonce_at], object_key);
    let wrapped = cipher(master.bytes())
        .encrypt(
            &nonce(&header[wrap_nonce_at..wrapped_key_at])?,
            Payload {
                msg: data_key.as_ref(),
                aad: &wrap_aad,
            },
        )
        .map_err(|_| EnvelopeError::Random)?;
    header[wrapped_key_at..data_nonce_at].copy_from_slice(&wrapped);

    let data_aad = aad(&header, object_key);
    let body = cipher(&data_key)
        .encrypt(
            &nonce(&header[data_nonce_at..header_len])?,
            Payload {
                msg: plaintext,
                aad: &data_aad,
            },
        )
        .map_err(|_| EnvelopeError::Random)?;

    let mut sealed = header;
    sealed.extend_from_slice(&body);
    Ok(sealed)
}

/// Opens an object sealed by [`seal`] or [`seal_stamped`] under the same `object_key`.
pub fn open(
    master: &MasterKey,
    object_key: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    open_stamped(master, object_key, sealed).map(|opened| opened.value)
}

/// Opens an object as [`open`] does, and gives its stamp too (0 when unstamped).
pub fn open_stamped(
    master: &MasterKey,
    object_key: &str,
    sealed: &[u8],
) -> Result<Opened, EnvelopeError> {
    let layout = Layout::of(sealed)?;
    let (wrap_nonce_at, wrapped_key_at, data_nonce_at, header_len) = (
        layout.wrap_nonce_at(),
        layout.wrapped_key_at(),
        layout.data_nonce_at(),
        layout.header_len(),
    );
    if sealed.len() < header_len + TAG_LEN {
        return Err(EnvelopeError::Malformed {
            reason: "shorter than the envelope header",
        });
    }
    let (header, body) = sealed.split_at(header_len);
    let key_id_at = layout.key_id_at();
    let mut sealed_with = [0u8; KEY_ID_LEN];
    sealed_with.copy_from_slice(&header[key_id_at..key_id_at + KEY_ID_LEN]);
    if sealed_with != master.id().0 {
        return Err(EnvelopeError::WrongMasterKey {
            sealed_with: KeyId(sealed_with),
            loaded: master.id(),
        });
    }
    let stamp = match layout.stamped {
        true => {
            let at = key_id_at + KEY_ID_LEN;
            let mut bytes = [0u8; STAMP_LEN];
            bytes.copy_from_slice(&header[at..at + STAMP_LEN]);
            u64::from_be_bytes(bytes)
        }
        false => 0,
    };

    let wrap_aad = aad(&header[..wrap_nonce_at], object_key);
    let data_key = Zeroizing::new(
        cipher(master.bytes())
            .decrypt(
                &nonce(&header[wrap_nonce_at..wrapped_key_at])?,
                Payload {
                    msg: &header[wrapped_key_at..data_nonce_at],
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
    let value = cipher(data_key)
        .decrypt(
            &nonce(&header[data_nonce_at..header_len])?,
            Payload {
                msg: body,
                aad: &data_aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| EnvelopeError::Tampered)?;
    Ok(Opened { value, stamp })
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
        assert_eq!(sealed.len(), b"attack at dawn".len() + OVERHEAD_UNSTAMPED);
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
            one[V1.wrapped_key_at()..V1.data_nonce_at()],
            two[V1.wrapped_key_at()..V1.data_nonce_at()]
        );
    }

    #[test]
    fn a_stamp_is_sealed_in_and_read_back() {
        let master = key();
        let sealed = seal_stamped(&master, "tokens/a", 0x0102_0304_0506_0708, b"value").unwrap();
        assert_eq!(sealed.len(), b"value".len() + OVERHEAD);
        assert_eq!(&sealed[..4], b"HSE2");
        let opened = open_stamped(&master, "tokens/a", &sealed).unwrap();
        assert_eq!(opened.stamp, 0x0102_0304_0506_0708);
        assert_eq!(opened.value.as_slice(), b"value");
        // The unstamped layout still opens, as stamp 0.
        let old = seal(&master, "tokens/a", b"value").unwrap();
        assert_eq!(&old[..4], b"HSE1");
        assert_eq!(open_stamped(&master, "tokens/a", &old).unwrap().stamp, 0);
    }

    #[test]
    fn a_stamp_cannot_be_raised_or_the_layout_changed() {
        let master = key();
        let sealed = seal_stamped(&master, "k", 7, b"value").unwrap();
        let mut raised = sealed.clone();
        raised[12..20].copy_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(
            open_stamped(&master, "k", &raised).unwrap_err(),
            EnvelopeError::Tampered
        );
        // Relabelled as the unstamped layout, the stamp's bytes are read as
        // nonce bytes, and nothing authenticates.
        let mut relabelled = sealed.clone();
        relabelled[..4].copy_from_slice(b"HSE1");
        assert!(open_stamped(&master, "k", &relabelled).is_err());
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let master = key();
        for sealed in [
            seal(&master, "k", b"0123456789").unwrap(),
            seal_stamped(&master, "k", 42, b"0123456789").unwrap(),
        ] {
            every_flip_fails(&master, &sealed);
        }
    }

    fn every_flip_fails(master: &MasterKey, sealed: &[u8]) {
        for byte in 0..sealed.len() {
            for bit in 0..8 {
                let mut tampered = sealed.to_vec();
                tampered[byte] ^= 1 << bit;
                let err = open(master, "k", &tampered).unwrap_err();
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
