//! What the CA's own constraints refuse, even to someone holding its key:
//! certificates for IP addresses and CAs under it. rustls's verifier (webpki)
//! is the judge, as for the broker's clients; OpenSSL's view is in `tests/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::*;

fn ca() -> EgressCa {
    EgressCa::generate(&InstallId::parse("unit").unwrap()).unwrap()
}

fn verify(
    ca: &EgressCa,
    leaf: &CertificateDer<'static>,
    intermediates: &[CertificateDer<'static>],
    name: ServerName<'static>,
) -> Result<(), rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.certificate_der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .unwrap();
    verifier
        .verify_server_cert(leaf, intermediates, &name, &[], UnixTime::now())
        .map(|_| ())
}

/// A server certificate for `san`, signed with the CA's key by hand, as a
/// thief of the key could.
fn forged(
    issuer: &Issuer<'_, impl rcgen::SigningKey>,
    san: SanType,
    ca: IsCa,
) -> (CertificateDer<'static>, KeyPair) {
    forged_with(issuer, CertificateParams::default(), san, ca)
}

fn forged_with(
    issuer: &Issuer<'_, impl rcgen::SigningKey>,
    mut params: CertificateParams,
    san: SanType,
    ca: IsCa,
) -> (CertificateDer<'static>, KeyPair) {
    let now = SystemTime::now();
    params.subject_alt_names = vec![san];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.is_ca = ca;
    if matches!(params.is_ca, IsCa::Ca(_)) {
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    }
    params.use_authority_key_identifier_extension = true;
    params.not_before = OffsetDateTime::from(now - BACKDATE);
    params.not_after = OffsetDateTime::from(now + Duration::from_secs(3600));
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.der().clone(), key)
}

#[test]
fn issued_leaves_verify_for_their_host() {
    let ca = ca();
    let (leaf, _) = ca
        .issue_leaf(
            "api.example.test",
            SystemTime::now(),
            Duration::from_secs(3600),
        )
        .unwrap();
    verify(
        &ca,
        &leaf.cert[0],
        &[],
        ServerName::try_from("api.example.test").unwrap(),
    )
    .unwrap();
}

#[test]
fn a_certificate_for_an_ip_address_under_the_ca_is_refused() {
    let ca = ca();
    let ip = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
    let (forged_ip, _) = forged(&ca.issuer, SanType::IpAddress(ip), IsCa::ExplicitNoCa);
    let error = verify(&ca, &forged_ip, &[], ServerName::IpAddress(ip.into())).unwrap_err();
    assert!(format!("{error:?}").contains("NameConstraint"), "{error:?}");

    // The allow path, signed the same way: a DNS name passes.
    let dns = SanType::DnsName("api.example.test".try_into().unwrap());
    let (forged_dns, _) = forged(&ca.issuer, dns, IsCa::ExplicitNoCa);
    verify(
        &ca,
        &forged_dns,
        &[],
        ServerName::try_from("api.example.test").unwrap(),
    )
    .unwrap();
}

/// Path length 0, as OpenSSL (curl, Python, Node) enforces it. rustls's
/// webpki does not: it reads only a trust anchor's subject, key and name
/// constraints, not its basic constraints, so a rustls client would accept
/// a CA under ours; the name constraints hold for both.
#[test]
fn openssl_refuses_a_ca_under_the_egress_ca() {
    let ca = ca();
    let dns = || SanType::DnsName("api.example.test".try_into().unwrap());
    let mut sub_params = CertificateParams::default();
    let mut sub_name = DistinguishedName::new();
    sub_name.push(DnType::CommonName, "forged intermediate");
    sub_params.distinguished_name = sub_name;
    let (intermediate, intermediate_key) = forged_with(
        &ca.issuer,
        sub_params,
        dns(),
        IsCa::Ca(BasicConstraints::Unconstrained),
    );
    let sub_issuer = Issuer::from_ca_cert_der(&intermediate, intermediate_key).unwrap();
    let (leaf, _) = forged(&sub_issuer, dns(), IsCa::ExplicitNoCa);
    let (direct, _) = forged(&ca.issuer, dns(), IsCa::ExplicitNoCa);

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, der: &CertificateDer<'_>| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec())),
        )
        .unwrap();
        path
    };
    let ca_file = write("ca.pem", ca.certificate_der());
    let intermediate_file = write("intermediate.pem", &intermediate);
    let openssl = |leaf_file: &std::path::Path| {
        let output = std::process::Command::new("openssl")
            .args(["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile"])
            .arg(&ca_file)
            .arg("-untrusted")
            .arg(&intermediate_file)
            .arg(leaf_file)
            .output()
            .expect("the openssl command is installed");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    };
    let (ok, text) = openssl(&write("direct.pem", &direct));
    assert!(ok, "a leaf directly under the CA: {text}");
    let (ok, text) = openssl(&write("leaf.pem", &leaf));
    assert!(!ok, "a leaf under a CA under ours: {text}");
    assert!(text.contains("path length constraint exceeded"), "{text}");
}

#[test]
fn a_leaf_names_only_its_host_for_server_auth_for_a_day() {
    use x509_parser::extensions::GeneralName;

    let ca = ca();
    let now = SystemTime::now();
    let (leaf, not_after) = ca
        .issue_leaf("api.example.test", now, crate::LEAF_VALIDITY)
        .unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf.cert[0]).unwrap();
    let names: Vec<_> = cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .clone();
    assert_eq!(names, vec![GeneralName::DNSName("api.example.test")]);
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth && !eku.any && eku.other.is_empty());
    assert!(!cert.is_ca());
    assert_eq!(leaf.cert.len(), 1, "the leaf alone: clients hold the CA");

    let start = SystemTime::from(cert.validity().not_before.to_datetime());
    let end = SystemTime::from(cert.validity().not_after.to_datetime());
    let whole = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(whole(start), whole(now - BACKDATE));
    assert_eq!(whole(end), whole(now + crate::LEAF_VALIDITY));
    assert_eq!(whole(not_after), whole(end));
}

#[test]
fn a_leaf_never_outlives_its_ca() {
    let ca = ca();
    let (_, not_after) = ca
        .issue_leaf("api.example.test", SystemTime::now(), CA_VALIDITY * 2)
        .unwrap();
    assert_eq!(not_after, ca.not_after());
}
