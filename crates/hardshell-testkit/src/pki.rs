//! A test CA and a certificate for 127.0.0.1 and localhost it signed: for the
//! test servers that speak HTTPS (the registry, pebble).

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};

pub(crate) struct Pki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    #[cfg_attr(not(feature = "registry"), allow(dead_code))]
    pub cert_der: Vec<u8>,
    #[cfg_attr(not(feature = "registry"), allow(dead_code))]
    pub key_der: Vec<u8>,
}

/// A CA named `name`, and a certificate for 127.0.0.1 and localhost it signed.
pub(crate) fn test_pki(name: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.signed_by(&server_key, &issuer).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: server_key.serialize_pem(),
        cert_der: cert.der().to_vec(),
        key_der: server_key.serialize_der(),
    }
}
