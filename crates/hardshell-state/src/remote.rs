//! The remote layout, inside the scope the caller gives (e.g. `workload/openclaw`):
//!
//! - `manifest`: the current generation; written only by compare-and-swap.
//! - `lease`: who owns the state (see [`crate::lease`]).
//! - `blob-key`: 32 random bytes, made once, sealed like everything else.
//! - `blobs/<id>`: file contents, one object per distinct content. The id is
//!   sha256(blob-key ‖ sha256(content)), not the content's plain hash, so
//!   someone holding only the bucket cannot test whether it holds a file they
//!   know. Blobs are immutable: written with create-if-absent, never replaced.
//! - `generations/<n>`: copies of the last [`KEPT_GENERATIONS`] manifests, for `ls`.
//! - `snapshots/<name>`: a named manifest; cheap, since it shares the blobs.

use chrono::{DateTime, Utc};
use hardshell_storage::{ObjectKey, Scope, StorageError, Version};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::StateError;
use crate::manifest::{Entry, Manifest};

/// How many past generations `ls` can show.
pub const KEPT_GENERATIONS: usize = 32;

/// A named generation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub name: String,
    pub taken_at: DateTime<Utc>,
    pub manifest: Manifest,
}

#[derive(Clone)]
pub(crate) struct Remote {
    pub(crate) scope: Scope,
    /// `None` for a [`Remote::reader`].
    blob_key: Option<[u8; 32]>,
}

fn key(text: &str) -> Result<ObjectKey, StateError> {
    Ok(ObjectKey::parse(text)?)
}

impl Remote {
    /// Opens the layout in `scope`, making its blob key on first use.
    pub(crate) async fn open(scope: Scope) -> Result<Remote, StateError> {
        let name = key("blob-key")?;
        let stored = match scope.get(&name).await? {
            Some(object) => object.value.to_vec(),
            None => {
                let mut fresh = [0u8; 32];
                getrandom::fill(&mut fresh)
                    .map_err(|e| StateError::malformed("blob key", e.to_string()))?;
                match scope.create(&name, &fresh).await {
                    Ok(_) => fresh.to_vec(),
                    // Another process made one first: use theirs.
                    Err(StorageError::Conflict { .. }) => scope
                        .get(&name)
                        .await?
                        .map(|object| object.value.to_vec())
                        .ok_or_else(|| StateError::malformed("blob key", "it vanished"))?,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let blob_key: [u8; 32] = stored
            .as_slice()
            .try_into()
            .map_err(|_| StateError::malformed("blob key", "not 32 bytes"))?;
        Ok(Remote {
            scope,
            blob_key: Some(blob_key),
        })
    }

    /// The layout for reading manifests, snapshots and generations only:
    /// makes no blob key (so `state ls` writes nothing) and cannot name blobs.
    pub(crate) fn reader(scope: Scope) -> Remote {
        Remote {
            scope,
            blob_key: None,
        }
    }

    /// The content's sha256 and the blob id it is stored under.
    pub(crate) fn digest(&self, content: &[u8]) -> Result<(String, String), StateError> {
        let blob_key = self
            .blob_key
            .ok_or_else(|| StateError::malformed("blob key", "a reader cannot name blobs"))?;
        let sha = Sha256::digest(content);
        let id = Sha256::new()
            .chain_update(blob_key)
            .chain_update(sha)
            .finalize();
        Ok((hex::encode(sha), hex::encode(id)))
    }

    /// Stores a blob unless it is there already (same id, same content).
    pub(crate) async fn put_blob(&self, id: &str, content: &[u8]) -> Result<(), StateError> {
        match self
            .scope
            .create(&key(&format!("blobs/{id}"))?, content)
            .await
        {
            Ok(_) | Err(StorageError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// A file's content, checked against the manifest's sha256.
    pub(crate) async fn get_blob(&self, entry: &Entry) -> Result<Vec<u8>, StateError> {
        let (Some(blob), Some(sha)) = (&entry.blob, &entry.sha256) else {
            return Err(StateError::malformed("manifest", "a file without content"));
        };
        let Some(object) = self.scope.get(&key(&format!("blobs/{blob}"))?).await? else {
            return Err(StateError::MissingBlob {
                path: crate::error::shown(&entry.path),
                blob: blob.clone(),
            });
        };
        let content = object.value.to_vec();
        if hex::encode(Sha256::digest(&content)) != *sha || content.len() as u64 != entry.size {
            return Err(StateError::BlobMismatch {
                path: crate::error::shown(&entry.path),
            });
        }
        Ok(content)
    }

    /// The current generation and the version to compare-and-swap against.
    pub(crate) async fn current(&self) -> Result<Option<(Manifest, Version)>, StateError> {
        let Some(object) = self.scope.get(&key("manifest")?).await? else {
            return Ok(None);
        };
        Ok(Some((
            Manifest::parse("manifest", &object.value)?,
            object.version,
        )))
    }

    /// Publishes `manifest` as the current generation, only if the current one
    /// is still `expected` (`None`: only if there is none). A lost race is
    /// [`StateError::RemoteChanged`]; nothing is overwritten.
    pub(crate) async fn publish(
        &self,
        manifest: &Manifest,
        expected: Option<&Version>,
    ) -> Result<Version, StateError> {
        let bytes = manifest.to_json()?;
        let name = key("manifest")?;
        let written = match expected {
            Some(version) => self.scope.update(&name, &bytes, version).await,
            None => self.scope.create(&name, &bytes).await,
        };
        let version = match written {
            Ok(version) => version,
            Err(StorageError::Conflict { .. }) => {
                let generation = self.current().await?.map_or(0, |(m, _)| m.generation);
                return Err(StateError::RemoteChanged { generation });
            }
            Err(e) => return Err(e.into()),
        };
        // History for `ls` only: the current manifest is already safe, so a
        // failure here is logged, not returned.
        if let Err(e) = self.keep_generation(manifest, &bytes).await {
            tracing::warn!(error = %e, generation = manifest.generation, "could not record the generation's history");
        }
        Ok(version)
    }

    async fn keep_generation(&self, manifest: &Manifest, bytes: &[u8]) -> Result<(), StateError> {
        let generations = self.scope.scope(&key("generations")?)?;
        generations
            .put(&key(&format!("{:020}", manifest.generation))?, bytes)
            .await?;
        let listed = generations.list().await?;
        let surplus = listed.len().saturating_sub(KEPT_GENERATIONS);
        for old in listed.iter().take(surplus) {
            generations.delete(&old.key).await?;
        }
        Ok(())
    }

    /// The kept past generations, oldest first.
    pub(crate) async fn generations(&self) -> Result<Vec<Manifest>, StateError> {
        let generations = self.scope.scope(&key("generations")?)?;
        let mut found = Vec::new();
        for entry in generations.list().await? {
            if let Some(object) = generations.get(&entry.key).await? {
                found.push(Manifest::parse("generation", &object.value)?);
            }
        }
        Ok(found)
    }

    pub(crate) async fn put_snapshot(&self, snapshot: &Snapshot) -> Result<(), StateError> {
        let bytes =
            serde_json::to_vec(snapshot).map_err(|e| StateError::malformed("snapshot", e))?;
        match self
            .scope
            .create(&snapshot_key(&snapshot.name)?, &bytes)
            .await
        {
            Ok(_) => Ok(()),
            Err(StorageError::Conflict { .. }) => Err(StateError::SnapshotExists {
                name: snapshot.name.clone(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn snapshot(&self, name: &str) -> Result<Snapshot, StateError> {
        let Some(object) = self.scope.get(&snapshot_key(name)?).await? else {
            return Err(StateError::NoSnapshot {
                name: name.to_owned(),
            });
        };
        parse_snapshot(&object.value)
    }

    pub(crate) async fn snapshots(&self) -> Result<Vec<Snapshot>, StateError> {
        let snapshots = self.scope.scope(&key("snapshots")?)?;
        let mut found = Vec::new();
        for entry in snapshots.list().await? {
            if let Some(object) = snapshots.get(&entry.key).await? {
                found.push(parse_snapshot(&object.value)?);
            }
        }
        found.sort_by_key(|s| s.taken_at);
        Ok(found)
    }
}

fn snapshot_key(name: &str) -> Result<ObjectKey, StateError> {
    let segment = ObjectKey::segment(name)?;
    key("snapshots")?.join(&segment).map_err(StateError::from)
}

fn parse_snapshot(bytes: &[u8]) -> Result<Snapshot, StateError> {
    let snapshot: Snapshot =
        serde_json::from_slice(bytes).map_err(|e| StateError::malformed("snapshot", e))?;
    // Re-check its entries the way a current manifest is checked.
    let json = snapshot.manifest.to_json()?;
    Manifest::parse("snapshot", &json)?;
    Ok(snapshot)
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The blob key hides which contents the bucket holds: never shown.
        f.debug_struct("Remote")
            .field("scope", &self.scope)
            .field("blob_key", &self.blob_key.map(|_| "<redacted>"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn the_blob_key_is_never_shown() {
        let store = hardshell_testkit::TestStore::new().await;
        let remote = Remote::open(store.scope("workload/w")).await.unwrap();
        let key = remote.blob_key.unwrap();
        let shown = format!("{remote:?}");
        assert!(!shown.contains(&hex::encode(key)), "{shown}");
        assert!(!shown.contains(&format!("{key:?}")), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[tokio::test]
    async fn one_content_gets_one_id_per_store_and_another_elsewhere() {
        let store = hardshell_testkit::TestStore::new().await;
        let remote = Remote::open(store.scope("workload/w")).await.unwrap();
        let again = Remote::open(store.scope("workload/w")).await.unwrap();
        let other = Remote::open(store.scope("workload/v")).await.unwrap();
        let (sha, id) = remote.digest(b"content").unwrap();
        assert_eq!(again.digest(b"content").unwrap(), (sha.clone(), id.clone()));
        assert_ne!(other.digest(b"content").unwrap().1, id);
        assert_ne!(sha, id, "the id is not the plain hash");
        assert!(
            Remote::reader(store.scope("workload/w"))
                .digest(b"x")
                .is_err()
        );
    }
}
