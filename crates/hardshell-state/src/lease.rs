//! The lease: one holder owns a workload's state at a time. It is one object,
//! taken, renewed and released only by compare-and-swap on its version, so
//! two machines sharing a bucket cannot both believe they hold it.
//!
//! Expiry is wall-clock time written by the holder; machines sharing a bucket
//! need clocks within a small fraction of the lease's lifetime (NTP gives
//! that). The holder also keeps a monotonic deadline of its own and stops
//! writing when it passes, so a process paused past its lease (a stopped VM)
//! writes nothing until it has renewed.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hardshell_storage::{ObjectKey, Scope, StorageError, Version};
use serde::{Deserialize, Serialize};

use crate::StateError;

/// Who holds a lease: stable for one data directory, e.g. `edge-host-3f9a2c71`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder(String);

impl Holder {
    /// The holder id kept in `file`; made once (host name and 8 random bytes)
    /// when the file does not exist. The file belongs to the caller's data
    /// directory, not to the workload.
    pub fn load_or_create(file: &Path) -> Result<Holder, StateError> {
        let record = |source| StateError::Record {
            file: file.to_owned(),
            source,
        };
        match std::fs::read_to_string(file) {
            Ok(text) => Holder::parse(text.trim()).ok_or_else(|| {
                record(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not a holder id",
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let holder = Holder::generate()?;
                crate::record::write_atomically(file, format!("{}\n", holder.0).as_bytes())
                    .map_err(record)?;
                Ok(holder)
            }
            Err(e) => Err(record(e)),
        }
    }

    /// A new holder id for this host.
    pub fn generate() -> Result<Holder, StateError> {
        let host: String = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(48)
            .collect();
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(|e| StateError::Record {
            file: "holder id".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let host = if host.is_empty() {
            "host".to_owned()
        } else {
            host
        };
        Ok(Holder(format!("{host}-{}", hex::encode(random))))
    }

    /// A holder id given as text: 1–80 of `[A-Za-z0-9._-]`.
    pub fn parse(text: &str) -> Option<Holder> {
        let ok = !text.is_empty()
            && text.len() <= 80
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        ok.then(|| Holder(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The lease object as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub holder: String,
    pub taken_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Set by a clean stop: anyone may take it at once.
    #[serde(default)]
    pub released: bool,
}

impl LeaseRecord {
    /// Whether it still keeps others out at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        !self.released && self.expires_at > now
    }
}

/// How often a take is tried when other writers keep winning the race.
const TAKE_ATTEMPTS: usize = 16;

/// Whether taking a lease may take over a live one of the same holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mine {
    /// The same data directory restarting after a crash: its own lease is its.
    Retake,
    /// Only an idle lease (absent, expired or released) is taken.
    Refuse,
}

/// A lease this process holds.
#[derive(Debug)]
pub(crate) struct Lease {
    version: Version,
    record: LeaseRecord,
    /// Past this instant nothing is written until the lease is renewed.
    deadline: Instant,
    ttl: Duration,
}

pub(crate) fn key() -> Result<ObjectKey, StateError> {
    Ok(ObjectKey::parse("lease")?)
}

/// Reads the lease object, if any.
pub(crate) async fn read(scope: &Scope) -> Result<Option<(LeaseRecord, Version)>, StateError> {
    let Some(object) = scope.get(&key()?).await? else {
        return Ok(None);
    };
    let record: LeaseRecord =
        serde_json::from_slice(&object.value).map_err(|e| StateError::malformed("lease", e))?;
    Ok(Some((record, object.version)))
}

impl Lease {
    /// Takes the lease: when nobody holds it, when it expired or was released,
    /// or when it is `holder`'s own (the same data directory restarting after
    /// a crash). A live lease of another holder is refused, naming it.
    /// With `Mine::Refuse`, a live lease of `holder` itself is refused too
    /// (the operator's restore must not pull the state from under this
    /// machine's own running sync).
    pub(crate) async fn take(
        scope: &Scope,
        holder: &Holder,
        ttl: Duration,
        mine: Mine,
    ) -> Result<Lease, StateError> {
        for _ in 0..TAKE_ATTEMPTS {
            let current = read(scope).await?;
            let now = Utc::now();
            if let Some((record, _)) = &current
                && (record.holder != holder.as_str() || mine == Mine::Refuse)
                && record.is_live(now)
            {
                return Err(StateError::LeaseHeld {
                    holder: record.holder.clone(),
                    expires_at: record.expires_at,
                });
            }
            let started = Instant::now();
            let record = LeaseRecord {
                holder: holder.as_str().to_owned(),
                taken_at: now,
                expires_at: now + ttl,
                released: false,
            };
            let bytes = to_json(&record)?;
            let written = match &current {
                Some((_, version)) => scope.update(&key()?, &bytes, version).await,
                None => scope.create(&key()?, &bytes).await,
            };
            match written {
                Ok(version) => {
                    return Ok(Lease {
                        version,
                        record,
                        deadline: started + ttl,
                        ttl,
                    });
                }
                // Someone wrote the lease between our read and write: look again.
                Err(StorageError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StorageError::Conflict {
            key: "lease".to_owned(),
        }
        .into())
    }

    /// Extends the lease by its lifetime. Losing the compare-and-swap means
    /// another holder took it (ours had expired): [`StateError::LeaseLost`].
    pub(crate) async fn renew(&mut self, scope: &Scope) -> Result<(), StateError> {
        let started = Instant::now();
        let now = Utc::now();
        let record = LeaseRecord {
            expires_at: now + self.ttl,
            ..self.record.clone()
        };
        self.version = self.write(scope, &record).await?;
        self.record = record;
        self.deadline = started + self.ttl;
        Ok(())
    }

    /// Marks the lease released so the next holder need not wait for expiry.
    pub(crate) async fn release(mut self, scope: &Scope) -> Result<(), StateError> {
        let record = LeaseRecord {
            expires_at: Utc::now(),
            released: true,
            ..self.record.clone()
        };
        self.write(scope, &record).await.map(|_| ())
    }

    /// Replaces the lease object by compare-and-swap. Losing the swap to our
    /// own earlier write (one whose answer was lost: same holder, same
    /// `taken_at`, so the same take) adopts that write and tries once more;
    /// losing it to anyone else is [`StateError::LeaseLost`].
    async fn write(&mut self, scope: &Scope, record: &LeaseRecord) -> Result<Version, StateError> {
        for _ in 0..2 {
            match scope
                .update(&key()?, &to_json(record)?, &self.version)
                .await
            {
                Ok(version) => return Ok(version),
                Err(StorageError::Conflict { .. }) => match read(scope).await? {
                    Some((current, version))
                        if current.holder == self.record.holder
                            && current.taken_at == self.record.taken_at
                            && !current.released =>
                    {
                        self.version = version;
                    }
                    _ => break,
                },
                Err(e) => return Err(e.into()),
            }
        }
        Err(self.lost(scope).await)
    }

    /// Whether writes are still covered: the monotonic deadline, less a
    /// margin for the write itself to land.
    pub(crate) fn covers_writes(&self) -> bool {
        Instant::now() + self.ttl / 6 < self.deadline
    }

    /// Whether a third of the lifetime has passed since the last renewal.
    pub(crate) fn due_for_renewal(&self) -> bool {
        Instant::now() + self.ttl * 2 / 3 >= self.deadline
    }

    async fn lost(&self, scope: &Scope) -> StateError {
        let holder = match read(scope).await {
            Ok(Some((record, _))) => record.holder,
            _ => "an unknown holder".to_owned(),
        };
        StateError::LeaseLost { holder }
    }
}

fn to_json(record: &LeaseRecord) -> Result<Vec<u8>, StateError> {
    serde_json::to_vec(record).map_err(|e| StateError::malformed("lease", e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn a_renewal_whose_answer_was_lost_is_not_taken_for_a_lost_lease() {
        let store = hardshell_testkit::TestStore::new().await;
        let scope = store.scope("workload/w");
        let holder = Holder::parse("h").unwrap();
        let mut lease = Lease::take(&scope, &holder, Duration::from_secs(30), Mine::Retake)
            .await
            .unwrap();
        let before = lease.version.clone();
        lease.renew(&scope).await.unwrap();
        // As if that renewal had landed but its answer been lost.
        lease.version = before;
        lease.renew(&scope).await.unwrap();
        lease.release(&scope).await.unwrap();
        assert!(read(&scope).await.unwrap().unwrap().0.released);
    }

    #[tokio::test]
    async fn a_lease_retaken_by_a_restart_of_the_same_holder_is_lost_to_the_old_process() {
        let store = hardshell_testkit::TestStore::new().await;
        let scope = store.scope("workload/w");
        let holder = Holder::parse("h").unwrap();
        let ttl = Duration::from_secs(30);
        let mut old = Lease::take(&scope, &holder, ttl, Mine::Retake)
            .await
            .unwrap();
        let _restarted = Lease::take(&scope, &holder, ttl, Mine::Retake)
            .await
            .unwrap();
        assert!(matches!(
            old.renew(&scope).await,
            Err(StateError::LeaseLost { .. })
        ));
    }
}
