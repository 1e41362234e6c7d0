//! The device CA itself: its key, its certificate, and the two things it signs
//! (device certificates and revocation lists). No storage here, only encoding.

use chrono::{DateTime, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, RevokedCertParams, SerialNumber,
};
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{DeviceError, DeviceName};

/// How long the CA certificate is valid. There is no rotation yet: a CA this old
/// must be replaced (and every device re-issued) by hand.
const CA_VALIDITY_DAYS: i64 = 10 * 365;
/// Followed by random hex: each instance's CA has a name of its own, so a
/// certificate from another hardshell is reported as from an unknown issuer.
const CA_NAME: &str = "hardshell device CA";
/// Device certificates start a little in the past, so a device whose clock runs
/// slightly behind the edge's can use a certificate at once.
const BACKDATE: chrono::Duration = chrono::Duration::minutes(5);
const FORMAT_VERSION: u32 = 1;

pub(super) struct CertificateAuthority {
    certificate: CertificateDer<'static>,
    not_after: DateTime<Utc>,
    key: Zeroizing<KeyPair>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    v: u32,
    not_after: DateTime<Utc>,
    /// The CA certificate, DER, base64.
    certificate: String,
}

/// A revoked certificate as the CRL lists it.
pub(super) struct Revoked {
    pub serial: Vec<u8>,
    pub revoked_at: DateTime<Utc>,
}

impl CertificateAuthority {
    pub(super) fn generate(now: DateTime<Utc>) -> Result<Self, DeviceError> {
        let key = Zeroizing::new(generate_key("generate the device CA key")?);
        let not_after = now + chrono::Duration::days(CA_VALIDITY_DAYS);
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        let instance = hex::encode(&random_serial()?[..4]);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{CA_NAME} {instance}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.key_identifier_method = KeyIdMethod::Sha256;
        params.not_before = offset(now - BACKDATE)?;
        params.not_after = offset(not_after)?;
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
        let certificate = params
            .self_signed(&*key)
            .map_err(|source| DeviceError::Generate {
                step: "self-sign the device CA certificate",
                source,
            })?;
        Ok(Self {
            certificate: certificate.der().clone(),
            not_after,
            key,
        })
    }

    pub(super) fn certificate(&self) -> &CertificateDer<'static> {
        &self.certificate
    }

    pub(super) fn not_after(&self) -> DateTime<Utc> {
        self.not_after
    }

    fn issuer(&self) -> Result<Issuer<'static, &KeyPair>, DeviceError> {
        Issuer::from_ca_cert_der(&self.certificate, &*self.key).map_err(|source| {
            DeviceError::Generate {
                step: "read the device CA certificate",
                source,
            }
        })
    }

    /// A client certificate for `name`: CN = name, client-auth only.
    /// Returns (certificate PEM, key PEM, serial).
    pub(super) fn issue(
        &self,
        name: &DeviceName,
        now: DateTime<Utc>,
        not_after: DateTime<Utc>,
    ) -> Result<(String, Zeroizing<String>, Vec<u8>), DeviceError> {
        let key = Zeroizing::new(generate_key("generate a device key")?);
        let serial = random_serial()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, name.as_str());
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = offset(now - BACKDATE)?;
        params.not_after = offset(not_after)?;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        let certificate =
            params
                .signed_by(&*key, &self.issuer()?)
                .map_err(|source| DeviceError::Generate {
                    step: "sign a device certificate",
                    source,
                })?;
        Ok((
            certificate.pem(),
            Zeroizing::new(key.serialize_pem()),
            serial,
        ))
    }

    /// A CRL listing `revoked`, signed now.
    pub(super) fn revocation_list(
        &self,
        revoked: &[Revoked],
        now: DateTime<Utc>,
    ) -> Result<CertificateRevocationListDer<'static>, DeviceError> {
        let revoked_certs = revoked
            .iter()
            .map(|entry| {
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&entry.serial),
                    revocation_time: offset(entry.revoked_at)?,
                    reason_code: None,
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, DeviceError>>()?;
        let params = CertificateRevocationListParams {
            this_update: offset(now)?,
            // The edge builds its verifier from a fresh CRL at start and after each
            // revocation, and does not enforce this date; it is here because RFC
            // 5280 requires it.
            next_update: offset(now + chrono::Duration::days(7))?,
            // Increases with time, as RFC 5280 asks, without a stored counter.
            crl_number: SerialNumber::from_slice(&now.timestamp_millis().to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params
            .signed_by(&self.issuer()?)
            .map_err(|source| DeviceError::Generate {
                step: "sign the device revocation list",
                source,
            })?;
        Ok(crl.der().clone())
    }

    /// Header line, newline, raw PKCS#8 key.
    pub(super) fn encode(&self) -> Result<Zeroizing<Vec<u8>>, DeviceError> {
        let header = Header {
            v: FORMAT_VERSION,
            not_after: self.not_after,
            certificate: base64_encode(&self.certificate),
        };
        let mut bytes =
            Zeroizing::new(
                serde_json::to_vec(&header).map_err(|e| DeviceError::Corrupt {
                    key: "ca".into(),
                    reason: e.to_string(),
                })?,
            );
        bytes.push(b'\n');
        bytes.extend_from_slice(self.key.serialized_der());
        Ok(bytes)
    }

    pub(super) fn decode(key_name: &str, bytes: &[u8]) -> Result<Self, DeviceError> {
        let corrupt = |reason: String| DeviceError::Corrupt {
            key: key_name.to_owned(),
            reason,
        };
        let newline = bytes
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| corrupt("no header line".into()))?;
        let header: Header = serde_json::from_slice(&bytes[..newline])
            .map_err(|e| corrupt(format!("header: {e}")))?;
        if header.v != FORMAT_VERSION {
            return Err(corrupt(format!("unknown format version {}", header.v)));
        }
        let certificate = base64_decode(&header.certificate)
            .ok_or_else(|| corrupt("certificate is not base64".into()))?;
        // The key's DER is the secret; rcgen copies it into the key pair, which
        // zeroizes its copy on drop (see Zeroizing<KeyPair> above).
        let key = KeyPair::try_from(&bytes[newline + 1..])
            .map_err(|e| corrupt(format!("private key: {e}")))?;
        Ok(Self {
            certificate: CertificateDer::from(certificate),
            not_after: header.not_after,
            key: Zeroizing::new(key),
        })
    }
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("not_after", &self.not_after)
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

fn generate_key(step: &'static str) -> Result<KeyPair, DeviceError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map_err(|source| DeviceError::Generate { step, source })
}

/// 16 random bytes; the first is made non-zero and below 0x80 so that the DER
/// INTEGER is positive and exactly these 16 bytes, which is what
/// `device_from_peer_certificates` reads back as the serial.
fn random_serial() -> Result<Vec<u8>, DeviceError> {
    let mut serial = vec![0u8; 16];
    getrandom::fill(&mut serial).map_err(|e| DeviceError::Random(e.to_string()))?;
    serial[0] = (serial[0] & 0x7f) | 0x01;
    Ok(serial)
}

pub(super) fn offset(at: DateTime<Utc>) -> Result<OffsetDateTime, DeviceError> {
    OffsetDateTime::from_unix_timestamp(at.timestamp()).map_err(|_| DeviceError::Time(at))
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_ca_decodes_to_the_same_certificate_and_key() {
        let now = Utc::now();
        let ca = CertificateAuthority::generate(now).unwrap();
        let decoded = CertificateAuthority::decode("ca", &ca.encode().unwrap()).unwrap();
        assert_eq!(decoded.certificate(), ca.certificate());
        assert_eq!(decoded.key.serialized_der(), ca.key.serialized_der());
    }

    #[test]
    fn debug_shows_no_key() {
        let ca = CertificateAuthority::generate(Utc::now()).unwrap();
        let shown = format!("{ca:?}");
        assert!(shown.contains("redacted"), "{shown}");
        assert!(!shown.contains("serialized_der"), "{shown}");
    }

    #[test]
    fn truncated_or_foreign_objects_are_corrupt() {
        let ca = CertificateAuthority::generate(Utc::now()).unwrap();
        let encoded = ca.encode().unwrap();
        let header_only = &encoded[..encoded.iter().position(|b| *b == b'\n').unwrap() + 1];
        for bytes in [
            &b"not a ca"[..],
            header_only,
            &encoded[..encoded.len() - 10],
        ] {
            assert!(matches!(
                CertificateAuthority::decode("ca", bytes),
                Err(DeviceError::Corrupt { .. })
            ));
        }
    }

    #[test]
    fn serials_are_sixteen_positive_bytes() {
        for _ in 0..256 {
            let serial = random_serial().unwrap();
            assert_eq!(serial.len(), 16);
            assert!(serial[0] != 0 && serial[0] < 0x80);
        }
    }
}
