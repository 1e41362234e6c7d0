//! A leaf issuer for inspected tunnels: a CA of the test's own, and a leaf
//! for each name a hello asks for (the part `hardshell-intercept` plays in
//! production).

use std::sync::{Arc, Mutex};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The test CA and the names it issued leaves for.
pub struct TestIssuer {
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    /// Every name a leaf was issued for.
    issued: Mutex<Vec<String>>,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer").finish_non_exhaustive()
    }
}

impl TestIssuer {
    pub fn new() -> Arc<Self> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        Arc::new(Self {
            ca,
            issued: Mutex::new(Vec::new()),
        })
    }

    pub fn ca(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }

    pub fn issued(&self) -> Vec<String> {
        self.issued.lock().unwrap().clone()
    }
}

impl rustls::server::ResolvesServerCert for TestIssuer {
    fn resolve(
        &self,
        hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let name = hello.server_name()?.to_owned();
        self.issued.lock().unwrap().push(name.clone());
        let key = rcgen::KeyPair::generate().ok()?;
        let cert = rcgen::CertificateParams::new(vec![name])
            .ok()?
            .signed_by(&key, &self.ca)
            .ok()?;
        let der = PrivateKeyDer::try_from(key.serialize_der()).ok()?;
        let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&der).ok()?;
        Some(Arc::new(rustls::sign::CertifiedKey::new(
            vec![cert.der().clone()],
            signing,
        )))
    }
}
