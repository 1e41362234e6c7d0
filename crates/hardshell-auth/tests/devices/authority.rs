use chrono::Utc;
use hardshell_auth::devices::{DeviceAuthority, DeviceError, MAX_DEVICE_VALIDITY, RevokedSerials};

use crate::support::*;

#[tokio::test]
async fn ca_is_created_once_and_loaded_afterwards() {
    let f = fixture().await;
    let reopened = DeviceAuthority::load_or_create(&f.scope, Utc::now())
        .await
        .unwrap();
    assert_eq!(reopened.ca_certificate(), f.authority.ca_certificate());

    // A certificate issued by one handle is accepted by the other's verifier.
    let phone = issue(&f.authority, "phone", Utc::now()).await;
    let edge = Edge::new(reopened.client_verifier(Utc::now()).await.unwrap());
    connect(&edge, Some(&phone)).await.client.unwrap();
}

#[tokio::test]
async fn replicas_starting_together_agree_on_one_ca() {
    let f = fixture().await;
    let fresh = f
        .scope
        .scope(&hardshell_storage::ObjectKey::parse("fresh").unwrap())
        .unwrap();
    let starts = (0..8).map(|_| DeviceAuthority::load_or_create(&fresh, Utc::now()));
    let authorities = futures::future::join_all(starts).await;
    let first = authorities[0].as_ref().unwrap().ca_certificate().clone();
    for authority in &authorities {
        assert_eq!(authority.as_ref().unwrap().ca_certificate(), &first);
    }
}

#[tokio::test]
async fn live_name_cannot_be_issued_twice() {
    let f = fixture().await;
    let phone = issue(&f.authority, "phone", Utc::now()).await;
    let err = f
        .authority
        .issue(&name("phone"), DAY, Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeviceError::DeviceExists { serial, .. } if *serial == phone.serial),
        "{err}"
    );
}

#[tokio::test]
async fn validity_must_be_positive_bounded_and_within_the_ca() {
    let f = fixture().await;
    for validity in [std::time::Duration::ZERO, MAX_DEVICE_VALIDITY + DAY] {
        let err = f
            .authority
            .issue(&name("phone"), validity, Utc::now())
            .await
            .unwrap_err();
        assert!(matches!(err, DeviceError::InvalidValidity { .. }), "{err}");
    }
    // Near the end of the CA's ten years, a long certificate would outlive it.
    let late = Utc::now() + chrono::Duration::days(10 * 365 - 30);
    let err = f
        .authority
        .issue(&name("phone"), 60 * DAY, late)
        .await
        .unwrap_err();
    assert!(matches!(err, DeviceError::OutlivesCa { .. }), "{err}");
    assert!(f.authority.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn list_shows_issued_and_revoked_devices_by_name() {
    let f = fixture().await;
    let now = Utc::now();
    let phone = issue(&f.authority, "phone", now).await;
    let laptop = issue(&f.authority, "laptop", now).await;
    f.authority.revoke(&name("phone"), now).await.unwrap();

    let listed = f.authority.list().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].name, name("laptop"));
    assert_eq!(listed[0].serial, laptop.serial);
    assert_eq!(listed[0].revoked_at, None);
    assert_eq!(listed[1].name, name("phone"));
    assert_eq!(listed[1].serial, phone.serial);
    assert!(listed[1].revoked_at.is_some());
}

#[tokio::test]
async fn revoking_an_unknown_or_revoked_device_is_an_error() {
    let f = fixture().await;
    let err = f
        .authority
        .revoke(&name("ghost"), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, DeviceError::UnknownDevice { .. }), "{err}");
    issue(&f.authority, "phone", Utc::now()).await;
    f.authority
        .revoke(&name("phone"), Utc::now())
        .await
        .unwrap();
    let err = f
        .authority
        .revoke(&name("phone"), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, DeviceError::UnknownDevice { .. }), "{err}");
}

#[tokio::test]
async fn issued_key_is_redacted_in_debug() {
    let f = fixture().await;
    let phone = issue(&f.authority, "phone", Utc::now()).await;
    let shown = format!("{phone:?}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert!(shown.contains("redacted"), "{shown}");
    assert!(phone.key_pem.contains("PRIVATE KEY"));
}

#[tokio::test]
async fn certificate_carries_name_serial_and_client_auth_only() {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use x509_parser::prelude::{FromDer, X509Certificate};

    let f = fixture().await;
    let phone = issue(&f.authority, "phone", Utc::now()).await;
    let der = CertificateDer::from_pem_slice(phone.cert_pem.as_bytes()).unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(
        cert.subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap(),
        "phone"
    );
    assert_eq!(hex::encode(cert.raw_serial()), phone.serial);
    let usage = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(usage.client_auth && !usage.server_auth && !usage.any);
    assert!(!cert.is_ca());
}

#[tokio::test]
async fn revoked_serials_sees_revocations_made_through_another_handle() {
    let f = fixture().await;
    let phone = issue(&f.authority, "phone", Utc::now()).await;
    let laptop = issue(&f.authority, "laptop", Utc::now()).await;
    let device = |issued: &hardshell_auth::devices::IssuedDevice| hardshell_auth::Device {
        name: issued.name.to_string(),
        serial: issued.serial.clone(),
    };
    // A zero maximum age: every question re-reads the list.
    let checked = RevokedSerials::new(f.authority.clone(), std::time::Duration::ZERO);
    assert!(!checked.is_revoked(&device(&phone)).await.unwrap());
    // As the CLI would: another handle on the same store.
    let cli = DeviceAuthority::load_or_create(&f.scope, Utc::now())
        .await
        .unwrap();
    cli.revoke(&name("phone"), Utc::now()).await.unwrap();
    assert!(checked.is_revoked(&device(&phone)).await.unwrap());
    assert!(!checked.is_revoked(&device(&laptop)).await.unwrap());
    assert_eq!(
        f.authority.revoked_serials().await.unwrap(),
        [phone.serial.clone()].into_iter().collect()
    );
}

#[tokio::test]
async fn a_noted_revocation_applies_before_the_next_read() {
    let f = fixture().await;
    let phone = issue(&f.authority, "phone", Utc::now()).await;
    let device = hardshell_auth::Device {
        name: "phone".into(),
        serial: phone.serial.clone(),
    };
    // A cache that would not be re-read during this test.
    let checked = RevokedSerials::new(f.authority.clone(), std::time::Duration::from_secs(3600));
    assert!(!checked.is_revoked(&device).await.unwrap());
    checked.note(&phone.serial).await;
    assert!(checked.is_revoked(&device).await.unwrap());
}
