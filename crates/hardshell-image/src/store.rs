//! The content-addressed image store under the directory the caller gives
//! (`<data_dir>/images/`, mode 0700):
//!
//! - `blobs/sha256/<hex>`: manifests, configs and layers, each stored only after
//!   it hashed to its name;
//! - `roots/<hex>/`: a manifest's unpacked root, read-only, renamed into place
//!   only when complete; `roots/<hex>.record.json`: what it held at unpack;
//! - `refs.json`: which reference resolved to which digests (`ls`, `prune`);
//! - `tmp/`: downloads and unpacks in progress; `lock`: one writer at a time.

mod blobs;
mod maintain;
mod refs;
mod roots;

use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::ImageRef;
use crate::config::ImageConfig;
use crate::digest::Digest;
use crate::error::ImageError;
use crate::unpack::{Owner, UnpackLimits};

pub use maintain::{PruneReport, VerifyReport};
pub use refs::StoredImage;

/// The store, opened. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ImageStore {
    pub(crate) dir: PathBuf,
    pub(crate) owner: Owner,
    pub(crate) limits: UnpackLimits,
}

/// An image ready to run: what it is, how it wants to run, where its root is.
#[derive(Debug, Clone)]
pub struct PulledImage {
    pub reference: ImageRef,
    /// The digest the reference resolved to (an index or a manifest): the one
    /// to pin, and to audit when the reference was not pinned.
    pub resolved: Digest,
    /// This platform's manifest; its unpacked root is keyed by it.
    pub manifest: Digest,
    pub config: ImageConfig,
    pub config_digest: Digest,
    /// The unpacked root, read-only.
    pub root: PathBuf,
}

impl ImageStore {
    /// Opens (creating) the store at `dir`, mode 0700. `owner` is who every
    /// unpacked file will belong to (the shell's host ids).
    pub fn open(dir: &Path, owner: Owner, limits: UnpackLimits) -> Result<Self, ImageError> {
        for sub in ["blobs/sha256", "roots", "tmp"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(ImageError::store("create", &path))?;
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(ImageError::store("set mode 0700 on", dir))?;
        Ok(Self {
            dir: dir.to_owned(),
            owner,
            limits,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }

    pub(crate) fn root_path(&self, manifest: &Digest) -> PathBuf {
        self.dir.join("roots").join(manifest.hex())
    }

    pub(crate) fn record_path(&self, manifest: &Digest) -> PathBuf {
        self.dir
            .join("roots")
            .join(format!("{}.record.json", manifest.hex()))
    }

    pub(crate) fn tmp(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// Takes the store's writer lock, or says who holds it. Released on drop.
    pub(crate) fn lock(&self) -> Result<OwnedFd, ImageError> {
        let path = self.dir.join("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(ImageError::store("open", &path))?;
        let fd = OwnedFd::from(file);
        rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockExclusive)
            .map_err(|_| ImageError::Busy(self.dir.clone()))?;
        Ok(fd)
    }

    /// An image already pulled, by the digest its reference resolved to or by
    /// its manifest digest, without the network. `None` if it is not here.
    pub fn lookup(&self, digest: &Digest) -> Result<Option<PulledImage>, ImageError> {
        let refs = self.read_refs()?;
        let Some(entry) = refs
            .iter()
            .find(|e| e.resolved == *digest || e.manifest == *digest)
        else {
            return Ok(None);
        };
        let root = self.root_path(&entry.manifest);
        if !root.is_dir() {
            return Ok(None);
        }
        let config_bytes = std::fs::read(self.blob_path(&entry.config)).map_err(
            ImageError::store("read config blob", self.blob_path(&entry.config)),
        )?;
        let config = ImageConfig::parse(&config_bytes).map_err(|source| ImageError::Config {
            digest: entry.config,
            source,
        })?;
        Ok(Some(PulledImage {
            reference: ImageRef::parse(&entry.reference)?,
            resolved: entry.resolved,
            manifest: entry.manifest,
            config,
            config_digest: entry.config,
            root,
        }))
    }
}

/// Removes a file or a whole tree (read-only directories included) without
/// following any symlink in it.
pub(crate) fn remove_tree(path: &Path) -> Result<(), ImageError> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str()))
    else {
        return Ok(());
    };
    let dir = std::fs::File::open(parent).map_err(ImageError::store("open", parent))?;
    crate::unpack::at::remove_any(&dir, name).map_err(ImageError::store("remove", path))
}

pub(crate) use blobs::random_suffix;
