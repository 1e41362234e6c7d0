//! The CA's signing key, wiped when dropped.
//!
//! rcgen's `KeyPair` can be zeroized but does not wipe itself, and an
//! `Issuer` owns its key, so the key goes in as this wrapper. What is wiped is
//! the PKCS#8 copy rcgen keeps; aws-lc's own copy of the scalar is freed by
//! aws-lc, which cleanses EC keys on free.

use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm, SigningKey};
use zeroize::{Zeroize, Zeroizing};

pub(crate) struct CaKey(KeyPair);

impl CaKey {
    pub(crate) fn new(key: KeyPair) -> Self {
        Self(key)
    }

    /// The SubjectPublicKeyInfo, to match against the certificate's.
    pub(crate) fn spki(&self) -> Vec<u8> {
        self.0.subject_public_key_info()
    }

    /// The key as PKCS#8 PEM, for the secret store only.
    pub(crate) fn pem(&self) -> Zeroizing<String> {
        Zeroizing::new(self.0.serialize_pem())
    }
}

impl Drop for CaKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl PublicKeyData for CaKey {
    fn der_bytes(&self) -> &[u8] {
        self.0.der_bytes()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.0.algorithm()
    }
}

impl SigningKey for CaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.0.sign(msg)
    }
}
