//! The master key: 32 random bytes that wrap every object's data key.
//!
//! It lives in a file of mode 0600 under the data directory by default, or arrives
//! through an environment variable or another file. Its bytes never reach `Debug`,
//! `Display` or an error; what can be shown is its [`KeyId`], a one-way fingerprint
//! that lets "wrong master key" be told apart from "tampered object".

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub const MASTER_KEY_LEN: usize = 32;

/// The environment variable that may carry the master key as 64 hex digits.
pub const MASTER_KEY_ENV: &str = "HARDSHELL_MASTER_KEY";

/// A master key. Cloning copies the key bytes into another zeroizing buffer.
#[derive(Clone)]
pub struct MasterKey {
    bytes: Zeroizing<[u8; MASTER_KEY_LEN]>,
    id: KeyId,
}

/// The first 8 bytes of a domain-separated SHA-256 of the key. Safe to log.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub(crate) [u8; 8]);

/// Where a master key was read from; named in errors so the operator knows what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// An environment variable holding 64 hex digits.
    Env(String),
    /// A file holding 64 hex digits and optional trailing whitespace, mode 0600 or stricter.
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error(
        "no master key: {source_desc} does not exist (run `hardshell init`, or set {MASTER_KEY_ENV})"
    )]
    Missing { source_desc: String },
    #[error("cannot read the master key from {source_desc}: {cause}")]
    Read {
        source_desc: String,
        cause: std::io::Error,
    },
    #[error(
        "master key file {path} is accessible by group or others (mode {mode:04o}); run `chmod 600 {path}`"
    )]
    Permissions { path: String, mode: u32 },
    #[error("the master key in {source_desc} is not 64 hex digits")]
    Format { source_desc: String },
    #[error("cannot write the master key to {path}: {cause}")]
    Write { path: String, cause: std::io::Error },
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
}

impl MasterKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, MasterKeyError> {
        let mut bytes = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        getrandom::fill(bytes.as_mut()).map_err(|e| MasterKeyError::Random(e.to_string()))?;
        Ok(Self::from_bytes(bytes))
    }

    fn from_bytes(bytes: Zeroizing<[u8; MASTER_KEY_LEN]>) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"hardshell master key id v1\0");
        hasher.update(bytes.as_ref());
        let digest = hasher.finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Self {
            bytes,
            id: KeyId(id),
        }
    }

    /// Parses 64 hex digits, ignoring surrounding whitespace. The error never echoes input.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        hex::decode_to_slice(text.trim(), bytes.as_mut()).ok()?;
        Some(Self::from_bytes(bytes))
    }

    /// The key as 64 lowercase hex digits, in a buffer that is wiped when dropped.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.bytes.as_ref()))
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    pub(crate) fn bytes(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.bytes
    }

    /// Reads the key from `source`.
    pub fn load(source: &MasterKeySource) -> Result<Self, MasterKeyError> {
        let source_desc = source.to_string();
        let text = match source {
            MasterKeySource::Env(var) => match std::env::var(var) {
                Ok(value) => Zeroizing::new(value),
                Err(_) => return Err(MasterKeyError::Missing { source_desc }),
            },
            MasterKeySource::File(path) => read_key_file(path)?,
        };
        Self::from_hex(&text).ok_or(MasterKeyError::Format { source_desc })
    }

    /// Writes the key to a new file of mode 0600 and syncs it. Refuses to overwrite.
    pub fn write_new_file(&self, path: &Path) -> Result<(), MasterKeyError> {
        let write_err = |cause| MasterKeyError::Write {
            path: path.display().to_string(),
            cause,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(write_err)?;
        let mut line = self.to_hex();
        line.push('\n');
        file.write_all(line.as_bytes()).map_err(write_err)?;
        file.sync_all().map_err(write_err)
    }
}

fn read_key_file(path: &Path) -> Result<Zeroizing<String>, MasterKeyError> {
    let source_desc = || format!("file {}", path.display());
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(MasterKeyError::Missing {
                source_desc: source_desc(),
            });
        }
        Err(cause) => {
            return Err(MasterKeyError::Read {
                source_desc: source_desc(),
                cause,
            });
        }
    };
    let metadata = file.metadata().map_err(|cause| MasterKeyError::Read {
        source_desc: source_desc(),
        cause,
    })?;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(MasterKeyError::Permissions {
            path: path.display().to_string(),
            mode,
        });
    }
    // A key file is 65 bytes; reading at most a little more keeps a wrong path
    // (say, a multi-gigabyte file) from being slurped into memory.
    let mut text = Zeroizing::new(String::new());
    Read::by_ref(&mut file)
        .take(1024)
        .read_to_string(&mut text)
        .map_err(|cause| MasterKeyError::Read {
            source_desc: source_desc(),
            cause,
        })?;
    Ok(text)
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl fmt::Display for MasterKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MasterKeySource::Env(var) => write!(f, "environment variable {var}"),
            MasterKeySource::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_id_never_the_key() {
        let key = MasterKey::generate().unwrap();
        let hex = key.to_hex();
        let debug = format!("{key:?}");
        assert!(!debug.contains(hex.as_str()), "{debug}");
        assert!(!debug.contains(&hex[..16]), "{debug}");
        assert!(debug.contains(&key.id().to_string()), "{debug}");
    }

    #[test]
    fn written_key_file_is_0600_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let key = MasterKey::generate().unwrap();
        key.write_new_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = MasterKey::load(&MasterKeySource::File(path.clone())).unwrap();
        assert_eq!(loaded.id(), key.id());
        assert!(matches!(
            key.write_new_file(&path),
            Err(MasterKeyError::Write { .. })
        ));
    }

    #[test]
    fn group_readable_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        MasterKey::generate()
            .unwrap()
            .write_new_file(&path)
            .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = MasterKey::load(&MasterKeySource::File(path)).unwrap_err();
        assert!(
            matches!(err, MasterKeyError::Permissions { mode: 0o640, .. }),
            "{err}"
        );
    }

    #[test]
    fn missing_and_malformed_keys_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = MasterKey::load(&MasterKeySource::File(dir.path().join("nope"))).unwrap_err();
        assert!(
            matches!(missing, MasterKeyError::Missing { .. }),
            "{missing}"
        );

        let path = dir.path().join("bad.key");
        let secretish = "z".repeat(64);
        std::fs::write(&path, &secretish).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = MasterKey::load(&MasterKeySource::File(path)).unwrap_err();
        assert!(matches!(err, MasterKeyError::Format { .. }), "{err}");
        assert!(
            !err.to_string().contains(&secretish),
            "error echoed the input: {err}"
        );
    }

    #[test]
    fn from_hex_requires_exactly_32_bytes() {
        assert!(MasterKey::from_hex(&"ab".repeat(32)).is_some());
        assert!(MasterKey::from_hex(&format!("  {}\n", "ab".repeat(32))).is_some());
        assert!(MasterKey::from_hex(&"ab".repeat(31)).is_none());
        assert!(MasterKey::from_hex(&"ab".repeat(33)).is_none());
    }
}
