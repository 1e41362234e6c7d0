use hardshell_auth::passkey::{PasskeyError, SetupToken};
use hardshell_storage::ObjectKey;
use webauthn_authenticator_rs::WebauthnAuthenticator;

use crate::support::*;

#[tokio::test]
async fn first_setup_link_is_issued_only_while_no_passkey_exists() {
    let f = fixture().await;
    let token = f
        .passkeys
        .issue_first_setup_link(t0())
        .await
        .unwrap()
        .expect("no passkey yet: a link");
    let mut phone = authenticator();
    let (state, credential) = browser_registration(&f, &mut phone, &token, &origin(), t0()).await;
    f.passkeys
        .finish_registration(&state, &credential, t0())
        .await
        .unwrap();

    assert!(
        f.passkeys
            .issue_first_setup_link(t0())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn used_setup_link_is_refused() {
    let f = fixture().await;
    let token = f.passkeys.setup_links().issue(t0()).await.unwrap();
    let (options, state) = f.passkeys.start_registration(&token, t0()).await.unwrap();
    let mut phone = authenticator();
    let answer = phone.do_registration(origin(), options.clone()).unwrap();
    f.passkeys
        .finish_registration(&state, &answer, t0())
        .await
        .unwrap();

    let err = refused(f.passkeys.start_registration(&token, t0()).await);
    assert!(matches!(err, PasskeyError::UsedSetupToken { .. }), "{err}");
    let err = refused(f.passkeys.setup_links().redeem(&token, t0()).await);
    assert!(matches!(err, PasskeyError::UsedSetupToken { .. }), "{err}");

    // Whoever saw the options cannot finish the same state with a passkey of their own.
    let mut intruder = authenticator();
    let intruding = intruder.do_registration(origin(), options).unwrap();
    let err = refused(
        f.passkeys
            .finish_registration(&state, &intruding, t0())
            .await,
    );
    assert!(matches!(err, PasskeyError::UsedSetupToken { .. }), "{err}");
    // Nor register the same passkey twice.
    let err = refused(f.passkeys.finish_registration(&state, &answer, t0()).await);
    assert!(
        matches!(err, PasskeyError::DuplicatePasskey { .. }),
        "{err}"
    );
    assert_eq!(f.passkeys.list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn expired_setup_link_is_refused() {
    let f = fixture().await;
    let token = f.passkeys.setup_links().issue(t0()).await.unwrap();
    let err = refused(
        f.passkeys
            .start_registration(&token, t0() + minutes(15))
            .await,
    );
    assert!(
        matches!(err, PasskeyError::ExpiredSetupToken { .. }),
        "{err}"
    );

    // Started in time, finished after the link expired: refused as well.
    let token = f.passkeys.setup_links().issue(t0()).await.unwrap();
    let mut phone = authenticator();
    let start = t0() + minutes(14);
    let (state, credential) = browser_registration(&f, &mut phone, &token, &origin(), start).await;
    let err = refused(
        f.passkeys
            .finish_registration(&state, &credential, t0() + minutes(16))
            .await,
    );
    assert!(
        matches!(err, PasskeyError::ExpiredSetupToken { .. }),
        "{err}"
    );
    assert!(f.passkeys.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_or_malformed_setup_token_is_refused() {
    let f = fixture().await;
    let issued_elsewhere = fixture()
        .await
        .passkeys
        .setup_links()
        .issue(t0())
        .await
        .unwrap();
    let err = refused(f.passkeys.start_registration(&issued_elsewhere, t0()).await);
    assert!(
        matches!(err, PasskeyError::UnknownSetupToken { .. }),
        "{err}"
    );

    let err = refused(SetupToken::parse("hs_setup_not-a-token"));
    assert!(matches!(err, PasskeyError::MalformedSetupToken), "{err}");
}

#[tokio::test]
async fn concurrent_redeems_of_one_link_admit_exactly_one() {
    let f = fixture().await;
    let token = f.passkeys.setup_links().issue(t0()).await.unwrap();
    let attempts = (0..16).map(|_| f.passkeys.setup_links().redeem(&token, t0()));
    let results = futures::future::join_all(attempts).await;

    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    for lost in results.into_iter().filter(Result::is_err) {
        let err = refused(lost);
        assert!(matches!(err, PasskeyError::UsedSetupToken { .. }), "{err}");
    }
}

#[tokio::test]
async fn store_holds_only_the_hash_of_a_setup_token() {
    let f = fixture().await;
    let token = f.passkeys.setup_links().issue(t0()).await.unwrap();
    let setup = f
        .store
        .root()
        .scope(&ObjectKey::parse("auth/passkey/setup").unwrap())
        .unwrap();
    let entries = setup.list().await.unwrap();
    assert_eq!(entries.len(), 1);
    let secret = token.expose().trim_start_matches("hs_setup_");
    assert!(!entries[0].key.as_str().contains(secret));
    let record = setup.get(&entries[0].key).await.unwrap().unwrap();
    let record = String::from_utf8(record.value.to_vec()).unwrap();
    assert!(!record.contains(secret), "{record}");
}

#[tokio::test]
async fn prune_drops_expired_links_and_old_ceremony_markers() {
    let f = fixture().await;
    let mut phone = authenticator();
    register(&f, &mut phone, t0()).await;
    login(&f, &mut phone, t0()).await.unwrap();
    let live = f
        .passkeys
        .setup_links()
        .issue(t0() + minutes(20))
        .await
        .unwrap();
    let count = |prefix: &'static str| {
        let scope = f
            .store
            .root()
            .scope(&ObjectKey::parse(prefix).unwrap())
            .unwrap();
        async move { scope.list().await.unwrap().len() }
    };
    assert_eq!(count("auth/passkey/setup").await, 2);
    assert_eq!(count("auth/passkey/ceremonies").await, 1);

    // Not yet: the marker must outlive the state it guards.
    f.passkeys.prune(t0() + minutes(6)).await.unwrap();
    assert_eq!(count("auth/passkey/ceremonies").await, 1);

    f.passkeys.prune(t0() + minutes(30)).await.unwrap();
    assert_eq!(count("auth/passkey/setup").await, 1);
    assert_eq!(count("auth/passkey/ceremonies").await, 0);
    f.passkeys
        .start_registration(&live, t0() + minutes(30))
        .await
        .unwrap();
}
