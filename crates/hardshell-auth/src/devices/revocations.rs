//! [`RevokedSerials`]: the device CA's revocations as the edge checks them on
//! every request, not only at the TLS handshake.
//!
//! The handshake's verifier fixes a connection's device once; a keep-alive
//! connection opened before a revocation would otherwise keep its device for
//! as long as the client keeps it open. So each request carrying a device asks
//! here whether its serial is revoked. The answer comes from a cached copy of
//! the `revoked/` listing (names only: one listing, no reads), re-read when a
//! request needs it and the copy is older than `max_age`; revocations this
//! edge makes itself are added at once ([`RevokedSerials::note`]). A revocation
//! made elsewhere (the CLI, another replica) therefore reaches every open
//! connection within `max_age`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::{DeviceAuthority, DeviceError};
use crate::Device;

/// The revoked serials, re-read when older than `max_age`.
#[derive(Debug)]
pub struct RevokedSerials {
    authority: DeviceAuthority,
    max_age: Duration,
    /// One refresh at a time: concurrent requests wait for it and share it.
    cached: Mutex<Option<Snapshot>>,
}

#[derive(Debug)]
struct Snapshot {
    serials: HashSet<String>,
    read_at: Instant,
}

impl RevokedSerials {
    pub fn new(authority: DeviceAuthority, max_age: Duration) -> Self {
        Self {
            authority,
            max_age,
            cached: Mutex::new(None),
        }
    }

    /// Whether `device`'s certificate has been revoked, as of at most
    /// `max_age` ago. An error means the list could not be read; the caller
    /// must then treat the device as not verified (fail closed).
    pub async fn is_revoked(&self, device: &Device) -> Result<bool, DeviceError> {
        let mut cached = self.cached.lock().await;
        let fresh = cached
            .as_ref()
            .is_some_and(|snapshot| snapshot.read_at.elapsed() < self.max_age);
        if !fresh {
            let serials = self.authority.revoked_serials().await?;
            *cached = Some(Snapshot {
                serials,
                read_at: Instant::now(),
            });
        }
        Ok(cached
            .as_ref()
            .is_some_and(|snapshot| snapshot.serials.contains(&device.serial)))
    }

    /// Records a revocation this edge just made, so it applies to the next
    /// request without waiting for a re-read.
    pub async fn note(&self, serial: &str) {
        if let Some(snapshot) = self.cached.lock().await.as_mut() {
            snapshot.serials.insert(serial.to_owned());
        }
    }
}
