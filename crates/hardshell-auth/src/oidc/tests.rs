//! The OIDC login against a real provider (panva's oidc-provider, started by
//! `scripts/services.sh`), driven like a browser. These tests fail when the
//! provider is not running; they never skip.

use hardshell_testkit::oidc as browser;

use std::time::Duration;

use chrono::Utc;
use url::Url;
use zeroize::Zeroizing;

use super::*;
use crate::Method;
use browser::{Browser, code_and_state};

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite with scripts/test, which starts the OIDC provider")
    })
}

fn redirect_uri() -> Url {
    Url::parse(&required_env("HARDSHELL_TEST_OIDC_REDIRECT_URI")).unwrap()
}

fn settings_for(client_id: &str, secret_env: &str) -> OidcSettings {
    let mut settings = OidcSettings::new(
        required_env("HARDSHELL_TEST_OIDC_ISSUER"),
        client_id,
        ClientSecret::new(Zeroizing::new(required_env(secret_env))),
        redirect_uri(),
    );
    settings.scopes = vec!["email".into(), "groups".into()];
    settings
}

fn settings() -> OidcSettings {
    settings_for("hardshell", "HARDSHELL_TEST_OIDC_CLIENT_SECRET")
}

async fn client() -> OidcClient {
    OidcClient::discover(settings()).await.unwrap()
}

async fn other_client() -> OidcClient {
    OidcClient::discover(settings_for(
        "hardshell-other",
        "HARDSHELL_TEST_OIDC_OTHER_CLIENT_SECRET",
    ))
    .await
    .unwrap()
}

/// Begins a login with `client` and signs in at the provider as `login`;
/// returns the pending login and the code and state sent back.
async fn sign_in(client: &OidcClient, login: &str) -> (PendingLogin, String, String) {
    let (authorize_url, pending) = client.begin();
    let callback = Browser::new(redirect_uri())
        .sign_in(authorize_url, login)
        .await;
    let (code, state) = code_and_state(&callback);
    (pending, code, state)
}

#[tokio::test]
async fn login_maps_the_verified_email_lower_cased_and_the_groups() {
    let client = client().await;
    let (pending, code, state) = sign_in(&client, "alice").await;
    let principal = client.complete(pending, &code, &state).await.unwrap();
    assert_eq!(principal.subject, "alice");
    assert_eq!(principal.email.as_deref(), Some("alice@example.com"));
    assert_eq!(principal.groups, ["hardshell-admins", "alice-group"]);
    assert_eq!(principal.method, Method::Oidc);
    assert_eq!(principal.token_scope, None);
    let age = Utc::now() - principal.authenticated_at;
    assert!(
        age >= chrono::Duration::zero() && age < chrono::Duration::minutes(1),
        "{age}"
    );
}

#[tokio::test]
async fn authorize_url_carries_state_nonce_and_an_s256_pkce_challenge() {
    let (url, pending) = client().await.begin();
    let param = |name: &str| {
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    assert_eq!(param("response_type").as_deref(), Some("code"));
    assert_eq!(param("client_id").as_deref(), Some("hardshell"));
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param("state").as_deref(), Some(pending.state()));
    assert_eq!(param("nonce").as_deref(), Some(pending.nonce.as_str()));
    assert_eq!(param("scope").as_deref(), Some("openid email groups"));
    assert!(param("code_challenge").is_some());
    // The verifier itself never travels in the URL.
    assert!(!url.as_str().contains(&pending.pkce_verifier));
    let (_, second) = client().await.begin();
    assert_ne!(second.state(), pending.state());
    assert_ne!(second.nonce, pending.nonce);
}

#[tokio::test]
async fn email_the_provider_marks_unverified_is_not_mapped() {
    let client = client().await;
    let (pending, code, state) = sign_in(&client, "unverified").await;
    let principal = client.complete(pending, &code, &state).await.unwrap();
    assert_eq!(principal.subject, "unverified");
    assert_eq!(principal.email, None);
    assert_eq!(principal.groups, ["hardshell-admins", "unverified-group"]);
}

#[tokio::test]
async fn wrong_state_is_refused_before_the_code_is_spent() {
    let client = client().await;
    let (pending, code, state) = sign_in(&client, "alice").await;
    let err = client
        .complete(pending.clone(), &code, "someone-elses-state")
        .await
        .unwrap_err();
    assert!(matches!(err, OidcError::StateMismatch), "{err}");
    // The refused attempt did not redeem the code: the real one still works.
    client.complete(pending, &code, &state).await.unwrap();
}

#[tokio::test]
async fn replayed_code_is_refused() {
    let client = client().await;
    let (pending, code, state) = sign_in(&client, "alice").await;
    client
        .complete(pending.clone(), &code, &state)
        .await
        .unwrap();
    let err = client.complete(pending, &code, &state).await.unwrap_err();
    assert!(
        matches!(&err, OidcError::CodeRejected { error } if error == "invalid_grant"),
        "{err}"
    );
}

#[tokio::test]
async fn tampered_nonce_is_refused() {
    let client = client().await;
    let (pending, code, state) = sign_in(&client, "alice").await;
    // As if the stored record had been altered: round-trip through JSON.
    let mut record: serde_json::Value = serde_json::to_value(&pending).unwrap();
    record["nonce"] = "a-nonce-the-provider-never-saw".into();
    let tampered: PendingLogin = serde_json::from_value(record).unwrap();
    let err = client.complete(tampered, &code, &state).await.unwrap_err();
    assert!(matches!(err, OidcError::NonceMismatch), "{err}");
}

#[tokio::test]
async fn wrong_pkce_verifier_is_refused_by_the_provider() {
    let client = client().await;
    let (mut pending, code, state) = sign_in(&client, "alice").await;
    pending.pkce_verifier = "x".repeat(64);
    let err = client.complete(pending, &code, &state).await.unwrap_err();
    assert!(
        matches!(&err, OidcError::CodeRejected { error } if error == "invalid_grant"),
        "{err}"
    );
}

#[tokio::test]
async fn expired_pending_login_is_refused() {
    let client = client().await;
    let (mut pending, code, state) = sign_in(&client, "alice").await;
    pending.created_at = Utc::now() - chrono::Duration::minutes(11);
    let err = client
        .complete(pending.clone(), &code, &state)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OidcError::LoginExpired { timeout_secs: 600 }),
        "{err}"
    );
    // Just inside the window, the same code is accepted.
    pending.created_at = Utc::now() - chrono::Duration::minutes(9);
    client.complete(pending, &code, &state).await.unwrap();
}

#[tokio::test]
async fn pending_login_dated_in_the_future_is_refused() {
    let client = client().await;
    let (mut pending, code, state) = sign_in(&client, "alice").await;
    pending.created_at = Utc::now() + chrono::Duration::minutes(5);
    let err = client.complete(pending, &code, &state).await.unwrap_err();
    assert!(matches!(err, OidcError::LoginExpired { .. }), "{err}");
}

#[tokio::test]
async fn id_token_issued_to_another_client_is_refused() {
    let other = other_client().await;
    let (pending, code, _) = sign_in(&other, "alice").await;
    let id_token = other.redeem(&pending, &code).await.unwrap();
    // It is genuine and verifies for the client it was issued to ...
    other
        .verify_id_token(&id_token, &pending.nonce)
        .await
        .unwrap();
    // ... but is not proof of anything to hardshell's client.
    let err = client()
        .await
        .verify_id_token(&id_token, &pending.nonce)
        .await
        .unwrap_err();
    assert!(matches!(err, OidcError::WrongAudience), "{err}");
}

#[tokio::test]
async fn code_issued_to_another_client_is_refused() {
    let (pending, code, state) = sign_in(&other_client().await, "alice").await;
    let err = client()
        .await
        .complete(pending, &code, &state)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OidcError::CodeRejected { error } if error == "invalid_grant"),
        "{err}"
    );
}

#[tokio::test]
async fn wrong_client_secret_is_refused_without_echoing_it() {
    let mut settings = settings();
    settings.client_secret = ClientSecret::new(Zeroizing::new("wrong-secret-do-not-print".into()));
    let client = OidcClient::discover(settings).await.unwrap();
    let (pending, code, state) = sign_in(&client, "alice").await;
    let err = client.complete(pending, &code, &state).await.unwrap_err();
    assert!(
        matches!(&err, OidcError::CodeRejected { error } if error == "invalid_client"),
        "{err}"
    );
    let text = format!("{err} {err:?} {client:?}");
    assert!(!text.contains("wrong-secret-do-not-print"), "{text}");
    assert!(!text.contains(&code), "{text}");
}

#[tokio::test]
async fn provider_key_missing_from_the_cached_set_is_fetched_again() {
    let client = client().await;
    // As after a rotation at the provider: the cached set lacks the signing key.
    client.keys.seed(CoreJsonWebKeySet::new(Vec::new()));
    let (pending, code, state) = sign_in(&client, "alice").await;
    let principal = client.complete(pending, &code, &state).await.unwrap();
    assert_eq!(principal.subject, "alice");
    assert!(!client.keys.current().await.unwrap().keys().is_empty());
}

#[tokio::test]
async fn malformed_code_is_refused_without_a_request() {
    let client = client().await;
    let (_, pending) = client.begin();
    let state = pending.state().to_owned();
    for code in [String::new(), "c".repeat(MAX_CODE_BYTES + 1)] {
        let err = client
            .complete(pending.clone(), &code, &state)
            .await
            .unwrap_err();
        assert!(matches!(err, OidcError::MalformedCode), "{err}");
    }
}

#[tokio::test]
async fn issuer_that_differs_from_the_discovered_one_is_refused() {
    // The same provider, named differently: its documents say 127.0.0.1.
    let issuer = required_env("HARDSHELL_TEST_OIDC_ISSUER").replace("127.0.0.1", "localhost");
    let mut settings = settings();
    settings.issuer = issuer;
    let err = OidcClient::discover(settings).await.unwrap_err();
    assert!(matches!(err, OidcError::Discovery { .. }), "{err}");
}

#[tokio::test]
async fn unreachable_issuer_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut settings = settings();
    settings.issuer = format!("http://{addr}");
    settings.fetch.timeout = Duration::from_secs(2);
    let err = OidcClient::discover(settings).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
}

#[tokio::test]
async fn plain_http_issuer_off_loopback_is_refused_without_a_request() {
    let mut settings = settings();
    settings.issuer = "http://accounts.example.com".into();
    let err = OidcClient::discover(settings).await.unwrap_err();
    assert!(matches!(err, OidcError::Settings { .. }), "{err}");
}

#[tokio::test]
async fn plain_http_redirect_off_loopback_is_refused() {
    let mut settings = settings();
    settings.redirect_url = Url::parse("http://hardshell.example.com/callback").unwrap();
    let err = OidcClient::discover(settings).await.unwrap_err();
    assert!(matches!(err, OidcError::Settings { .. }), "{err}");
}

#[test]
fn pending_login_and_client_secret_redact_their_secrets_in_debug() {
    let pending = PendingLogin {
        state: "state-value-1234".into(),
        nonce: "nonce-value-1234".into(),
        pkce_verifier: "verifier-value-1234".into(),
        created_at: Utc::now(),
    };
    let secret = ClientSecret::new(Zeroizing::new("client-secret-1234".into()));
    let text = format!("{pending:?} {secret:?} {:?}", settings());
    for leaked in [
        "state-value",
        "nonce-value",
        "verifier-value",
        "client-secret-1234",
    ] {
        assert!(!text.contains(leaked), "{text}");
    }
    assert!(
        !text.contains(&required_env("HARDSHELL_TEST_OIDC_CLIENT_SECRET")),
        "{text}"
    );
}

#[test]
fn pending_login_round_trips_through_json() {
    let pending = PendingLogin {
        state: "s".into(),
        nonce: "n".into(),
        pkce_verifier: "v".into(),
        created_at: Utc::now(),
    };
    let back: PendingLogin =
        serde_json::from_str(&serde_json::to_string(&pending).unwrap()).unwrap();
    assert_eq!(back.state(), "s");
    assert_eq!(back.nonce, "n");
    assert_eq!(back.pkce_verifier, "v");
    assert_eq!(back.created_at(), pending.created_at());
}

#[test]
fn login_futures_can_run_on_a_multi_threaded_runtime() {
    fn assert_send<T: Send>(_: &T) {}
    let settings = settings();
    assert_send(&OidcClient::discover(settings));
    fn complete_is_send(client: &OidcClient, pending: PendingLogin) {
        assert_send(&client.complete(pending, "code", "state"));
    }
    let _ = complete_is_send;
}
