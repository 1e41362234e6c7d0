use chrono::TimeZone;

use futures::FutureExt as _;

use super::*;
use crate::Method;
use hardshell_testkit::TestStore;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
}

fn owner() -> Principal {
    Principal {
        subject: "owner".into(),
        email: None,
        groups: vec![],
        method: Method::Passkey,
        authenticated_at: now(),
        token_scope: None,
    }
}

async fn store(t: &TestStore) -> SessionStore {
    SessionStore::new(t.scope("sessions"), Duration::from_secs(12 * 3600))
}

#[tokio::test]
async fn a_session_resolves_to_its_principal() {
    let t = TestStore::new().await;
    let sessions = store(&t).await;
    let id = sessions.create(owner(), now()).await.unwrap();
    let resolved = sessions.resolve(id.expose(), now()).await.unwrap();
    assert_eq!(resolved.principal, owner());
    assert!(resolved.rotated_to.is_none());
    assert!(!format!("{id:?}").contains(id.expose()));
}

#[tokio::test]
async fn unknown_and_malformed_cookies_are_refused() {
    let t = TestStore::new().await;
    let sessions = store(&t).await;
    sessions.create(owner(), now()).await.unwrap();
    for cookie in ["", "x", "../secrets/KEY", &"A".repeat(43)] {
        assert!(
            matches!(
                sessions.resolve(cookie, now()).await,
                Err(SessionError::Unknown)
            ),
            "{cookie}"
        );
    }
}

#[tokio::test]
async fn sessions_end_at_their_absolute_expiry() {
    let t = TestStore::new().await;
    let sessions = store(&t).await;
    let id = sessions.create(owner(), now()).await.unwrap();
    let mut cookie = id.expose().to_owned();
    // Follow rotations through the day, as a browser would.
    let mut at = now();
    while at < now() + chrono::Duration::hours(11) {
        at += chrono::Duration::minutes(20);
        let resolved = sessions.resolve(&cookie, at).await.unwrap();
        if let Some(new) = resolved.rotated_to {
            cookie = new.expose().to_owned();
        }
    }
    let at_expiry = now() + chrono::Duration::hours(12);
    assert!(matches!(
        sessions.resolve(&cookie, at_expiry).await,
        Err(SessionError::Expired)
    ));
}

#[tokio::test]
async fn rotation_issues_a_new_id_and_retires_the_old_after_a_grace() {
    let t = TestStore::new().await;
    let sessions = store(&t).await;
    let old = sessions.create(owner(), now()).await.unwrap();
    let due = now() + chrono::Duration::minutes(16);
    let new = sessions
        .resolve(old.expose(), due)
        .await
        .unwrap()
        .rotated_to
        .unwrap();
    assert_ne!(new.expose(), old.expose());
    assert_eq!(
        sessions.resolve(new.expose(), due).await.unwrap().principal,
        owner()
    );
    // In-flight requests with the old cookie still pass within the grace...
    let during = due + chrono::Duration::seconds(30);
    let resolved = sessions.resolve(old.expose(), during).await.unwrap();
    assert!(resolved.rotated_to.is_none());
    // ...and fail after it.
    let after = due + chrono::Duration::seconds(61);
    assert!(matches!(
        sessions.resolve(old.expose(), after).await,
        Err(SessionError::Replaced)
    ));
    assert!(sessions.resolve(new.expose(), after).await.is_ok());
}

#[tokio::test]
async fn concurrent_rotation_issues_exactly_one_successor() {
    let t = TestStore::new().await;
    let sessions = store(&t).await;
    let old = sessions.create(owner(), now()).await.unwrap();
    let due = now() + chrono::Duration::minutes(16);
    let (a, b) = tokio::join!(
        sessions.resolve(old.expose(), due),
        sessions.resolve(old.expose(), due)
    );
    let rotated = [a.unwrap(), b.unwrap()]
        .into_iter()
        .filter(|r| r.rotated_to.is_some())
        .count();
    assert_eq!(rotated, 1);
    // The old record and one live successor: no orphan left behind.
    assert_eq!(t.scope("sessions").list().await.unwrap().len(), 2);
}

#[tokio::test]
async fn logout_revokes_the_session_and_its_successor() {
    let t = TestStore::new().await;
    let sessions = store(&t).await;
    let old = sessions.create(owner(), now()).await.unwrap();
    let due = now() + chrono::Duration::minutes(16);
    let new = sessions
        .resolve(old.expose(), due)
        .await
        .unwrap()
        .rotated_to
        .unwrap();
    assert_eq!(sessions.revoke(old.expose()).await.unwrap(), Some(owner()));
    assert!(matches!(
        sessions.resolve(old.expose(), due).await,
        Err(SessionError::Unknown)
    ));
    assert!(matches!(
        sessions.resolve(new.expose(), due).await,
        Err(SessionError::Unknown)
    ));
    assert!(t.scope("sessions").list().await.unwrap().is_empty());
    assert_eq!(sessions.revoke("not-a-session").await.unwrap(), None);
}

#[tokio::test]
async fn the_store_holds_no_usable_cookie() {
    let t = TestStore::new().await;
    let sessions = store(&t).await;
    let id = sessions.create(owner(), now()).await.unwrap();
    for entry in t.scope("sessions").list().await.unwrap() {
        assert_ne!(entry.key.as_str(), id.expose());
        let value = t.scope("sessions").get(&entry.key).await.unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&value.value).contains(id.expose()));
    }
}

/// The red team's finding: logout with the newest cookie left the rotated
/// predecessor working for the rest of its 60-second grace.
#[tokio::test]
async fn logout_with_the_new_cookie_also_ends_the_predecessor_in_its_grace() {
    let t = TestStore::new().await;
    let sessions = store(&t).await;
    let old = sessions.create(owner(), now()).await.unwrap();
    let due = now() + chrono::Duration::minutes(16);
    let new = sessions
        .resolve(old.expose(), due)
        .await
        .unwrap()
        .rotated_to
        .unwrap();
    let ended = sessions.revoke(new.expose()).await.unwrap();
    assert_eq!(ended, Some(owner()));
    let within_grace = due + chrono::Duration::seconds(10);
    assert!(matches!(
        sessions.resolve(old.expose(), within_grace).await,
        Err(SessionError::Unknown)
    ));
    assert!(t.scope("sessions").list().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_admin_lists_chains_by_a_handle_that_is_not_the_cookie_and_ends_one() {
    let t = TestStore::new().await;
    let sessions = store(&t).await;
    let mut phone = owner();
    phone.subject = "phone-login".into();
    let first = sessions.create(owner(), now()).await.unwrap();
    let second = sessions.create(phone.clone(), now()).await.unwrap();
    // Rotating the first leaves one chain of two links: listed once.
    let due = now() + chrono::Duration::minutes(16);
    let rotated = sessions
        .resolve(first.expose(), due)
        .await
        .unwrap()
        .rotated_to
        .unwrap();
    let listed = sessions.list(due).await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    for shown in &listed {
        let text = serde_json::to_string(shown).unwrap();
        for cookie in [first.expose(), second.expose(), rotated.expose()] {
            assert!(!text.contains(cookie), "{text}");
            assert!(!text.contains(&random::digest_hex(cookie)), "{text}");
        }
    }
    let phone_id = listed
        .iter()
        .find(|shown| shown.subject == "phone-login")
        .unwrap()
        .id
        .clone();
    // The handle is no cookie.
    assert!(matches!(
        sessions.resolve(phone_id.as_str(), due).await,
        Err(SessionError::Unknown)
    ));
    assert_eq!(
        sessions.revoke_handle(phone_id.as_str()).await.unwrap(),
        Some(phone)
    );
    assert!(matches!(
        sessions.resolve(second.expose(), due).await,
        Err(SessionError::Unknown)
    ));
    assert!(sessions.resolve(rotated.expose(), due).await.is_ok());
    let left = sessions.list(due).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].subject, "owner");
    assert_eq!(
        sessions.revoke_handle("0123456789abcdef").await.unwrap(),
        None
    );
}

/// For item 13: a WebSocket opened with a session must learn when it ends.
#[tokio::test]
async fn logout_and_an_admin_ending_a_session_are_announced_by_handle() {
    let t = TestStore::new().await;
    let feed = crate::RevocationFeed::new();
    let sessions = store(&t).await.announcing_to(feed.clone());
    let cookie = sessions.create(owner(), now()).await.unwrap();
    let other = sessions.create(owner(), now()).await.unwrap();
    let handle = sessions
        .resolve(cookie.expose(), now())
        .await
        .unwrap()
        .handle;
    let other_handle = sessions
        .resolve(other.expose(), now())
        .await
        .unwrap()
        .handle;
    assert_ne!(handle, other_handle);
    let mut watch = feed.watch(crate::Revoked::Session(handle.clone()));
    let mut other_watch = feed.watch(crate::Revoked::Session(other_handle.clone()));
    sessions.revoke(cookie.expose()).await.unwrap();
    assert!(watch.ended().now_or_never().is_some());
    assert!(other_watch.ended().now_or_never().is_none());
    sessions.revoke_handle(other_handle.as_str()).await.unwrap();
    assert!(other_watch.ended().now_or_never().is_some());
}

#[tokio::test]
async fn a_rotated_session_keeps_its_handle() {
    let t = TestStore::new().await;
    let sessions = store(&t).await;
    let old = sessions.create(owner(), now()).await.unwrap();
    let first = sessions.resolve(old.expose(), now()).await.unwrap();
    let due = now() + chrono::Duration::minutes(16);
    let rotated = sessions.resolve(old.expose(), due).await.unwrap();
    let new = rotated.rotated_to.unwrap();
    assert_eq!(rotated.handle, first.handle);
    let after = sessions.resolve(new.expose(), due).await.unwrap();
    assert_eq!(after.handle, first.handle);
}
