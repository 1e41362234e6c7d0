//! [`DeviceAuthority`]: the device CA over the object store.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hardshell_storage::{ObjectKey, Scope, StorageError};
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use rustls::server::danger::ClientCertVerifier;
use serde::{Deserialize, Serialize};

use super::ca::{CertificateAuthority, Revoked};
use super::{DeviceError, DeviceName, IssuedDevice, client_verifier};

/// Longest validity `issue` accepts: a lost device's certificate should not stay
/// usable for years if nobody remembers to revoke it.
pub const MAX_DEVICE_VALIDITY: Duration = Duration::from_secs(825 * 24 * 60 * 60);

const FORMAT_VERSION: u32 = 1;

/// The edge's device CA. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DeviceAuthority {
    ca: Arc<CertificateAuthority>,
    devices: Scope,
    revoked: Scope,
}

/// A device certificate as `hardshell device list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub name: DeviceName,
    /// Hex, as [`crate::Device::serial`] shows it.
    pub serial: String,
    pub issued_at: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// Set once revoked; the name can then be issued again.
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, Deserialize)]
struct DeviceRecord {
    v: u32,
    #[serde(flatten)]
    info: DeviceInfo,
}

#[derive(Serialize, Deserialize)]
struct RevokedRecord {
    v: u32,
    name: DeviceName,
    revoked_at: DateTime<Utc>,
}

impl DeviceAuthority {
    /// Opens the CA kept under `scope` (the edge gives it `auth/devices`), making
    /// one at the first start. Replicas starting together agree on one CA: the
    /// first create wins and the others read it.
    pub async fn load_or_create(scope: &Scope, now: DateTime<Utc>) -> Result<Self, DeviceError> {
        let key = segment("ca")?;
        let ca = match scope.get(&key).await? {
            Some(object) => CertificateAuthority::decode(key.as_str(), &object.value)?,
            None => {
                let fresh = CertificateAuthority::generate(now)?;
                match scope.create(&key, &fresh.encode()?).await {
                    Ok(_) => {
                        tracing::info!(not_after = %fresh.not_after(), "device CA created");
                        fresh
                    }
                    Err(StorageError::Conflict { .. }) => {
                        let object =
                            scope.get(&key).await?.ok_or_else(|| DeviceError::Corrupt {
                                key: key.to_string(),
                                reason: "created concurrently, then gone".into(),
                            })?;
                        CertificateAuthority::decode(key.as_str(), &object.value)?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        Self::over(ca, scope)
    }

    /// The CA kept under `scope`, if one was ever made; never makes one
    /// (for readers such as `doctor`, which write nothing).
    pub async fn load(scope: &Scope) -> Result<Option<Self>, DeviceError> {
        let key = segment("ca")?;
        match scope.get(&key).await? {
            Some(object) => Ok(Some(Self::over(
                CertificateAuthority::decode(key.as_str(), &object.value)?,
                scope,
            )?)),
            None => Ok(None),
        }
    }

    fn over(ca: CertificateAuthority, scope: &Scope) -> Result<Self, DeviceError> {
        Ok(Self {
            ca: Arc::new(ca),
            devices: scope.scope(&segment("devices")?)?,
            revoked: scope.scope(&segment("revoked")?)?,
        })
    }

    /// When the CA's own certificate ends; no device certificate outlives it.
    pub fn not_after(&self) -> DateTime<Utc> {
        self.ca.not_after()
    }

    /// The CA certificate: the one trust anchor of [`client_verifier`].
    pub fn ca_certificate(&self) -> &CertificateDer<'static> {
        self.ca.certificate()
    }

    /// The CA certificate as PEM, for clients that pin it or build chains.
    pub fn ca_certificate_pem(&self) -> String {
        pem::encode(&pem::Pem::new(
            "CERTIFICATE",
            self.ca.certificate().to_vec(),
        ))
    }

    /// Issues a client certificate for `name`, valid from `now` for `validity`.
    /// A name holds one live certificate at a time; revoke it to issue anew.
    pub async fn issue(
        &self,
        name: &DeviceName,
        validity: Duration,
        now: DateTime<Utc>,
    ) -> Result<IssuedDevice, DeviceError> {
        let invalid = || DeviceError::InvalidValidity {
            seconds: validity.as_secs(),
            max_days: MAX_DEVICE_VALIDITY.as_secs() / 86_400,
        };
        if validity.as_secs() == 0 || validity > MAX_DEVICE_VALIDITY {
            return Err(invalid());
        }
        let not_after = now + chrono::Duration::from_std(validity).map_err(|_| invalid())?;
        if not_after > self.ca.not_after() {
            return Err(DeviceError::OutlivesCa {
                name: name.to_string(),
                ca_not_after: self.ca.not_after(),
            });
        }
        let key = segment(name.as_str())?;
        let existing = self.devices.get(&key).await?;
        if let Some(object) = &existing {
            let current = decode::<DeviceRecord>(&key, &object.value)?.info;
            if current.revoked_at.is_none() {
                return Err(DeviceError::DeviceExists {
                    name: name.to_string(),
                    serial: current.serial,
                });
            }
        }

        let (cert_pem, key_pem, serial) = self.ca.issue(name, now, not_after)?;
        let info = DeviceInfo {
            name: name.clone(),
            serial: hex::encode(&serial),
            issued_at: now,
            not_after,
            revoked_at: None,
        };
        let record = encode(
            &key,
            &DeviceRecord {
                v: FORMAT_VERSION,
                info,
            },
        )?;
        // Compare-and-swap against what was read, so two issues for one name
        // cannot both think they hold it.
        let written = match &existing {
            Some(object) => self.devices.update(&key, &record, &object.version).await,
            None => self.devices.create(&key, &record).await,
        };
        match written {
            Ok(_) => {}
            Err(StorageError::Conflict { .. }) => {
                return Err(DeviceError::DeviceExists {
                    name: name.to_string(),
                    serial: "issued concurrently".into(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(device = %name, serial = %hex::encode(&serial), %not_after, "device certificate issued");
        Ok(IssuedDevice {
            name: name.clone(),
            serial: hex::encode(&serial),
            not_after,
            cert_pem,
            key_pem,
        })
    }

    /// Every device certificate issued under a name still on record, by name.
    pub async fn list(&self) -> Result<Vec<DeviceInfo>, DeviceError> {
        let mut devices = Vec::new();
        for entry in self.devices.list().await? {
            let Some(object) = self.devices.get(&entry.key).await? else {
                continue;
            };
            devices.push(decode::<DeviceRecord>(&entry.key, &object.value)?.info);
        }
        devices.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(devices)
    }

    /// Revokes the certificate issued under `name`. It stays refused from the
    /// next verifier built on ([`Self::client_verifier`]): rebuild the TLS server
    /// configuration after calling this, and tell the [`super::RevokedSerials`]
    /// that checks open connections.
    pub async fn revoke(
        &self,
        name: &DeviceName,
        now: DateTime<Utc>,
    ) -> Result<DeviceInfo, DeviceError> {
        let key = segment(name.as_str())?;
        let unknown = || DeviceError::UnknownDevice {
            name: name.to_string(),
        };
        let object = self.devices.get(&key).await?.ok_or_else(unknown)?;
        let mut info = decode::<DeviceRecord>(&key, &object.value)?.info;
        if info.revoked_at.is_some() {
            return Err(unknown());
        }
        // The revocation entry first: once it exists the serial is in every CRL,
        // whatever happens to the name's record afterwards.
        let revoked_key = segment(&info.serial)?;
        let entry = RevokedRecord {
            v: FORMAT_VERSION,
            name: name.clone(),
            revoked_at: now,
        };
        match self
            .revoked
            .create(&revoked_key, &encode(&revoked_key, &entry)?)
            .await
        {
            Ok(_) | Err(StorageError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        info.revoked_at = Some(now);
        let record = encode(
            &key,
            &DeviceRecord {
                v: FORMAT_VERSION,
                info: info.clone(),
            },
        )?;
        match self.devices.update(&key, &record, &object.version).await {
            // Lost to a concurrent revoke or re-issue: the serial is revoked anyway.
            Ok(_) | Err(StorageError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(device = %name, serial = %info.serial, "device certificate revoked");
        Ok(info)
    }

    /// A CRL, signed now, listing every certificate ever revoked.
    pub async fn revocation_list(
        &self,
        now: DateTime<Utc>,
    ) -> Result<CertificateRevocationListDer<'static>, DeviceError> {
        let mut revoked = Vec::new();
        for entry in self.revoked.list().await? {
            let Ok(serial) = hex::decode(entry.key.as_str()) else {
                tracing::warn!(object = %entry.key, "skipping a revocation hardshell did not write");
                continue;
            };
            let Some(object) = self.revoked.get(&entry.key).await? else {
                continue;
            };
            let record = decode::<RevokedRecord>(&entry.key, &object.value)?;
            revoked.push(Revoked {
                serial,
                revoked_at: record.revoked_at,
            });
        }
        self.ca.revocation_list(&revoked, now)
    }

    /// The serials (hex) of every certificate ever revoked: the names in
    /// `revoked/`, without reading the entries.
    pub async fn revoked_serials(&self) -> Result<HashSet<String>, DeviceError> {
        Ok(self
            .revoked
            .list()
            .await?
            .into_iter()
            .map(|entry| entry.key.as_str().to_owned())
            .collect())
    }

    /// The TLS client-certificate verifier for the current CA and revocations.
    pub async fn client_verifier(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Arc<dyn ClientCertVerifier>, DeviceError> {
        client_verifier(self.ca_certificate(), self.revocation_list(now).await?)
    }
}

fn segment(text: &str) -> Result<ObjectKey, DeviceError> {
    Ok(ObjectKey::segment(text).map_err(StorageError::from)?)
}

fn encode<T: Serialize>(key: &ObjectKey, value: &T) -> Result<Vec<u8>, DeviceError> {
    serde_json::to_vec(value).map_err(|e| DeviceError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

fn decode<T: serde::de::DeserializeOwned + Versioned>(
    key: &ObjectKey,
    bytes: &[u8],
) -> Result<T, DeviceError> {
    let corrupt = |reason: String| DeviceError::Corrupt {
        key: key.to_string(),
        reason,
    };
    let value: T = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if value.version() != FORMAT_VERSION {
        return Err(corrupt(format!(
            "unknown format version {}",
            value.version()
        )));
    }
    Ok(value)
}

trait Versioned {
    fn version(&self) -> u32;
}

impl Versioned for DeviceRecord {
    fn version(&self) -> u32 {
        self.v
    }
}

impl Versioned for RevokedRecord {
    fn version(&self) -> u32 {
        self.v
    }
}
