use hardshell_auth::passkey::{PasskeyError, RegistrationState, WebauthnError};
use url::Url;

use crate::support::*;

#[tokio::test]
async fn state_and_answer_survive_json_between_the_halves() {
    let f = fixture().await;
    let mut phone = authenticator();
    let token = f.passkeys.setup_links().issue(t0()).await.unwrap();
    let (state, credential) = browser_registration(&f, &mut phone, &token, &origin(), t0()).await;
    let state: RegistrationState =
        serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    let credential = serde_json::from_str(&serde_json::to_string(&credential).unwrap()).unwrap();

    let info = f
        .passkeys
        .finish_registration(&state, &credential, t0())
        .await
        .unwrap();
    assert_eq!(info.created_at, t0());
    assert_eq!(f.passkeys.list().await.unwrap(), vec![info]);
}

#[tokio::test]
async fn state_debug_shows_no_challenge() {
    let f = fixture().await;
    let token = f.passkeys.setup_links().issue(t0()).await.unwrap();
    let (options, state) = f.passkeys.start_registration(&token, t0()).await.unwrap();
    let challenge = serde_json::to_value(&options).unwrap()["publicKey"]["challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = format!("{state:?}");
    assert!(shown.contains(state.id()));
    assert!(!shown.contains(&challenge), "{shown}");
}

#[tokio::test]
async fn registration_signed_for_another_origin_is_refused_and_keeps_the_link() {
    let f = fixture().await;
    let mut phone = authenticator();
    let token = f.passkeys.setup_links().issue(t0()).await.unwrap();
    let other_port = Url::parse("http://localhost:9999").unwrap();
    let (state, credential) = browser_registration(&f, &mut phone, &token, &other_port, t0()).await;

    let err = refused(
        f.passkeys
            .finish_registration(&state, &credential, t0())
            .await,
    );
    assert!(
        matches!(
            err,
            PasskeyError::VerifyRegistration(WebauthnError::InvalidRPOrigin)
        ),
        "{err}"
    );
    assert!(f.passkeys.list().await.unwrap().is_empty());

    // A refused answer does not spend the link; the owner can try again.
    let (state, credential) = browser_registration(&f, &mut phone, &token, &origin(), t0()).await;
    f.passkeys
        .finish_registration(&state, &credential, t0())
        .await
        .unwrap();
}

#[tokio::test]
async fn registration_state_past_its_lifetime_is_refused() {
    let f = fixture().await;
    let mut phone = authenticator();
    let token = f.passkeys.setup_links().issue(t0()).await.unwrap();
    let (state, credential) = browser_registration(&f, &mut phone, &token, &origin(), t0()).await;

    let late = t0() + minutes(6);
    let err = refused(
        f.passkeys
            .finish_registration(&state, &credential, late)
            .await,
    );
    assert!(matches!(err, PasskeyError::CeremonyExpired { .. }), "{err}");
}

#[tokio::test]
async fn two_registrations_racing_on_one_link_store_one_passkey() {
    let f = fixture().await;
    let mut phone = authenticator();
    let mut intruder = authenticator();
    let token = f.passkeys.setup_links().issue(t0()).await.unwrap();
    let (phone_state, phone_answer) =
        browser_registration(&f, &mut phone, &token, &origin(), t0()).await;
    let (intruder_state, intruder_answer) =
        browser_registration(&f, &mut intruder, &token, &origin(), t0()).await;

    let (a, b) = tokio::join!(
        f.passkeys
            .finish_registration(&phone_state, &phone_answer, t0()),
        f.passkeys
            .finish_registration(&intruder_state, &intruder_answer, t0()),
    );
    assert!(a.is_ok() != b.is_ok(), "exactly one must win: {a:?} {b:?}");
    let loser = if a.is_ok() { b } else { a };
    let err = refused(loser);
    assert!(matches!(err, PasskeyError::UsedSetupToken { .. }), "{err}");
    assert_eq!(f.passkeys.list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn second_device_is_added_with_a_new_link_and_both_log_in() {
    let f = fixture().await;
    let mut phone = authenticator();
    let mut laptop = authenticator();
    register(&f, &mut phone, t0()).await;
    register(&f, &mut laptop, t0() + minutes(1)).await;

    // The second registration excluded the first passkey, and both log in.
    let (options, _state) = f.passkeys.start_login(t0()).await.unwrap();
    assert_eq!(options.public_key.allow_credentials.len(), 2);
    login(&f, &mut phone, t0() + minutes(2)).await.unwrap();
    login(&f, &mut laptop, t0() + minutes(2)).await.unwrap();
    let listed = f.passkeys.list().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed[0].created_at < listed[1].created_at);
}

#[tokio::test]
async fn second_registration_excludes_existing_passkeys() {
    let f = fixture().await;
    let mut phone = authenticator();
    let first = register(&f, &mut phone, t0()).await;
    let token = f.passkeys.setup_links().issue(t0()).await.unwrap();
    let (options, _state) = f.passkeys.start_registration(&token, t0()).await.unwrap();
    let excluded = options.public_key.exclude_credentials.unwrap();
    assert_eq!(excluded.len(), 1);
    // A passkey's id is the SHA-256 of its credential id.
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&excluded[0].id)),
        first.id.as_str()
    );
}
