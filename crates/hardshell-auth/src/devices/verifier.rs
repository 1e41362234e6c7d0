//! The edge's side of mutual TLS: which client certificates a handshake accepts,
//! and which device a verified certificate names.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{DeviceError, DeviceName};
use crate::Device;

/// A verifier for the edge's TLS server: a client may present no certificate
/// (device posture is optional unless the policy requires it), but one it does
/// present must chain to `ca`, carry the client-auth usage, be within its
/// validity, and not be listed in `crl`; otherwise the handshake fails.
///
/// Build a new one (and a new server configuration) after every revocation.
/// The CRL's `nextUpdate` is not enforced, so a verifier does not stop working
/// on its own.
pub fn client_verifier(
    ca: &CertificateDer<'static>,
    crl: CertificateRevocationListDer<'static>,
) -> Result<Arc<dyn ClientCertVerifier>, DeviceError> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).map_err(DeviceError::TrustAnchor)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .with_crls([crl])
        .allow_unauthenticated()
        .build()
        .map_err(DeviceError::Verifier)
}

/// The device a client certificate chain names: CN and serial of its first
/// (end-entity) certificate. Only meaningful for a chain that a verifier from
/// [`client_verifier`] accepted, i.e. `ServerConnection::peer_certificates()`
/// of such a connection; `None` when there is no certificate or it does not
/// name a device.
pub fn device_from_peer_certificates(chain: &[CertificateDer<'_>]) -> Option<Device> {
    let (_, certificate) = X509Certificate::from_der(chain.first()?).ok()?;
    let mut names = certificate.subject().iter_common_name();
    let common_name = names.next()?.as_str().ok()?;
    if names.next().is_some() {
        return None;
    }
    let name = DeviceName::parse(common_name).ok()?;
    Some(Device {
        name: name.to_string(),
        serial: hex::encode(certificate.raw_serial()),
    })
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    use super::*;

    fn certificate_with_common_names(names: &[&str]) -> CertificateDer<'static> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        for name in names {
            params.distinguished_name.push(DnType::CommonName, *name);
        }
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn no_certificate_names_no_device() {
        assert_eq!(device_from_peer_certificates(&[]), None);
    }

    #[test]
    fn certificate_whose_name_is_no_device_name_names_no_device() {
        for names in [&[][..], &["Not A Device"], &["../phone"]] {
            let chain = [certificate_with_common_names(names)];
            assert_eq!(device_from_peer_certificates(&chain), None, "{names:?}");
        }
    }

    #[test]
    fn garbage_names_no_device() {
        let chain = [CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01])];
        assert_eq!(device_from_peer_certificates(&chain), None);
    }

    #[test]
    fn device_certificate_names_its_device() {
        let chain = [certificate_with_common_names(&["phone"])];
        let device = device_from_peer_certificates(&chain).unwrap();
        assert_eq!(device.name, "phone");
        assert!(!device.serial.is_empty());
    }
}
