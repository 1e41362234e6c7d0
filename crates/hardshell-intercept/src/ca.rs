//! The egress CA: one ECDSA P-256 key per install, a certificate that can sign
//! leaves and nothing else, and the leaves themselves.
//!
//! P-256 because every client a shell runs accepts it as a CA (OpenSSL behind
//! curl, Python and Node; rustls/webpki; Go; browsers), where Ed25519 CAs are
//! still refused by some of them, and its signatures take tens of µs.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    NameConstraints, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use zeroize::{Zeroize, Zeroizing};

mod id;
mod key;

pub use id::InstallId;
use key::CaKey;

use crate::InterceptError;

/// How long a CA certificate is valid: long enough that operators who copied
/// it into their own clients are not surprised, short enough that a forgotten
/// install's CA dies by itself.
pub const CA_VALIDITY: Duration = Duration::from_secs(5 * 365 * 24 * 60 * 60);

/// How far back a certificate's validity starts, for clients whose clock is a
/// little behind the broker's.
const BACKDATE: Duration = Duration::from_secs(60);

/// The per-install egress CA. Holds its private key (wiped on drop); `Debug`
/// shows the certificate's SHA-256 fingerprint and expiry only.
pub struct EgressCa {
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    issuer: Issuer<'static, CaKey>,
    fingerprint: String,
    not_after: SystemTime,
}

impl EgressCa {
    /// A new CA with a fresh key, named for `id`. Only its certificate is
    /// ever shown to anyone; [`load_or_create`](Self::load_or_create) stores it.
    pub fn generate(id: &InstallId) -> Result<Self, InterceptError> {
        let key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(InterceptError::GenerateKey)?;
        let now = SystemTime::now();
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, format!("hardshell egress CA {id}"));
        name.push(DnType::OrganizationName, "hardshell");
        params.distinguished_name = name;
        // Path length 0: the CA signs leaves only, never another CA. OpenSSL
        // (curl, Python, Node) enforces it; webpki ignores a trust anchor's
        // basic constraints (see ca/tests.rs), the name constraints it keeps.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        params.name_constraints = Some(no_ip_addresses());
        params.not_before = OffsetDateTime::from(now - BACKDATE);
        params.not_after = OffsetDateTime::from(now + CA_VALIDITY);
        params.serial_number = Some(random_serial()?);
        let cert = params.self_signed(&key).map_err(InterceptError::SelfSign)?;
        Self::from_parts(cert.der().clone(), key)
    }

    /// The CA from its certificate and key, checking that they belong together
    /// and that the certificate is a CA's; the one way in for generated and
    /// stored CAs alike.
    pub(crate) fn from_parts(
        cert_der: CertificateDer<'static>,
        key: KeyPair,
    ) -> Result<Self, InterceptError> {
        let key = CaKey::new(key);
        let unreadable = |reason| InterceptError::StoredCa {
            name: crate::CA_SECRET.to_owned(),
            reason,
        };
        let (_, parsed) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|_| unreadable("the certificate does not parse"))?;
        if parsed.public_key().raw != key.spki().as_slice() {
            return Err(unreadable("the key is not the certificate's"));
        }
        if !parsed.is_ca() {
            return Err(unreadable("the certificate is not a CA's"));
        }
        let not_after = SystemTime::from(parsed.validity().not_after.to_datetime());
        let issuer =
            Issuer::from_ca_cert_der(&cert_der, key).map_err(InterceptError::ReadCertificate)?;
        // LF line ends, as system bundles have them: the PEM is appended to
        // one for shells, and printed for operators.
        let cert_pem = pem::encode_config(
            &pem::Pem::new("CERTIFICATE", cert_der.to_vec()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        );
        let fingerprint = format!("sha256:{}", hex::encode(Sha256::digest(&cert_der)));
        Ok(Self {
            cert_der,
            cert_pem,
            issuer,
            fingerprint,
            not_after,
        })
    }

    /// The CA certificate as PEM: what shells trust (`SSL_CERT_FILE` and the
    /// like) and `hardshell egress ca` prints.
    pub fn ca_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn certificate_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// `sha256:` and the hex SHA-256 of the certificate, for logs and operators.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The certificate and key as stored: the certificate's PEM, then the
    /// key's PKCS#8 PEM, in one value so the two are never torn apart.
    pub(crate) fn stored_form(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(self.cert_pem.clone());
        text.push_str(&self.issuer.key().pem());
        text
    }

    /// A leaf for `host` (already checked to be a DNS name), valid from a
    /// minute ago for `validity` but never past the CA's own expiry. Returns
    /// the leaf and when it expires. One P-256 key generation and one
    /// signature: about 50 µs in a release build (90 µs in debug) on the
    /// 2-core development machine.
    pub(crate) fn issue_leaf(
        &self,
        host: &str,
        now: SystemTime,
        validity: Duration,
    ) -> Result<(Arc<CertifiedKey>, SystemTime), InterceptError> {
        let failed = |source| InterceptError::IssueLeaf {
            host: host.to_owned(),
            source,
        };
        let not_after = (now + validity).min(self.not_after);
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        // RFC 5280's upper bound for a common name; the SAN is what counts.
        if host.len() <= 64 {
            name.push(DnType::CommonName, host);
        }
        params.distinguished_name = name;
        params.subject_alt_names = vec![SanType::DnsName(host.try_into().map_err(failed)?)];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = OffsetDateTime::from(now - BACKDATE);
        params.not_after = OffsetDateTime::from(not_after);
        params.serial_number = Some(random_serial()?);
        let mut leaf_key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(InterceptError::GenerateKey)?;
        let cert = params.signed_by(&leaf_key, &self.issuer);
        let key_der = Zeroizing::new(leaf_key.serialize_der());
        leaf_key.zeroize();
        let cert = cert.map_err(failed)?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der.as_slice()));
        let signing_key =
            rustls::crypto::aws_lc_rs::sign::any_ecdsa_type(&key_der).map_err(|_| {
                InterceptError::LeafKey {
                    host: host.to_owned(),
                }
            })?;
        let certified = CertifiedKey::new(vec![cert.der().clone()], signing_key);
        Ok((Arc::new(certified), not_after))
    }
}

impl fmt::Debug for EgressCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EgressCa")
            .field("fingerprint", &self.fingerprint)
            .field("not_after", &OffsetDateTime::from(self.not_after))
            .finish_non_exhaustive()
    }
}

/// Name constraints: every IPv4 and IPv6 address excluded. Leaves are only
/// ever issued for DNS names (an IP-literal SNI gets none), so this costs
/// nothing, and a stolen key still cannot vouch for an address. No permitted
/// DNS subtree: the hosts a shell may reach change with the config, and a CA
/// narrowed to them would have to be replaced (and re-trusted by every
/// operator client) on each change; the key's custody is the barrier there.
fn no_ip_addresses() -> NameConstraints {
    NameConstraints {
        permitted_subtrees: Vec::new(),
        excluded_subtrees: vec![
            GeneralSubtree::IpAddress(CidrSubnet::from_v4_prefix(
                Ipv4Addr::UNSPECIFIED.octets(),
                0,
            )),
            GeneralSubtree::IpAddress(CidrSubnet::from_v6_prefix(
                Ipv6Addr::UNSPECIFIED.octets(),
                0,
            )),
        ],
    }
}

/// 128 random bits, positive and without a leading zero byte, so every
/// certificate (and every reissue for the same host) has its own serial.
fn random_serial() -> Result<SerialNumber, InterceptError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| InterceptError::Random)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

#[cfg(test)]
mod tests;
