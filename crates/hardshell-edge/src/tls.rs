//! TLS for the listener: rustls with the aws-lc-rs provider, TLS 1.2 and 1.3, and
//! HTTP/1.1 only (one parser, one framing, a smaller surface than HTTP/2).
//!
//! With the device CA on, clients may present a certificate it issued; a
//! revoked or foreign certificate fails the handshake, none is fine (whether a
//! device is required is the policy's call, per request). Revocations change
//! the verifier, so the server configuration is rebuilt and swapped: new
//! connections use the new one. Established connections keep theirs, so every
//! request's device is checked again against the revocations
//! ([`unrevoked_device`]), at most [`REVOCATION_MAX_AGE`] old.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use std::time::Duration;

use chrono::Utc;
use hardshell_auth::Device;
use hardshell_auth::devices::{DeviceAuthority, DeviceError};
use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ResolvesServerCert;
use rustls::server::danger::ClientCertVerifier;

use crate::EdgeError;
use hardshell_auth::devices::RevokedSerials;

/// How old the revocation list a request's device is checked against may be:
/// a revocation made elsewhere (the CLI, another replica) reaches connections
/// already open within this time.
pub(crate) const REVOCATION_MAX_AGE: Duration = Duration::from_secs(2);

/// The device a connection presented at its handshake, if it is still not
/// revoked. A list that cannot be read counts as revoked (fail closed).
pub(crate) async fn unrevoked_device(
    revoked: Option<&RevokedSerials>,
    device: Option<&Device>,
) -> Option<Device> {
    let device = device?;
    let Some(revoked) = revoked else {
        // No device CA, so no handshake could have verified a device.
        return None;
    };
    match revoked.is_revoked(device).await {
        Ok(false) => Some(device.clone()),
        Ok(true) => {
            tracing::warn!(device = %device.name, serial = %device.serial, "request on a connection whose device was revoked");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "reading the device revocations failed; ignoring the device");
            None
        }
    }
}

/// The listener's TLS: the server's own certificate and the current configuration.
/// Which step of building the edge's TLS configuration failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {}: {source}", path.display())]
    ReadCertificate {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error("parsing {}: {source}", path.display())]
    ParseCertificate {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error("{} holds no certificate", path.display())]
    NoCertificate { path: PathBuf },
    /// Reading the private key. The error names the file, never the key.
    #[error("reading {}: {source}", path.display())]
    ReadKey {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error("device verifier: {0}")]
    DeviceVerifier(#[source] DeviceError),
    #[error("protocol versions: {0}")]
    ProtocolVersions(#[source] rustls::Error),
    #[error("certificate and key: {0}")]
    CertificateAndKey(#[source] rustls::Error),
    #[error("[edge.tls] acme is set, but nothing was given to get the certificate")]
    NoSource,
}

/// Where the listener's certificate comes from.
enum Certificate {
    Files {
        certs: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    },
    /// ACME's: the current certificate, and for a validation connection
    /// (`acme-tls/1`, RFC 8737) the challenge's.
    Resolver(Arc<dyn ResolvesServerCert>),
}

/// The ALPN protocol of an ACME server's TLS-ALPN-01 validation: a connection
/// that negotiated it is closed after its handshake, never served.
pub(crate) use hardshell_vocabulary::text::ACME_TLS_ALPN;

pub(crate) struct Tls {
    certificate: Certificate,
    current: RwLock<Arc<ServerConfig>>,
}

impl Tls {
    pub async fn load(
        cert: &Path,
        key: &Path,
        devices: Option<&DeviceAuthority>,
    ) -> Result<Self, EdgeError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|source| TlsError::ReadCertificate {
                path: cert.to_owned(),
                source,
            })?
            .collect::<Result<_, _>>()
            .map_err(|source| TlsError::ParseCertificate {
                path: cert.to_owned(),
                source,
            })?;
        if certs.is_empty() {
            return Err(TlsError::NoCertificate {
                path: cert.to_owned(),
            }
            .into());
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::ReadKey {
            path: key.to_owned(),
            source,
        })?;
        let certificate = Certificate::Files { certs, key };
        let config = build(&certificate, verifier(devices).await?)?;
        Ok(Self {
            certificate,
            current: RwLock::new(config),
        })
    }

    /// The certificate from `resolver`, asked at each handshake.
    pub async fn with_resolver(
        resolver: Arc<dyn ResolvesServerCert>,
        devices: Option<&DeviceAuthority>,
    ) -> Result<Self, EdgeError> {
        let certificate = Certificate::Resolver(resolver);
        let config = build(&certificate, verifier(devices).await?)?;
        Ok(Self {
            certificate,
            current: RwLock::new(config),
        })
    }

    /// The configuration new connections use.
    pub fn current(&self) -> Arc<ServerConfig> {
        match self.current.read() {
            Ok(config) => config.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Rebuilds the configuration from the device CA's current revocations.
    pub async fn refresh(&self, devices: Option<&DeviceAuthority>) -> Result<(), EdgeError> {
        let config = build(&self.certificate, verifier(devices).await?)?;
        match self.current.write() {
            Ok(mut current) => *current = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
        Ok(())
    }
}

/// Whether `cert` and `key` make a listener: both read, the chain not empty,
/// the key the certificate's. What `up` would refuse at start, said earlier.
pub async fn check_certificate_files(cert: &Path, key: &Path) -> Result<(), EdgeError> {
    Tls::load(cert, key, None).await.map(|_| ())
}

async fn verifier(
    devices: Option<&DeviceAuthority>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, EdgeError> {
    match devices {
        None => Ok(None),
        Some(devices) => devices
            .client_verifier(Utc::now())
            .await
            .map(Some)
            .map_err(|e| TlsError::DeviceVerifier(e).into()),
    }
}

fn build(
    certificate: &Certificate,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
) -> Result<Arc<ServerConfig>, EdgeError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::ProtocolVersions)?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let config = match certificate {
        Certificate::Files { certs, key } => {
            let mut config = builder
                .with_single_cert(certs.clone(), key.clone_key())
                .map_err(TlsError::CertificateAndKey)?;
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            config
        }
        Certificate::Resolver(resolver) => {
            let mut config = builder.with_cert_resolver(Arc::clone(resolver));
            config.alpn_protocols = vec![b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()];
            config
        }
    };
    Ok(Arc::new(config))
}
