use chrono::Utc;

use crate::support::*;

#[tokio::test]
async fn issued_device_certificate_is_accepted_and_names_the_device() {
    let f = fixture().await;
    let phone = issue(&f.authority, "phone", Utc::now()).await;
    let edge = Edge::new(f.authority.client_verifier(Utc::now()).await.unwrap());

    let outcome = connect(&edge, Some(&phone)).await;
    outcome.client.unwrap();
    let device = outcome
        .server
        .unwrap()
        .expect("a device certificate was presented");
    assert_eq!(device.name, "phone");
    assert_eq!(device.serial, phone.serial);
}

#[tokio::test]
async fn connection_without_a_certificate_is_accepted_without_a_device() {
    let f = fixture().await;
    let edge = Edge::new(f.authority.client_verifier(Utc::now()).await.unwrap());

    let outcome = connect(&edge, None).await;
    outcome.client.unwrap();
    assert_eq!(outcome.server.unwrap(), None);
}

#[tokio::test]
async fn certificate_from_another_ca_is_refused() {
    let f = fixture().await;
    let other = fixture().await;
    // Same name, same shape, wrong issuer.
    let foreign = issue(&other.authority, "phone", Utc::now()).await;
    let edge = Edge::new(f.authority.client_verifier(Utc::now()).await.unwrap());

    connect(&edge, Some(&foreign))
        .await
        .refused_by_server("UnknownIssuer");
}

#[tokio::test]
async fn revoked_certificate_is_refused_once_the_verifier_is_rebuilt() {
    let f = fixture().await;
    let phone = issue(&f.authority, "phone", Utc::now()).await;
    let laptop = issue(&f.authority, "laptop", Utc::now()).await;
    let before = Edge::new(f.authority.client_verifier(Utc::now()).await.unwrap());
    connect(&before, Some(&phone)).await.client.unwrap();

    f.authority
        .revoke(&name("phone"), Utc::now())
        .await
        .unwrap();
    let after = Edge::new(f.authority.client_verifier(Utc::now()).await.unwrap());

    connect(&after, Some(&phone))
        .await
        .refused_by_server("Revoked");
    // Only that certificate: the other device still gets in.
    let outcome = connect(&after, Some(&laptop)).await;
    outcome.client.unwrap();
    assert_eq!(outcome.server.unwrap().unwrap().name, "laptop");
    // A verifier built before the revocation does not know of it: rebuild.
    connect(&before, Some(&phone)).await.client.unwrap();
}

#[tokio::test]
async fn name_issued_again_after_revocation_gets_in_and_the_old_certificate_does_not() {
    let f = fixture().await;
    let lost = issue(&f.authority, "phone", Utc::now()).await;
    f.authority
        .revoke(&name("phone"), Utc::now())
        .await
        .unwrap();
    let replacement = issue(&f.authority, "phone", Utc::now()).await;
    assert_ne!(lost.serial, replacement.serial);
    let edge = Edge::new(f.authority.client_verifier(Utc::now()).await.unwrap());

    connect(&edge, Some(&lost))
        .await
        .refused_by_server("Revoked");
    let outcome = connect(&edge, Some(&replacement)).await;
    outcome.client.unwrap();
    assert_eq!(outcome.server.unwrap().unwrap().serial, replacement.serial);
}

#[tokio::test]
async fn expired_certificate_is_refused() {
    let f = fixture().await;
    // Issued two days ago for one day.
    let two_days_ago = Utc::now() - chrono::Duration::days(2);
    let stale = f
        .authority
        .issue(&name("phone"), DAY, two_days_ago)
        .await
        .unwrap();
    let edge = Edge::new(f.authority.client_verifier(Utc::now()).await.unwrap());

    connect(&edge, Some(&stale))
        .await
        .refused_by_server("certificate expired");
}
