//! What `hardshell state ls|snapshot` need: reads of the remote layout and
//! the one write that needs no lease (a new snapshot names blobs already stored).

use chrono::{DateTime, Utc};
use hardshell_storage::Scope;

use crate::StateError;
use crate::lease::LeaseRecord;
use crate::manifest::Manifest;
use crate::remote::{Remote, Snapshot};

/// One generation or snapshot, as `ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The snapshot's name; `None` for a generation.
    pub name: Option<String>,
    pub generation: u64,
    /// When it was published (a generation) or taken (a snapshot).
    pub at: DateTime<Utc>,
    pub holder: String,
    pub files: usize,
    pub bytes: u64,
    pub origin: Option<String>,
}

/// Everything `ls` shows.
#[derive(Debug, Clone)]
pub struct Listing {
    pub lease: Option<LeaseRecord>,
    pub current: Option<Summary>,
    /// The kept past generations, oldest first (the current one included).
    pub generations: Vec<Summary>,
    pub snapshots: Vec<Summary>,
}

fn summary(manifest: &Manifest, name: Option<String>, at: DateTime<Utc>) -> Summary {
    Summary {
        name,
        generation: manifest.generation,
        at,
        holder: manifest.holder.clone(),
        files: manifest.files(),
        bytes: manifest.bytes(),
        origin: manifest.origin.clone(),
    }
}

/// The lease, the current generation, the kept generations and the snapshots.
pub async fn list(scope: &Scope) -> Result<Listing, StateError> {
    let remote = Remote::reader(scope.clone());
    let lease = crate::lease::read(scope).await?.map(|(record, _)| record);
    let current = remote
        .current()
        .await?
        .map(|(m, _)| summary(&m, None, m.written_at));
    let generations = remote
        .generations()
        .await?
        .iter()
        .map(|m| summary(m, None, m.written_at))
        .collect();
    let snapshots = remote
        .snapshots()
        .await?
        .into_iter()
        .map(|s| summary(&s.manifest, Some(s.name), s.taken_at))
        .collect();
    Ok(Listing {
        lease,
        current,
        generations,
        snapshots,
    })
}

/// Names the current generation `name` (one key segment: `[A-Za-z0-9._-]`,
/// not starting with `.`). Refused if the name is taken.
pub async fn snapshot(scope: &Scope, name: &str) -> Result<Summary, StateError> {
    let remote = Remote::reader(scope.clone());
    let (manifest, _) = remote.current().await?.ok_or(StateError::NoRemoteState)?;
    let snapshot = Snapshot {
        name: name.to_owned(),
        taken_at: Utc::now(),
        manifest,
    };
    remote.put_snapshot(&snapshot).await?;
    Ok(summary(
        &snapshot.manifest,
        Some(snapshot.name.clone()),
        snapshot.taken_at,
    ))
}
