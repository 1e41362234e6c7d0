//! A hardshell backup: one file holding every object of the state store, the
//! secret store and a separate audit bucket, each record sealed under the
//! master key, and when asked the master key itself, wrapped by a passphrase.
//!
//! ```text
//!   "HSBK1\n"                   magic and version
//!   u32 BE, header JSON         archive id, creation time, master key id, and
//!                               the passphrase-wrapped master key or null
//!   records: u32 BE length, sealed record, ... the last one the end record
//! ```
//!
//! A record is sealed as storage seals an object (`hardshell_storage::envelope`:
//! a fresh data key wrapped by the master key, XChaCha20-Poly1305), with
//! `hardshell-backup/<archive>/<header SHA-256>/<index>` as what it is bound to.
//! So a record cannot be moved within the archive or into another, the header
//! cannot be changed, and the end record (which counts the records) makes a
//! truncated archive fail rather than restore part of a deployment.
//!
//! The master key, when it travels, is XChaCha20-Poly1305-sealed under a key
//! Argon2id makes from the passphrase (64 MiB, 3 passes), the header's archive
//! id its associated data. Without it, restoring needs the master key itself.

#![forbid(unsafe_code)]

use std::io::{Read, Write};

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hardshell_storage::MasterKey;
use hardshell_storage::envelope::{self, EnvelopeError};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

const MAGIC: &[u8] = b"HSBK1\n";
const MAX_HEADER: u32 = 64 * 1024;
/// The largest record read back: an object of the store and its key.
pub const MAX_RECORD: u32 = 1 << 30;
const END: u8 = 0xFF;
/// Argon2id's cost: 64 MiB, 3 passes, one lane.
const KDF_MEMORY_KIB: u32 = 64 * 1024;
const KDF_PASSES: u32 = 3;
const KDF_LANES: u32 = 1;
/// The shortest passphrase accepted for a master key that travels.
pub const MIN_PASSPHRASE: usize = 12;

/// Which store a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The state store (tokens, sessions, the ledger, workloads' state, and
    /// the audit logs when they live there).
    State,
    /// The secret store under the data directory.
    Secrets,
    /// The audit bucket of `[audit.s3]`, when it is its own.
    Audit,
    /// A log of the state store (a session's messages): the record's value
    /// is every record of the log in order, each a `u32` big-endian length
    /// and its bytes (`hardshell_storage::join_frames`).
    StateLog,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Self::State => 1,
            Self::Secrets => 2,
            Self::Audit => 3,
            Self::StateLog => 4,
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::State),
            2 => Some(Self::Secrets),
            3 => Some(Self::Audit),
            4 => Some(Self::StateLog),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("reading or writing the archive: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a hardshell backup, or of a format this hardshell does not read ({0})")]
    Format(&'static str),
    #[error("the archive ends before its last record: it was cut short")]
    Truncated,
    #[error(
        "this archive was made under master key {archive}, and the one given is {given}: \
         give that key (HARDSHELL_MASTER_KEY or the key file), or restore its copy with the passphrase"
    )]
    WrongMasterKey { archive: String, given: String },
    #[error(
        "record {index} does not open: the archive was changed, reordered or mixed with another ({source})"
    )]
    Tampered {
        index: u64,
        #[source]
        source: EnvelopeError,
    },
    #[error("the passphrase does not open the master key in this archive")]
    WrongPassphrase,
    #[error(
        "this archive holds no master key: restore needs the master key it was made under ({0})"
    )]
    NoMasterKey(String),
    #[error("a passphrase must be at least {MIN_PASSPHRASE} characters")]
    WeakPassphrase,
    #[error("the operating system's random number generator failed")]
    Random,
    #[error("a record is larger than the {MAX_RECORD}-byte limit")]
    TooLarge,
}

/// The archive's plaintext header.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub format: u32,
    pub archive: String,
    /// When it was made (RFC 3339), as the maker's clock said.
    pub created: String,
    /// The id of the master key the records are sealed under.
    pub master_key_id: String,
    /// That master key, wrapped by a passphrase, when it was asked for.
    pub master_key: Option<WrappedKey>,
}

/// The master key sealed under an Argon2id key from a passphrase.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrappedKey {
    pub kdf: String,
    pub memory_kib: u32,
    pub passes: u32,
    pub lanes: u32,
    pub salt: String,
    pub nonce: String,
    pub sealed: String,
}

impl std::fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedKey")
            .field("kdf", &self.kdf)
            .finish_non_exhaustive()
    }
}

/// One object read back.
pub struct Record {
    pub kind: Kind,
    pub key: String,
    pub value: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("kind", &self.kind)
            .field("key", &self.key)
            .field("bytes", &self.value.len())
            .finish()
    }
}

fn random<const N: usize>() -> Result<[u8; N], BackupError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| BackupError::Random)?;
    Ok(bytes)
}

fn passphrase_key(
    passphrase: &str,
    salt: &[u8],
    memory_kib: u32,
    passes: u32,
    lanes: u32,
) -> Result<Zeroizing<[u8; 32]>, BackupError> {
    let params = Params::new(memory_kib, passes, lanes, Some(32))
        .map_err(|_| BackupError::Format("argon2 parameters"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|_| BackupError::Format("argon2"))?;
    Ok(key)
}

fn wrap_master_key(
    master: &MasterKey,
    passphrase: &str,
    archive: &str,
) -> Result<WrappedKey, BackupError> {
    if passphrase.chars().count() < MIN_PASSPHRASE {
        return Err(BackupError::WeakPassphrase);
    }
    let salt: [u8; 16] = random()?;
    let nonce: [u8; 24] = random()?;
    let key = passphrase_key(passphrase, &salt, KDF_MEMORY_KIB, KDF_PASSES, KDF_LANES)?;
    let cipher = XChaCha20Poly1305::new((&*key).into());
    let hex = master.to_hex();
    let sealed = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: hex.as_bytes(),
                aad: archive.as_bytes(),
            },
        )
        .map_err(|_| BackupError::Random)?;
    Ok(WrappedKey {
        kdf: "argon2id".to_owned(),
        memory_kib: KDF_MEMORY_KIB,
        passes: KDF_PASSES,
        lanes: KDF_LANES,
        salt: B64.encode(salt),
        nonce: B64.encode(nonce),
        sealed: B64.encode(sealed),
    })
}

fn record_binding(header: &Header, digest: &str, index: u64) -> String {
    format!("hardshell-backup/{}/{digest}/{index}", header.archive)
}

/// Writes an archive: [`Writer::add`] each object, then [`Writer::finish`].
pub struct Writer<W: Write> {
    out: W,
    master: MasterKey,
    header: Header,
    digest: String,
    index: u64,
}

impl<W: Write> Writer<W> {
    /// Starts an archive sealed under `master`; with a `passphrase`, the master
    /// key travels in it, wrapped.
    pub fn create(
        mut out: W,
        master: &MasterKey,
        created: &str,
        passphrase: Option<&str>,
    ) -> Result<Self, BackupError> {
        let archive = hex::encode(random::<16>()?);
        let master_key = passphrase
            .map(|p| wrap_master_key(master, p, &archive))
            .transpose()?;
        let header = Header {
            format: 1,
            archive,
            created: created.to_owned(),
            master_key_id: master.id().to_string(),
            master_key,
        };
        let text = serde_json::to_vec(&header).map_err(|_| BackupError::Format("header"))?;
        out.write_all(MAGIC)?;
        out.write_all(
            &u32::try_from(text.len())
                .map_err(|_| BackupError::TooLarge)?
                .to_be_bytes(),
        )?;
        out.write_all(&text)?;
        Ok(Self {
            out,
            master: master.clone(),
            digest: hex::encode(Sha256::digest(&text)),
            header,
            index: 0,
        })
    }

    fn write_record(&mut self, plaintext: &[u8]) -> Result<(), BackupError> {
        let binding = record_binding(&self.header, &self.digest, self.index);
        let sealed =
            envelope::seal(&self.master, &binding, plaintext).map_err(|_| BackupError::Random)?;
        let len = u32::try_from(sealed.len()).map_err(|_| BackupError::TooLarge)?;
        if len > MAX_RECORD {
            return Err(BackupError::TooLarge);
        }
        self.out.write_all(&len.to_be_bytes())?;
        self.out.write_all(&sealed)?;
        self.index += 1;
        Ok(())
    }

    /// Adds one object of `kind`'s store.
    pub fn add(&mut self, kind: Kind, key: &str, value: &[u8]) -> Result<(), BackupError> {
        let key_len = u16::try_from(key.len()).map_err(|_| BackupError::TooLarge)?;
        let mut plaintext = Zeroizing::new(Vec::with_capacity(3 + key.len() + value.len()));
        plaintext.push(kind.byte());
        plaintext.extend_from_slice(&key_len.to_be_bytes());
        plaintext.extend_from_slice(key.as_bytes());
        plaintext.extend_from_slice(value);
        self.write_record(&plaintext)
    }

    /// Writes the end record (the count of those before it); the archive is
    /// whole only with it.
    pub fn finish(mut self) -> Result<W, BackupError> {
        let mut end = vec![END, 0, 0];
        end.extend_from_slice(&self.index.to_be_bytes());
        self.write_record(&end)?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// How many objects were added.
    pub fn count(&self) -> u64 {
        self.index
    }
}

impl<W: Write> std::fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("archive", &self.header.archive)
            .field("records", &self.index)
            .finish_non_exhaustive()
    }
}

/// Reads an archive: its header at once, each record on [`Archive::next`].
pub struct Archive<R: Read> {
    input: R,
    header: Header,
    digest: String,
    index: u64,
    ended: bool,
}

impl<R: Read> std::fmt::Debug for Archive<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("header", &self.header)
            .field("read", &self.index)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Archive<R> {
    pub fn open(mut input: R) -> Result<Self, BackupError> {
        let mut magic = [0u8; 6];
        input
            .read_exact(&mut magic)
            .map_err(|_| BackupError::Format("too short"))?;
        if magic != MAGIC {
            return Err(BackupError::Format("its first bytes"));
        }
        let mut len = [0u8; 4];
        input
            .read_exact(&mut len)
            .map_err(|_| BackupError::Format("too short"))?;
        let len = u32::from_be_bytes(len);
        if len > MAX_HEADER {
            return Err(BackupError::Format("header length"));
        }
        let mut text = vec![0u8; len as usize];
        input
            .read_exact(&mut text)
            .map_err(|_| BackupError::Format("too short"))?;
        let header: Header =
            serde_json::from_slice(&text).map_err(|_| BackupError::Format("header"))?;
        if header.format != 1 {
            return Err(BackupError::Format("version"));
        }
        Ok(Self {
            input,
            digest: hex::encode(Sha256::digest(&text)),
            header,
            index: 0,
            ended: false,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The master key the archive carries, opened with `passphrase`.
    pub fn master_key(&self, passphrase: &str) -> Result<MasterKey, BackupError> {
        let wrapped = self
            .header
            .master_key
            .as_ref()
            .ok_or_else(|| BackupError::NoMasterKey(self.header.master_key_id.clone()))?;
        // Format 1's parameters exactly: a file cannot ask this machine for
        // gigabytes of Argon2 memory or hours of passes before the passphrase
        // is even tried.
        if wrapped.kdf != "argon2id"
            || wrapped.memory_kib != KDF_MEMORY_KIB
            || wrapped.passes != KDF_PASSES
            || wrapped.lanes != KDF_LANES
        {
            return Err(BackupError::Format("master key wrapping"));
        }
        let decode = |text: &str| {
            B64.decode(text)
                .map_err(|_| BackupError::Format("master key wrapping"))
        };
        let salt = decode(&wrapped.salt)?;
        let nonce: [u8; 24] = decode(&wrapped.nonce)?
            .try_into()
            .map_err(|_| BackupError::Format("master key wrapping"))?;
        let key = passphrase_key(
            passphrase,
            &salt,
            wrapped.memory_kib,
            wrapped.passes,
            wrapped.lanes,
        )?;
        let hex = Zeroizing::new(
            XChaCha20Poly1305::new((&*key).into())
                .decrypt(
                    &XNonce::from(nonce),
                    Payload {
                        msg: &decode(&wrapped.sealed)?,
                        aad: self.header.archive.as_bytes(),
                    },
                )
                .map_err(|_| BackupError::WrongPassphrase)?,
        );
        let text = std::str::from_utf8(&hex).map_err(|_| BackupError::WrongPassphrase)?;
        let master = MasterKey::from_hex(text).ok_or(BackupError::WrongPassphrase)?;
        if master.id().to_string() != self.header.master_key_id {
            return Err(BackupError::Format(
                "the carried master key is not the archive's",
            ));
        }
        Ok(master)
    }

    /// The next object, or `None` after the end record. Fails on a record
    /// that does not open, and on an archive that ends before its end record.
    pub fn next(&mut self, master: &MasterKey) -> Result<Option<Record>, BackupError> {
        if self.ended {
            return Ok(None);
        }
        if master.id().to_string() != self.header.master_key_id {
            return Err(BackupError::WrongMasterKey {
                archive: self.header.master_key_id.clone(),
                given: master.id().to_string(),
            });
        }
        let mut len = [0u8; 4];
        if let Err(e) = self.input.read_exact(&mut len) {
            return Err(match e.kind() {
                std::io::ErrorKind::UnexpectedEof => BackupError::Truncated,
                _ => BackupError::Io(e),
            });
        }
        let len = u32::from_be_bytes(len);
        if len > MAX_RECORD {
            return Err(BackupError::TooLarge);
        }
        // Read as it arrives, never allocated up front from a length that
        // could lie.
        let mut sealed = Vec::new();
        (&mut self.input)
            .take(u64::from(len))
            .read_to_end(&mut sealed)?;
        if sealed.len() != len as usize {
            return Err(BackupError::Truncated);
        }
        let binding = record_binding(&self.header, &self.digest, self.index);
        let plaintext =
            envelope::open(master, &binding, &sealed).map_err(|source| BackupError::Tampered {
                index: self.index,
                source,
            })?;
        if plaintext.len() < 3 {
            return Err(BackupError::Format("a record"));
        }
        if plaintext[0] == END {
            let count: [u8; 8] = plaintext[3..]
                .try_into()
                .map_err(|_| BackupError::Format("the end record"))?;
            if u64::from_be_bytes(count) != self.index {
                return Err(BackupError::Format("the end record's count"));
            }
            self.ended = true;
            // Nothing may follow the end.
            let mut more = [0u8; 1];
            if self.input.read(&mut more)? != 0 {
                return Err(BackupError::Format("bytes after the end record"));
            }
            return Ok(None);
        }
        let kind = Kind::from_byte(plaintext[0]).ok_or(BackupError::Format("a record's store"))?;
        let key_len = usize::from(u16::from_be_bytes([plaintext[1], plaintext[2]]));
        let key = plaintext
            .get(3..3 + key_len)
            .and_then(|k| std::str::from_utf8(k).ok())
            .ok_or(BackupError::Format("a record's key"))?
            .to_owned();
        let value = Zeroizing::new(plaintext[3 + key_len..].to_vec());
        self.index += 1;
        Ok(Some(Record { kind, key, value }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const PASSPHRASE: &str = "correct horse battery staple";

    fn archive(master: &MasterKey, passphrase: Option<&str>) -> Vec<u8> {
        let mut writer =
            Writer::create(Vec::new(), master, "2026-12-06T00:00:00Z", passphrase).unwrap();
        writer.add(Kind::State, "tokens/a", b"one").unwrap();
        writer.add(Kind::Secrets, "secrets/KEY", b"two").unwrap();
        writer.add(Kind::Audit, "edge/0001", b"").unwrap();
        writer
            .add(Kind::StateLog, "agent/sessions/s/log", b"\0\0\0\x01x")
            .unwrap();
        writer.finish().unwrap()
    }

    fn read_all(bytes: &[u8], master: &MasterKey) -> Result<Vec<Record>, BackupError> {
        let mut archive = Archive::open(bytes)?;
        let mut records = Vec::new();
        while let Some(record) = archive.next(master)? {
            records.push(record);
        }
        Ok(records)
    }

    #[test]
    fn records_come_back_in_order_with_their_store() {
        let master = MasterKey::generate().unwrap();
        let bytes = archive(&master, None);
        let records = read_all(&bytes, &master).unwrap();
        let seen: Vec<_> = records
            .iter()
            .map(|r| (r.kind, r.key.as_str(), r.value.to_vec()))
            .collect();
        assert_eq!(
            seen,
            [
                (Kind::State, "tokens/a", b"one".to_vec()),
                (Kind::Secrets, "secrets/KEY", b"two".to_vec()),
                (Kind::Audit, "edge/0001", Vec::new()),
                (
                    Kind::StateLog,
                    "agent/sessions/s/log",
                    b"\0\0\0\x01x".to_vec()
                ),
            ]
        );
        // Nothing of it is in the file as written.
        for needle in [&b"tokens/a"[..], b"secrets/KEY", b"one", b"two"] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        }
    }

    #[test]
    fn another_master_key_a_cut_a_flipped_byte_or_a_spliced_record_fails() {
        let master = MasterKey::generate().unwrap();
        let bytes = archive(&master, None);
        let other = MasterKey::generate().unwrap();
        assert!(matches!(
            read_all(&bytes, &other),
            Err(BackupError::WrongMasterKey { .. })
        ));
        // Cut anywhere after the header: never a partial success.
        let header_end = 6 + 4 + u32::from_be_bytes(bytes[6..10].try_into().unwrap()) as usize;
        for cut in [header_end, header_end + 10, bytes.len() - 1] {
            assert!(read_all(&bytes[..cut], &master).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        let last = flipped.len() - 20;
        flipped[last] ^= 1;
        assert!(matches!(
            read_all(&flipped, &master),
            Err(BackupError::Tampered { .. })
        ));
        // A record from another archive under the same key does not open here.
        let second = archive(&master, None);
        let second_header_end =
            6 + 4 + u32::from_be_bytes(second[6..10].try_into().unwrap()) as usize;
        let mut spliced = bytes[..header_end].to_vec();
        spliced.extend_from_slice(&second[second_header_end..]);
        assert!(matches!(
            read_all(&spliced, &master),
            Err(BackupError::Tampered { index: 0, .. })
        ));
        // A changed header (say, a later date) breaks every record.
        let mut header = bytes.clone();
        let at = header.windows(4).position(|w| w == b"2026").unwrap();
        header[at + 3] = b'7';
        assert!(matches!(
            read_all(&header, &master),
            Err(BackupError::Tampered { index: 0, .. })
        ));
        assert!(matches!(
            Archive::open(&b"not a backup"[..]),
            Err(BackupError::Format(_))
        ));
    }

    #[test]
    fn the_master_key_travels_only_when_asked_and_opens_only_with_its_passphrase() {
        let master = MasterKey::generate().unwrap();
        let without = archive(&master, None);
        let opened = Archive::open(&without[..]).unwrap();
        assert!(matches!(
            opened.master_key(PASSPHRASE),
            Err(BackupError::NoMasterKey(_))
        ));
        assert!(!without.windows(64).any(|w| w == master.to_hex().as_bytes()));

        let with = archive(&master, Some(PASSPHRASE));
        assert!(!with.windows(64).any(|w| w == master.to_hex().as_bytes()));
        let opened = Archive::open(&with[..]).unwrap();
        assert!(matches!(
            opened.master_key("a wrong passphrase"),
            Err(BackupError::WrongPassphrase)
        ));
        let carried = opened.master_key(PASSPHRASE).unwrap();
        assert_eq!(carried.id(), master.id());
        assert_eq!(read_all(&with, &carried).unwrap().len(), 4);
        assert!(matches!(
            Writer::create(Vec::new(), &master, "t", Some("short")),
            Err(BackupError::WeakPassphrase)
        ));
        // A header asking for other Argon2 costs is refused before any is paid.
        let mut costly = with.clone();
        let field = b"\"memory_kib\":65536";
        let at = costly
            .windows(field.len())
            .position(|w| w == field)
            .unwrap();
        // The same length, so the header's length still holds: 99999 KiB.
        costly[at + field.len() - 5..at + field.len()].copy_from_slice(b"99999");
        let opened = Archive::open(&costly[..]).unwrap();
        assert!(matches!(
            opened.master_key(PASSPHRASE),
            Err(BackupError::Format("master key wrapping"))
        ));
    }
}
