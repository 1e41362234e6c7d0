//! A workload's state directory (OpenClaw's `~/.openclaw`) kept in hardshell's
//! encrypted object store, so a new machine or a lost disk restores it.
//!
//! Invariants: the remote's current generation changes only by
//! compare-and-swap, under a lease only one holder has at a time; a stale or
//! empty local copy never replaces a newer remote one, and nothing either side
//! held is deleted without being kept (see [`Prepared`]); the directory,
//! written by a hostile workload, is read and written only through directory
//! descriptors with `O_NOFOLLOW`, so no symlink in it is ever followed.
//!
//! The caller's order: [`StateSync::open`], [`StateSync::take_lease`],
//! [`StateSync::restore_if_needed`], start the workload, [`StateSync::run`]
//! until it stops (a last sync, then the lease released):
//!
//! ```no_run
//! # async fn wire(store: hardshell_storage::Store, data_dir: &std::path::Path)
//! # -> Result<(), hardshell_state::StateError> {
//! use hardshell_state::{Holder, LocalPaths, Owner, StateSync, SyncOptions};
//! use hardshell_storage::ObjectKey;
//!
//! let name = "openclaw";
//! let paths = LocalPaths::for_workload(data_dir, name);
//! let scope = store
//!     .root()
//!     .scope(&ObjectKey::parse("workload")?.join(&ObjectKey::segment(name)?)?)?;
//! let holder = Holder::load_or_create(&paths.holder)?;
//! // The shell's ids as the host sees them (its user namespace's mapping).
//! let owner = Owner { uid: 100_000, gid: 100_000 };
//! let mut sync = StateSync::open(scope, holder, SyncOptions::new(paths.dir, paths.record, owner)).await?;
//! sync.take_lease().await?; // LeaseHeld: another machine owns this state
//! let prepared = sync.restore_if_needed().await?; // say what happened, then start the workload
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let syncing = tokio::spawn(sync.run(async {
//!     let _ = stopped.await;
//! }));
//! // ... the workload runs; when it has stopped:
//! let _ = stop.send(());
//! let _last_sync_and_release = syncing.await;
//! # let _ = prepared; Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod error;
mod garbage;
mod lease;
pub mod manifest;
pub mod operator;
mod prepare;
mod record;
mod remote;
mod run;
mod sync;
mod tree;
mod write;

use std::path::PathBuf;
use std::time::Duration;

pub use error::StateError;
pub use lease::{Holder, LeaseRecord};
pub use prepare::Prepared;
pub use remote::{KEPT_GENERATIONS, Snapshot};
pub use sync::{Pushed, Skipped, StateSync};

/// Bounds on what the workload's directory may hold. Past one, nothing is
/// published and the previous generation stays current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries of every kind.
    pub max_files: usize,
    /// Sum of file sizes.
    pub max_total_bytes: u64,
    /// One file; below the store's 64 MiB object bound with room for sealing.
    pub max_file_bytes: u64,
    /// The manifest itself (its paths and symlink targets grow it), also
    /// below the store's object bound.
    pub max_manifest_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_files: 50_000,
            max_total_bytes: 2 * 1024 * 1024 * 1024,
            max_file_bytes: 48 * 1024 * 1024,
            max_manifest_bytes: 32 * 1024 * 1024,
        }
    }
}

/// The host ids restored files get: the shell's uid and gid as the host sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    /// This process's own ids (for the operator's CLI run as the edge's user).
    pub fn current() -> Owner {
        Owner {
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
        }
    }
}

/// Where one workload's state lives on this machine, by convention, so `up`
/// and the `state` commands agree: under `<data_dir>/workloads/<name>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPaths {
    /// The state directory bound into the workload's shell.
    pub dir: PathBuf,
    /// The record of the generation the local copy is based on.
    pub record: PathBuf,
    /// The holder id of this data directory (one for all its workloads).
    pub holder: PathBuf,
}

impl LocalPaths {
    /// The paths for workload `name` (checked by the caller as an object key
    /// segment) under `data_dir`.
    pub fn for_workload(data_dir: &std::path::Path, name: &str) -> LocalPaths {
        let workload = data_dir.join("workloads").join(name);
        LocalPaths {
            dir: workload.join("state"),
            record: workload.join("state.record"),
            holder: data_dir.join("state-holder"),
        }
    }
}

/// Where and how one workload's state is kept.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The state directory the workload writes (through a bind).
    pub dir: PathBuf,
    /// A file of the caller's (beside, never inside, `dir`) recording which
    /// generation the local copy is based on.
    pub record: PathBuf,
    pub owner: Owner,
    pub limits: Limits,
    /// How long a lease lasts without renewal (renewed every third of it).
    pub lease_ttl: Duration,
    /// How often the directory is scanned for changes.
    pub interval: Duration,
    /// The longest a change waits for the directory to become quiet.
    pub max_delay: Duration,
    /// How often `run` deletes blobs no manifest names ([`StateSync::collect_garbage`]).
    pub collect_every: Duration,
    /// How old an unnamed blob must be before it is deleted.
    pub collect_grace: Duration,
}

impl SyncOptions {
    /// The defaults: 30 s lease, 1 s scans, publish within 3 s of a change.
    pub fn new(dir: PathBuf, record: PathBuf, owner: Owner) -> SyncOptions {
        SyncOptions {
            dir,
            record,
            owner,
            limits: Limits::default(),
            lease_ttl: Duration::from_secs(30),
            interval: Duration::from_secs(1),
            max_delay: Duration::from_secs(3),
            collect_every: Duration::from_secs(3600),
            collect_grace: Duration::from_secs(3600),
        }
    }
}
