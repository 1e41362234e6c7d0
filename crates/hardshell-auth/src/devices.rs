//! Device certificates: the seed's "device posture", over mutual TLS.
//!
//! The edge runs a small certificate authority of its own ([`DeviceAuthority`]):
//! an ECDSA P-256 key and a self-signed CA certificate, kept in the (encrypted)
//! object store. `hardshell device issue NAME` makes a client certificate for a
//! device; the edge's TLS server checks it with [`client_verifier`], which
//! accepts connections without a certificate (the policy decides whether one is
//! required) but fails the handshake for a certificate that is foreign, expired
//! or revoked. [`device_from_peer_certificates`] then names the device, and
//! [`RevokedSerials`] re-checks it on every request, so a revocation also ends
//! connections opened before it.
//!
//! Layout under the scope this is given:
//! - `ca`: a one-line JSON header with the CA certificate, a newline, then the
//!   CA's PKCS#8 private key (raw, so it never sits in a JSON string);
//! - `devices/<name>`: the certificate currently issued under each name;
//! - `revoked/<serial>`: one entry per revoked certificate, the source of the CRL.

mod authority;
mod ca;
mod name;
mod revocations;
mod verifier;

use chrono::{DateTime, Utc};
use hardshell_storage::StorageError;
use zeroize::Zeroizing;

pub use authority::{DeviceAuthority, DeviceInfo, MAX_DEVICE_VALIDITY};
pub use name::DeviceName;
pub use revocations::RevokedSerials;
pub use verifier::{client_verifier, device_from_peer_certificates};

/// A certificate and key just issued for a device. The key exists only here:
/// hardshell does not keep it. `Debug` redacts it.
pub struct IssuedDevice {
    pub name: DeviceName,
    /// The certificate's serial number, hex, as [`crate::Device::serial`] shows it.
    pub serial: String,
    pub not_after: DateTime<Utc>,
    pub cert_pem: String,
    pub key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for IssuedDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedDevice")
            .field("name", &self.name)
            .field("serial", &self.serial)
            .field("not_after", &self.not_after)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Why a device-certificate operation failed. Messages carry names and serials,
/// never key material.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "device name {name:?} is not valid: use a-z, 0-9 and -, starting with a letter or digit (at most 63)"
    )]
    InvalidName { name: String },
    #[error(
        "a device certificate must be valid for 1 second to {max_days} days, not {seconds} seconds"
    )]
    InvalidValidity { seconds: u64, max_days: u64 },
    #[error("device {name} would outlive the device CA, which expires at {ca_not_after}")]
    OutlivesCa {
        name: String,
        ca_not_after: DateTime<Utc>,
    },
    #[error("device {name} already has a certificate (serial {serial}); revoke it first")]
    DeviceExists { name: String, serial: String },
    #[error("no device named {name}")]
    UnknownDevice { name: String },
    #[error("{step}: {source}")]
    Generate {
        step: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("the device CA certificate is not a usable trust anchor: {0}")]
    TrustAnchor(#[source] rustls::Error),
    #[error("build the device certificate verifier: {0}")]
    Verifier(#[source] rustls::server::VerifierBuilderError),
    #[error("time {0} is outside what a certificate can carry")]
    Time(DateTime<Utc>),
    #[error("stored object {key} is not readable: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("the system random number generator failed: {0}")]
    Random(String),
    #[error("device store: {0}")]
    Storage(#[from] StorageError),
}
