//! What a valid token proves, and each claim check that refuses one.

use hardshell_auth::{CfAccessError, Method};
use serde_json::json;

use crate::support::{JwksServer, TEAM, claims, claims_with, keys, now};

#[tokio::test]
async fn valid_token_is_accepted_with_email_lowercased_and_groups_mapped() {
    let [key, ..] = keys();
    let server = JwksServer::start(&[key]).await;
    // One set of claims: each call of claims() stamps its own iat.
    let signed = claims();
    let principal = server.verifier().verify(&key.sign(&signed)).await.unwrap();
    assert_eq!(principal.subject, "7335d417-61da-459d-899c-0a01c76a2f94");
    assert_eq!(principal.email.as_deref(), Some("owner@example.com"));
    assert_eq!(principal.groups, ["hardshell-admins", "staff"]);
    assert_eq!(principal.method, Method::CloudflareAccess);
    assert_eq!(principal.token_scope, None);
    assert_eq!(principal.authenticated_at.timestamp(), signed["iat"]);
}

#[tokio::test]
async fn groups_passed_through_in_custom_claims_are_mapped() {
    let [key, ..] = keys();
    let server = JwksServer::start(&[key]).await;
    let token = key.sign(&claims_with(json!({
        "groups": null,
        "custom": {"groups": ["from-idp"], "department": "ops"},
    })));
    let principal = server.verifier().verify(&token).await.unwrap();
    assert_eq!(principal.groups, ["from-idp"]);
}

#[tokio::test]
async fn service_token_is_named_by_its_common_name() {
    let [key, ..] = keys();
    let server = JwksServer::start(&[key]).await;
    let token = key.sign(&claims_with(json!({
        "sub": "",
        "email": null,
        "groups": null,
        "common_name": "a1b2c3.access",
    })));
    let principal = server.verifier().verify(&token).await.unwrap();
    assert_eq!(principal.subject, "a1b2c3.access");
    assert_eq!(principal.email, None);
    assert!(principal.groups.is_empty());
}

#[tokio::test]
async fn token_without_any_subject_is_denied() {
    let [key, ..] = keys();
    let server = JwksServer::start(&[key]).await;
    let token = key.sign(&claims_with(json!({"sub": ""})));
    let err = server.verifier().verify(&token).await.unwrap_err();
    assert!(
        matches!(err, CfAccessError::MissingClaim { claim: "sub" }),
        "{err}"
    );
}

#[tokio::test]
async fn expired_token_is_denied() {
    let [key, ..] = keys();
    let server = JwksServer::start(&[key]).await;
    let token = key.sign(&claims_with(
        json!({"exp": now() - 120, "iat": now() - 400, "nbf": now() - 400}),
    ));
    let err = server.verifier().verify(&token).await.unwrap_err();
    assert!(matches!(err, CfAccessError::Expired), "{err}");
}

#[tokio::test]
async fn token_expired_within_the_leeway_is_accepted() {
    let [key, ..] = keys();
    let server = JwksServer::start(&[key]).await;
    let token = key.sign(&claims_with(
        json!({"exp": now() - 20, "iat": now() - 300, "nbf": now() - 300}),
    ));
    server.verifier().verify(&token).await.unwrap();
}

#[tokio::test]
async fn not_yet_valid_token_is_denied() {
    let [key, ..] = keys();
    let server = JwksServer::start(&[key]).await;
    let token = key.sign(&claims_with(
        json!({"nbf": now() + 300, "exp": now() + 600}),
    ));
    let err = server.verifier().verify(&token).await.unwrap_err();
    assert!(matches!(err, CfAccessError::NotYetValid), "{err}");
}

#[tokio::test]
async fn token_issued_in_the_future_is_denied() {
    let [key, ..] = keys();
    let server = JwksServer::start(&[key]).await;
    let token = key.sign(&claims_with(json!({"iat": now() + 300, "nbf": null})));
    let err = server.verifier().verify(&token).await.unwrap_err();
    assert!(matches!(err, CfAccessError::NotYetValid), "{err}");
}

#[tokio::test]
async fn token_for_another_application_is_denied() {
    let [key, ..] = keys();
    let server = JwksServer::start(&[key]).await;
    let token = key.sign(&claims_with(
        json!({"aud": ["another-application-aud-tag"]}),
    ));
    let err = server.verifier().verify(&token).await.unwrap_err();
    assert!(matches!(err, CfAccessError::WrongAudience), "{err}");
}

#[tokio::test]
async fn token_without_audience_is_denied() {
    let [key, ..] = keys();
    let server = JwksServer::start(&[key]).await;
    let token = key.sign(&claims_with(json!({"aud": null})));
    let err = server.verifier().verify(&token).await.unwrap_err();
    assert!(
        matches!(err, CfAccessError::MissingClaim { claim: "aud" }),
        "{err}"
    );
}

#[tokio::test]
async fn token_from_another_team_is_denied() {
    let [key, ..] = keys();
    let server = JwksServer::start(&[key]).await;
    for iss in [
        "https://attacker.cloudflareaccess.com".to_owned(),
        format!("http://{TEAM}"),
        format!("https://{TEAM}/"),
    ] {
        let token = key.sign(&claims_with(json!({"iss": iss})));
        let err = server.verifier().verify(&token).await.unwrap_err();
        assert!(matches!(err, CfAccessError::WrongIssuer), "{iss}: {err}");
    }
}

#[tokio::test]
async fn token_without_expiry_is_denied() {
    let [key, ..] = keys();
    let server = JwksServer::start(&[key]).await;
    let token = key.sign(&claims_with(json!({"exp": null})));
    let err = server.verifier().verify(&token).await.unwrap_err();
    assert!(
        matches!(err, CfAccessError::MissingClaim { claim: "exp" }),
        "{err}"
    );
}
