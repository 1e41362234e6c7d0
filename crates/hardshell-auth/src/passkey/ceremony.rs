//! Ceremony states, held by the caller between the two halves of a ceremony.
//!
//! States serialise so the gateway can keep them server-side (in memory, or in the
//! store for several replicas) under a random id, and they MUST stay server-side:
//! a state holds the challenge the browser has to sign. A state is live for
//! [`CEREMONY_TTL`] after it started. A login state finishes at most once: the
//! first finish records its id with a create-if-absent in the store, which any
//! second finish loses, whichever replica runs it. (A registration state needs no
//! marker: it finishes by using up its setup link, which is single-use already.)

use std::time::Duration;

use chrono::{DateTime, Utc};
use hardshell_storage::{ObjectKey, Scope, StorageError};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{PasskeyAuthentication, PasskeyRegistration};

use super::PasskeyError;
use super::setup::SetupDigest;

/// How long after its first half a ceremony can still be finished; also the
/// timeout the browser is given.
pub const CEREMONY_TTL: Duration = Duration::from_secs(5 * 60);

/// How far in the future a state's start may lie: clocks of replicas differ a little.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(30);

/// Markers are kept this long past [`CEREMONY_TTL`] so that a replica whose clock
/// lags cannot finish a state whose marker was already pruned.
const MARKER_GRACE: chrono::Duration = chrono::Duration::minutes(5);

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ceremony {
    /// 128 random bits, hex.
    id: String,
    started_at: DateTime<Utc>,
}

/// The server's half of a registration in progress.
#[derive(Clone, Serialize, Deserialize)]
pub struct RegistrationState {
    ceremony: Ceremony,
    setup: SetupDigest,
    inner: PasskeyRegistration,
}

/// The server's half of a login in progress.
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginState {
    ceremony: Ceremony,
    inner: PasskeyAuthentication,
}

impl Ceremony {
    fn start(now: DateTime<Utc>) -> Result<Self, PasskeyError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| PasskeyError::Random(e.to_string()))?;
        Ok(Self {
            id: hex::encode(bytes),
            started_at: now,
        })
    }

    fn expires_at(&self) -> DateTime<Utc> {
        self.started_at + ttl()
    }

    fn check_live(&self, kind: &'static str, now: DateTime<Utc>) -> Result<(), PasskeyError> {
        let live = now <= self.expires_at() && self.started_at <= now + CLOCK_SKEW;
        if live {
            return Ok(());
        }
        Err(PasskeyError::CeremonyExpired {
            kind,
            ceremony: self.id.clone(),
            started_at: self.started_at,
        })
    }

    /// `<started, unix seconds>-<id>`: prune reads the age from the key alone.
    fn marker_key(&self) -> Result<ObjectKey, PasskeyError> {
        let key = format!("{}-{}", self.started_at.timestamp(), self.id);
        Ok(ObjectKey::segment(&key).map_err(StorageError::from)?)
    }
}

impl RegistrationState {
    pub(super) fn new(
        inner: PasskeyRegistration,
        setup: SetupDigest,
        now: DateTime<Utc>,
    ) -> Result<Self, PasskeyError> {
        Ok(Self {
            ceremony: Ceremony::start(now)?,
            setup,
            inner,
        })
    }

    /// Random and unique; the gateway may use it as the ceremony handle it gives
    /// the browser.
    pub fn id(&self) -> &str {
        &self.ceremony.id
    }

    /// After this the state is refused; the gateway can drop it then.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.ceremony.expires_at()
    }

    pub(super) fn check_live(&self, now: DateTime<Utc>) -> Result<(), PasskeyError> {
        self.ceremony.check_live("registration", now)
    }

    pub(super) fn inner(&self) -> &PasskeyRegistration {
        &self.inner
    }

    pub(super) fn setup(&self) -> &SetupDigest {
        &self.setup
    }
}

impl LoginState {
    pub(super) fn new(
        inner: PasskeyAuthentication,
        now: DateTime<Utc>,
    ) -> Result<Self, PasskeyError> {
        Ok(Self {
            ceremony: Ceremony::start(now)?,
            inner,
        })
    }

    /// Random and unique; the gateway may use it as the ceremony handle it gives
    /// the browser.
    pub fn id(&self) -> &str {
        &self.ceremony.id
    }

    /// After this the state is refused; the gateway can drop it then.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.ceremony.expires_at()
    }

    pub(super) fn check_live(&self, now: DateTime<Utc>) -> Result<(), PasskeyError> {
        self.ceremony.check_live("login", now)
    }

    pub(super) fn inner(&self) -> &PasskeyAuthentication {
        &self.inner
    }

    pub(super) fn ceremony(&self) -> &Ceremony {
        &self.ceremony
    }
}

// The states hold challenges; show only what identifies them.
impl std::fmt::Debug for RegistrationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationState")
            .field("id", &self.ceremony.id)
            .field("started_at", &self.ceremony.started_at)
            .field("setup", &self.setup)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for LoginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginState")
            .field("id", &self.ceremony.id)
            .field("started_at", &self.ceremony.started_at)
            .finish_non_exhaustive()
    }
}

/// Markers of finished login ceremonies.
#[derive(Debug, Clone)]
pub(super) struct CeremonyLog {
    scope: Scope,
}

impl CeremonyLog {
    pub(super) fn new(scope: Scope) -> Self {
        Self { scope }
    }

    /// Records `ceremony` as finished; refuses if it already was.
    pub(super) async fn finish(&self, ceremony: &Ceremony) -> Result<(), PasskeyError> {
        match self
            .scope
            .create(&ceremony.marker_key()?, b"finished")
            .await
        {
            Ok(_) => Ok(()),
            Err(StorageError::Conflict { .. }) => Err(PasskeyError::CeremonyReplayed {
                ceremony: ceremony.id.clone(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes markers of ceremonies that can no longer finish.
    pub(super) async fn prune(&self, now: DateTime<Utc>) -> Result<(), PasskeyError> {
        let cutoff = (now - ttl() - MARKER_GRACE).timestamp();
        for entry in self.scope.list().await? {
            let started = entry
                .key
                .as_str()
                .split_once('-')
                .and_then(|(started, _)| started.parse::<i64>().ok());
            match started {
                Some(started) if started < cutoff => self.scope.delete(&entry.key).await?,
                Some(_) => {}
                None => {
                    tracing::warn!(object = %entry.key, "skipping a ceremony marker hardshell did not write")
                }
            }
        }
        Ok(())
    }
}

fn ttl() -> chrono::Duration {
    chrono::Duration::from_std(CEREMONY_TTL).unwrap_or(chrono::Duration::minutes(5))
}
