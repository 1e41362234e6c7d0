//! Real TLS handshakes against a rustls server resolving through `LeafIssuer`,
//! with clients that trust only the egress CA's PEM.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crate::support::{client_trusting, dns, handshake, tls_error};
use hardshell_intercept::{EgressCa, InstallId, LeafIssuer};
use rustls::pki_types::ServerName;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{AlertDescription, CertificateError};

fn new_ca() -> Arc<EgressCa> {
    Arc::new(EgressCa::generate(&InstallId::parse("test-install").unwrap()).unwrap())
}

/// Always presents one fixed leaf, whatever the client asked for: what a
/// broker that issued for the wrong host would do.
#[derive(Debug)]
struct FixedLeaf(Arc<CertifiedKey>);

impl ResolvesServerCert for FixedLeaf {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// rustls's server answers a ClientHello its resolver found no certificate
/// for with an `access_denied` alert.
fn assert_refused_for_no_certificate(outcome: &crate::support::Outcome) {
    let client = outcome.client.as_ref().unwrap_err();
    assert!(
        matches!(
            tls_error(client),
            Some(rustls::Error::AlertReceived(AlertDescription::AccessDenied))
        ),
        "client: {client:?}"
    );
    assert!(outcome.server.is_err(), "the server completed a handshake");
}

#[tokio::test]
async fn a_client_trusting_only_the_ca_completes_a_handshake_for_its_host() {
    let ca = new_ca();
    let issuer = Arc::new(LeafIssuer::new(ca.clone()));
    let outcome = handshake(
        issuer.clone(),
        client_trusting(ca.ca_pem(), true),
        dns("api.example.test"),
    )
    .await;
    assert_eq!(outcome.client.unwrap(), b"hello from the broker");
    outcome.server.unwrap();
    assert_eq!(issuer.cached_hosts(), 1);
}

#[tokio::test]
async fn a_leaf_issued_for_one_host_is_refused_for_another() {
    let ca = new_ca();
    let issuer = LeafIssuer::new(ca.clone());
    let api_leaf = issuer.leaf_for(Some("api.example.test")).unwrap();
    let resolver = Arc::new(FixedLeaf(api_leaf));

    // The allow path: the leaf is accepted for the host it names...
    let outcome = handshake(
        resolver.clone(),
        client_trusting(ca.ca_pem(), true),
        dns("api.example.test"),
    )
    .await;
    assert_eq!(outcome.client.unwrap(), b"hello from the broker");

    // ...and the deny path: the same leaf for another host is refused.
    let outcome = handshake(
        resolver,
        client_trusting(ca.ca_pem(), true),
        dns("other.example.test"),
    )
    .await;
    let client = outcome.client.unwrap_err();
    assert!(
        matches!(
            tls_error(&client),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "client: {client:?}"
    );
}

#[tokio::test]
async fn a_client_hello_without_sni_gets_no_certificate() {
    let ca = new_ca();
    let issuer = Arc::new(LeafIssuer::new(ca.clone()));
    let outcome = handshake(
        issuer.clone(),
        client_trusting(ca.ca_pem(), false),
        dns("api.example.test"),
    )
    .await;
    assert_refused_for_no_certificate(&outcome);
    assert_eq!(issuer.cached_hosts(), 0, "nothing was issued");
}

#[tokio::test]
async fn a_client_connecting_to_an_ip_address_gets_no_certificate() {
    // A client asked for an IP address sends no SNI (RFC 6066 allows DNS names
    // only), so the broker has no host to issue for.
    let ca = new_ca();
    let issuer = Arc::new(LeafIssuer::new(ca.clone()));
    let outcome = handshake(
        issuer.clone(),
        client_trusting(ca.ca_pem(), true),
        ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into()),
    )
    .await;
    assert_refused_for_no_certificate(&outcome);
    assert_eq!(issuer.cached_hosts(), 0, "nothing was issued");
}

/// Two CAs of one install share a subject name, so the client takes the
/// trusted one as the issuer and finds the signature wrong (`BadSignature`);
/// with different names it finds no issuer at all (`UnknownIssuer`). Refused
/// either way: this is what a rotation does to the old CA's leaves.
#[tokio::test]
async fn leaves_of_another_ca_are_refused() {
    let trusted = new_ca();
    let other = new_ca();
    let outcome = handshake(
        Arc::new(LeafIssuer::new(other)),
        client_trusting(trusted.ca_pem(), true),
        dns("api.example.test"),
    )
    .await;
    let client = outcome.client.unwrap_err();
    assert!(
        matches!(
            tls_error(&client),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::BadSignature
            ))
        ),
        "client: {client:?}"
    );
}
