//! sha256 digests: the value is the vocabulary's ([`Digest`], one rule for the
//! config, the import and the store); computing one is this crate's, so the
//! vocabulary stays free of crypto.

use sha2::{Digest as _, Sha256};

pub use hardshell_vocabulary::{Digest, DigestError};

/// `Digest::of(bytes)`: the digest of content held in memory (a manifest, a config).
pub trait DigestOf {
    /// The sha256 digest of `bytes`.
    fn of(bytes: &[u8]) -> Self;
}

impl DigestOf for Digest {
    fn of(bytes: &[u8]) -> Self {
        Digest::from_sha256(Sha256::digest(bytes).into())
    }
}

/// Hashes bytes as they stream past, counting them, so a blob is checked while it
/// is written and never needs to be read twice.
#[derive(Debug, Default)]
pub struct DigestWriter {
    hasher: Sha256,
    written: u64,
}

impl DigestWriter {
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn finish(self) -> Digest {
        Digest::from_sha256(self.hasher.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_bytes_and_of_a_stream_agree_with_sha256() {
        let d = Digest::of(b"abc");
        assert_eq!(
            d.to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut writer = DigestWriter::default();
        writer.update(b"a");
        writer.update(b"bc");
        assert_eq!(writer.written(), 3);
        assert_eq!(writer.finish(), d);
    }
}
