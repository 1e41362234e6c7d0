//! The embedded default: objects as files under the data directory.
//!
//! Every write and delete takes one of [`STRIPES`] lock files (`flock`, chosen by a
//! hash of the object path), so update-if-unchanged is a check and a write that no
//! other writer can come between, whether it runs in this process or another
//! `hardshell` sharing the directory. Writes are fsynced before they return: an
//! acknowledged write survives `kill -9` and power loss.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use sha2::{Digest, Sha256};

use crate::StorageError;

/// Number of lock files. Writers to different objects rarely share one; writers to
/// the same object always do.
const STRIPES: u8 = 64;

/// Where the local store keeps objects and its lock files.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Directory holding the objects (created if missing, mode 0700).
    pub objects: PathBuf,
    /// Directory holding the lock files; must not be inside `objects`.
    pub locks: PathBuf,
}

pub(crate) struct Locks {
    dir: PathBuf,
}

/// Holds a stripe's exclusive lock until dropped (closing the file releases it).
pub(crate) struct LockGuard(#[allow(dead_code)] File);

pub(crate) fn open(options: &LocalOptions) -> Result<(Arc<dyn ObjectStore>, Locks), StorageError> {
    if options.locks.starts_with(&options.objects) {
        return Err(StorageError::Config(format!(
            "lock directory {} must not be inside the object directory {}",
            options.locks.display(),
            options.objects.display()
        )));
    }
    create_private_dir(&options.objects)?;
    create_private_dir(&options.locks)?;
    let store = LocalFileSystem::new_with_prefix(&options.objects)
        .map_err(|e| StorageError::Config(format!("object directory: {e}")))?
        .with_fsync(true)
        .with_automatic_cleanup(true);
    Ok((
        Arc::new(store),
        Locks {
            dir: options.locks.clone(),
        },
    ))
}

fn create_private_dir(path: &std::path::Path) -> Result<(), StorageError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| StorageError::Io {
            what: "create directory",
            path: path.display().to_string(),
            source,
        })
}

impl Locks {
    pub(crate) async fn lock(&self, path: &Path) -> Result<LockGuard, StorageError> {
        let lock_path = self.stripe(path);
        tokio::task::spawn_blocking(move || lock_now(&lock_path))
            .await
            .map_err(|e| StorageError::Task(e.to_string()))?
    }

    /// The lock file of `path`'s stripe, for [`lock_now`] on a blocking thread.
    pub(crate) fn stripe(&self, path: &Path) -> PathBuf {
        let stripe = Sha256::digest(path.as_ref().as_bytes())[0] % STRIPES;
        self.dir.join(format!("stripe-{stripe:02}.lock"))
    }
}

/// Takes a stripe's lock, blocking until it is free.
pub(crate) fn lock_now(lock_path: &std::path::Path) -> Result<LockGuard, StorageError> {
    let io_err = |source| StorageError::Io {
        what: "lock",
        path: lock_path.display().to_string(),
        source,
    };
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path)
        .map_err(io_err)?;
    file.lock().map_err(io_err)?;
    Ok(LockGuard(file))
}
