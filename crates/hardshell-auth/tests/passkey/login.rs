use hardshell_auth::passkey::{
    LoginState, PasskeyError, PublicKeyCredential, RequestChallengeResponse, WebauthnError,
};
use hardshell_auth::{Method, Principal};
use url::Url;
use webauthn_authenticator_rs::AuthenticatorBackend;

use crate::support::*;

#[tokio::test]
async fn registered_owner_logs_in_as_the_owner_principal() {
    let f = fixture().await;
    let mut phone = authenticator();
    let registered = register(&f, &mut phone, t0()).await;

    // Through JSON, as the gateway keeps the state and the browser posts the answer.
    let (options, state) = f.passkeys.start_login(t0() + minutes(1)).await.unwrap();
    let options: RequestChallengeResponse =
        serde_json::from_str(&serde_json::to_string(&options).unwrap()).unwrap();
    let state: LoginState = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    let answer = sign(&mut phone, &origin(), options);
    let answer: PublicKeyCredential =
        serde_json::from_str(&serde_json::to_string(&answer).unwrap()).unwrap();
    let now = t0() + minutes(2);
    let principal = f.passkeys.finish_login(&state, &answer, now).await.unwrap();

    assert_eq!(
        principal,
        Principal {
            subject: "owner".into(),
            email: None,
            groups: vec![],
            method: Method::Passkey,
            authenticated_at: now,
            token_scope: None,
        }
    );
    let listed = f.passkeys.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, registered.id);
    assert_eq!(listed[0].last_used_at, Some(now));
}

#[tokio::test]
async fn consecutive_logins_each_succeed() {
    let f = fixture().await;
    let mut phone = authenticator();
    register(&f, &mut phone, t0()).await;
    for n in 1..=3 {
        login(&f, &mut phone, t0() + minutes(n)).await.unwrap();
    }
}

#[tokio::test]
async fn login_before_any_passkey_is_refused() {
    let f = fixture().await;
    let err = refused(f.passkeys.start_login(t0()).await);
    assert!(matches!(err, PasskeyError::NoPasskeys), "{err}");
}

#[tokio::test]
async fn login_signed_for_another_origin_is_refused() {
    let f = fixture().await;
    let mut phone = authenticator();
    register(&f, &mut phone, t0()).await;

    // Another port on localhost: what a browser would report for a page served
    // elsewhere on the same machine.
    let other_port = Url::parse("http://localhost:9999").unwrap();
    let (state, answer) = browser_login(&f, &mut phone, &other_port, t0()).await;
    let err = refused(f.passkeys.finish_login(&state, &answer, t0()).await);
    assert!(
        matches!(
            err,
            PasskeyError::VerifyLogin(WebauthnError::InvalidRPOrigin)
        ),
        "{err}"
    );

    // A phishing site: the client reports its own origin in the signed client data.
    let (options, state) = f.passkeys.start_login(t0()).await.unwrap();
    let phishing = Url::parse("https://hardshell-login.example").unwrap();
    let answer =
        AuthenticatorBackend::perform_auth(&mut phone, phishing, options.public_key, 60_000)
            .unwrap();
    let err = refused(f.passkeys.finish_login(&state, &answer, t0()).await);
    assert!(
        matches!(
            err,
            PasskeyError::VerifyLogin(WebauthnError::InvalidRPOrigin)
        ),
        "{err}"
    );

    // The passkey itself is unharmed.
    login(&f, &mut phone, t0()).await.unwrap();
}

#[tokio::test]
async fn finishing_a_login_twice_is_refused() {
    let f = fixture().await;
    let mut phone = authenticator();
    register(&f, &mut phone, t0()).await;
    let (state, answer) = browser_login(&f, &mut phone, &origin(), t0()).await;
    f.passkeys
        .finish_login(&state, &answer, t0())
        .await
        .unwrap();

    let err = refused(f.passkeys.finish_login(&state, &answer, t0()).await);
    assert!(
        matches!(err, PasskeyError::CeremonyReplayed { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn answer_to_one_challenge_does_not_finish_another() {
    let f = fixture().await;
    let mut phone = authenticator();
    register(&f, &mut phone, t0()).await;
    let (_first, answer) = browser_login(&f, &mut phone, &origin(), t0()).await;
    let (_options, second) = f.passkeys.start_login(t0()).await.unwrap();

    let err = refused(f.passkeys.finish_login(&second, &answer, t0()).await);
    assert!(
        matches!(
            err,
            PasskeyError::VerifyLogin(WebauthnError::MismatchedChallenge)
        ),
        "{err}"
    );
}

#[tokio::test]
async fn login_with_a_passkey_registered_elsewhere_is_refused() {
    let f = fixture().await;
    let mut phone = authenticator();
    register(&f, &mut phone, t0()).await;
    // A stranger's passkey for the same relying party id, on another instance.
    let elsewhere = fixture().await;
    let mut stranger = authenticator();
    let token = elsewhere.passkeys.setup_links().issue(t0()).await.unwrap();
    let (state, stranger_credential) =
        browser_registration(&elsewhere, &mut stranger, &token, &origin(), t0()).await;
    elsewhere
        .passkeys
        .finish_registration(&state, &stranger_credential, t0())
        .await
        .unwrap();

    // The stranger's client answers our challenge with its own credential.
    let (mut options, state) = f.passkeys.start_login(t0()).await.unwrap();
    options.public_key.allow_credentials[0].id = stranger_credential.raw_id.clone();
    let answer = sign(&mut stranger, &origin(), options);
    let err = refused(f.passkeys.finish_login(&state, &answer, t0()).await);
    assert!(
        matches!(err, PasskeyError::UnknownCredential { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn tampered_assertion_is_refused() {
    let f = fixture().await;
    let mut phone = authenticator();
    register(&f, &mut phone, t0()).await;

    type Tamper = fn(&mut PublicKeyCredential);
    let tamperings: [(&str, Tamper); 3] = [
        ("signature", |a| {
            let last = a.response.signature.len() - 1;
            a.response.signature[last] ^= 0x01;
        }),
        ("authenticator data", |a| {
            // The counter's low byte: a valid-looking, higher counter.
            let last = a.response.authenticator_data.len() - 1;
            a.response.authenticator_data[last] ^= 0x40;
        }),
        ("client data", |a| {
            // Same meaning, different bytes: only the signature can notice.
            let text = String::from_utf8(a.response.client_data_json.clone()).unwrap();
            a.response.client_data_json = text.replacen('{', "{ ", 1).into();
        }),
    ];
    for (what, tamper) in tamperings {
        let (state, mut answer) = browser_login(&f, &mut phone, &origin(), t0()).await;
        tamper(&mut answer);
        let err = refused(f.passkeys.finish_login(&state, &answer, t0()).await);
        assert!(matches!(err, PasskeyError::VerifyLogin(_)), "{what}: {err}");
    }
    login(&f, &mut phone, t0()).await.unwrap();
}

#[tokio::test]
async fn signature_counter_going_backwards_is_refused() {
    let f = fixture().await;
    let mut phone = authenticator();
    register(&f, &mut phone, t0()).await;
    // Two logins started together both carry the counter stored at their start.
    // The phone answers the first (counter 1), then the second (counter 2); once
    // the second is accepted, the first's counter is behind what is stored: what
    // a cloned authenticator's answer looks like.
    let (first_options, first) = f.passkeys.start_login(t0()).await.unwrap();
    let (second_options, second) = f.passkeys.start_login(t0()).await.unwrap();
    let stale = sign(&mut phone, &origin(), first_options);
    let fresh = sign(&mut phone, &origin(), second_options);
    f.passkeys
        .finish_login(&second, &fresh, t0())
        .await
        .unwrap();

    let err = refused(f.passkeys.finish_login(&first, &stale, t0()).await);
    assert!(
        matches!(err, PasskeyError::CounterRegressed { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn login_state_past_its_lifetime_is_refused() {
    let f = fixture().await;
    let mut phone = authenticator();
    register(&f, &mut phone, t0()).await;
    let (state, answer) = browser_login(&f, &mut phone, &origin(), t0()).await;
    assert_eq!(state.expires_at(), t0() + minutes(5));

    let late = t0() + minutes(5) + chrono::Duration::seconds(1);
    let err = refused(f.passkeys.finish_login(&state, &answer, late).await);
    assert!(matches!(err, PasskeyError::CeremonyExpired { .. }), "{err}");
}

#[tokio::test]
async fn login_state_from_the_future_is_refused() {
    let f = fixture().await;
    let mut phone = authenticator();
    register(&f, &mut phone, t0()).await;
    let (state, answer) = browser_login(&f, &mut phone, &origin(), t0() + minutes(10)).await;
    let err = refused(f.passkeys.finish_login(&state, &answer, t0()).await);
    assert!(matches!(err, PasskeyError::CeremonyExpired { .. }), "{err}");
}

#[tokio::test]
async fn removed_passkey_no_longer_logs_in() {
    let f = fixture().await;
    let mut phone = authenticator();
    let mut laptop = authenticator();
    let phone_info = register(&f, &mut phone, t0()).await;
    register(&f, &mut laptop, t0()).await;

    // Removed between the two halves of a login.
    let (state, answer) = browser_login(&f, &mut phone, &origin(), t0()).await;
    assert!(f.passkeys.remove(&phone_info.id).await.unwrap());
    let err = refused(f.passkeys.finish_login(&state, &answer, t0()).await);
    assert!(
        matches!(err, PasskeyError::UnknownCredential { .. }),
        "{err}"
    );

    // And no later login offers it.
    let (options, _state) = f.passkeys.start_login(t0()).await.unwrap();
    assert_eq!(options.public_key.allow_credentials.len(), 1);
    login(&f, &mut laptop, t0()).await.unwrap();
    assert!(!f.passkeys.remove(&phone_info.id).await.unwrap());
}

/// Two admins (or replicas) remove the owner's last two passkeys at the same
/// moment: removals take turns, so one passkey always stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_removals_never_remove_the_last_passkey() {
    use hardshell_auth::passkey::Removal;
    for _ in 0..5 {
        let f = fixture().await;
        let (mut phone, mut laptop) = (authenticator(), authenticator());
        let ids = [
            register(&f, &mut phone, t0()).await.id,
            register(&f, &mut laptop, t0()).await.id,
        ];
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let tasks: Vec<_> = ids
            .iter()
            .cloned()
            .map(|id| {
                let (passkeys, barrier) = (f.passkeys.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    passkeys.remove_unless_last(&id, t0()).await.unwrap()
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        let removed = outcomes.iter().filter(|o| **o == Removal::Removed).count();
        assert!(removed <= 1, "{outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Removal::Removed | Removal::Busy | Removal::Last)),
            "{outcomes:?}"
        );
        assert_eq!(
            f.passkeys.list().await.unwrap().len(),
            2 - removed,
            "{outcomes:?}"
        );
        // With the hold released, the one left is the last and stays.
        let left = f.passkeys.list().await.unwrap();
        if left.len() == 1 {
            assert_eq!(
                f.passkeys
                    .remove_unless_last(&left[0].id, t0())
                    .await
                    .unwrap(),
                Removal::Last
            );
        }
    }
}

/// A removal that died holding its turn does not block the owner for good:
/// the hold lapses after 30 seconds.
#[tokio::test]
async fn a_removals_hold_lapses_and_a_missing_passkey_is_not_found() {
    use hardshell_auth::passkey::{PasskeyId, Removal};
    let f = fixture().await;
    let (mut phone, mut laptop) = (authenticator(), authenticator());
    let phone_id = register(&f, &mut phone, t0()).await.id;
    register(&f, &mut laptop, t0()).await;
    let unknown = PasskeyId::parse(&"0".repeat(64)).unwrap();
    assert_eq!(
        f.passkeys.remove_unless_last(&unknown, t0()).await.unwrap(),
        Removal::NotFound
    );
    // What a removal that died at t0 leaves in the owner's record.
    let owner = hardshell_storage::ObjectKey::parse("auth/passkey/owner").unwrap();
    let root = f.store.root();
    let stored = root.get(&owner).await.unwrap().unwrap();
    let mut record: serde_json::Value = serde_json::from_slice(&stored.value).unwrap();
    record["removing"] = serde_json::json!(t0() + chrono::Duration::seconds(30));
    root.update(
        &owner,
        &serde_json::to_vec(&record).unwrap(),
        &stored.version,
    )
    .await
    .unwrap();
    let soon = t0() + chrono::Duration::seconds(10);
    assert_eq!(
        f.passkeys
            .remove_unless_last(&phone_id, soon)
            .await
            .unwrap(),
        Removal::Busy
    );
    assert_eq!(f.passkeys.list().await.unwrap().len(), 2);
    let later = t0() + chrono::Duration::seconds(31);
    assert_eq!(
        f.passkeys
            .remove_unless_last(&phone_id, later)
            .await
            .unwrap(),
        Removal::Removed
    );
    assert_eq!(f.passkeys.list().await.unwrap().len(), 1);
}

/// A removal on a store with no owner record (no passkey was ever added)
/// finds nothing and makes no record: the first registration makes it.
#[tokio::test]
async fn a_removal_before_any_passkey_finds_nothing_and_makes_no_owner() {
    use hardshell_auth::passkey::{PasskeyId, Removal};
    let f = fixture().await;
    let unknown = PasskeyId::parse(&"0".repeat(64)).unwrap();
    assert_eq!(
        f.passkeys.remove_unless_last(&unknown, t0()).await.unwrap(),
        Removal::NotFound
    );
    let owner = hardshell_storage::ObjectKey::parse("auth/passkey/owner").unwrap();
    assert!(f.store.root().get(&owner).await.unwrap().is_none());
}

/// Passkeys without the owner record they were made under (the record was
/// lost): a removal refuses, keeps every passkey, and makes no new owner.
#[tokio::test]
async fn a_removal_with_the_owner_record_lost_refuses_and_keeps_the_passkeys() {
    let f = fixture().await;
    let (mut phone, mut laptop) = (authenticator(), authenticator());
    let phone_id = register(&f, &mut phone, t0()).await.id;
    register(&f, &mut laptop, t0()).await;
    let owner = hardshell_storage::ObjectKey::parse("auth/passkey/owner").unwrap();
    f.store.root().delete(&owner).await.unwrap();
    let err = f
        .passkeys
        .remove_unless_last(&phone_id, t0())
        .await
        .unwrap_err();
    assert!(
        matches!(err, PasskeyError::Corrupt { .. }) && err.to_string().contains("owner record"),
        "{err}"
    );
    assert_eq!(f.passkeys.list().await.unwrap().len(), 2);
    assert!(f.store.root().get(&owner).await.unwrap().is_none());
}
