use chrono::TimeZone;
use hardshell_testkit::TestStore;

use super::*;
use crate::Method;

const APP: &str = "app.agent.example.com";
/// What the upstream's host gave the browser that asked for the code.
const STATE: &str = "0123456789abcdef0123456789abcdef";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, 6, 0, 0).unwrap()
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

struct Setup {
    sessions: SessionStore,
    handoffs: Handoffs,
    _store: TestStore,
}

async fn setup() -> Setup {
    let store = TestStore::new().await;
    let sessions = SessionStore::new(store.scope("sessions"), Duration::from_secs(3600));
    let handoffs = Handoffs::new(
        Ephemeral::new(store.scope("pending"), "handoff", 10),
        sessions.clone(),
    );
    Setup {
        sessions,
        handoffs,
        _store: store,
    }
}

/// The owner's edge session, and a code minted for it on `APP`.
async fn minted(s: &Setup) -> (SessionId, HandoffCode) {
    let parent = s.sessions.create(owner(), now()).await.unwrap();
    let resolved = s.sessions.resolve(parent.expose(), now()).await.unwrap();
    let code = s
        .handoffs
        .mint(
            &owner(),
            &resolved.handle,
            resolved.expires_at,
            APP,
            STATE,
            now(),
        )
        .await
        .unwrap();
    (parent, code)
}

#[tokio::test]
async fn a_code_becomes_a_session_valid_only_on_its_host() {
    let s = setup().await;
    let (parent, code) = minted(&s).await;
    assert!(!format!("{code:?}").contains(code.expose()));
    let child = s
        .handoffs
        .redeem(code.expose(), APP, Some(STATE), now())
        .await
        .unwrap();
    let on_app = s
        .sessions
        .resolve_for(child.id.expose(), Some(APP), now())
        .await
        .unwrap();
    assert_eq!(on_app.principal, owner());
    let parent_on_edge = s.sessions.resolve(parent.expose(), now()).await.unwrap();
    assert_eq!(on_app.handle, parent_on_edge.handle);
    assert_eq!(child.expires_at, parent_on_edge.expires_at);
    // The child is not the edge's session, nor another host's; the edge's
    // session is not the upstream host's.
    assert!(matches!(
        s.sessions.resolve(child.id.expose(), now()).await,
        Err(SessionError::Unknown)
    ));
    assert!(matches!(
        s.sessions
            .resolve_for(child.id.expose(), Some("other.agent.example.com"), now())
            .await,
        Err(SessionError::Unknown)
    ));
    assert!(matches!(
        s.sessions
            .resolve_for(parent.expose(), Some(APP), now())
            .await,
        Err(SessionError::Unknown)
    ));
}

#[tokio::test]
async fn a_code_is_single_use_short_lived_and_bound_to_its_host() {
    let s = setup().await;
    let (_, code) = minted(&s).await;
    s.handoffs
        .redeem(code.expose(), APP, Some(STATE), now())
        .await
        .unwrap();
    let replayed = s
        .handoffs
        .redeem(code.expose(), APP, Some(STATE), now())
        .await
        .unwrap_err();
    assert!(replayed.is_refusal(), "{replayed}");

    let (_, code) = minted(&s).await;
    let late = now() + chrono::Duration::from_std(HANDOFF_TTL).unwrap();
    let expired = s
        .handoffs
        .redeem(code.expose(), APP, Some(STATE), late)
        .await
        .unwrap_err();
    assert!(
        matches!(
            expired,
            HandoffError::Pending(EphemeralError::Missing { .. })
        ),
        "{expired}"
    );

    let (_, code) = minted(&s).await;
    let elsewhere = s
        .handoffs
        .redeem(code.expose(), "evil.agent.example.com", Some(STATE), now())
        .await
        .unwrap_err();
    assert!(matches!(elsewhere, HandoffError::OtherHost), "{elsewhere}");
    // Spent by the attempt: not redeemable on its own host afterwards either.
    assert!(
        s.handoffs
            .redeem(code.expose(), APP, Some(STATE), now())
            .await
            .is_err()
    );

    for made_up in ["", "x", "9999999999.AAAA", "../sessions/x"] {
        assert!(
            s.handoffs
                .redeem(made_up, APP, Some(STATE), now())
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn logging_out_ends_the_handed_over_session() {
    let s = setup().await;
    let (parent, code) = minted(&s).await;
    let child = s
        .handoffs
        .redeem(code.expose(), APP, Some(STATE), now())
        .await
        .unwrap();
    s.sessions.revoke(parent.expose()).await.unwrap();
    assert!(matches!(
        s.sessions
            .resolve_for(child.id.expose(), Some(APP), now())
            .await,
        Err(SessionError::Unknown)
    ));
}

#[tokio::test]
async fn an_admin_ending_the_chain_ends_the_handed_over_session() {
    let s = setup().await;
    let (parent, code) = minted(&s).await;
    let child = s
        .handoffs
        .redeem(code.expose(), APP, Some(STATE), now())
        .await
        .unwrap();
    let handle = s
        .sessions
        .resolve(parent.expose(), now())
        .await
        .unwrap()
        .handle;
    // One chain in the listing, child or not.
    assert_eq!(s.sessions.list(now()).await.unwrap().len(), 1);
    s.sessions.revoke_handle(handle.as_str()).await.unwrap();
    assert!(
        s.sessions
            .resolve_for(child.id.expose(), Some(APP), now())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_code_for_an_ended_session_starts_nothing() {
    let s = setup().await;
    let (parent, code) = minted(&s).await;
    s.sessions.revoke(parent.expose()).await.unwrap();
    let refused = s
        .handoffs
        .redeem(code.expose(), APP, Some(STATE), now())
        .await
        .unwrap_err();
    assert!(refused.is_refusal(), "{refused}");
    assert!(s.sessions.list(now()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_handed_over_session_rotates_on_its_own_host_and_ends_with_its_parent() {
    let s = setup().await;
    let (parent, code) = minted(&s).await;
    let child = s
        .handoffs
        .redeem(code.expose(), APP, Some(STATE), now())
        .await
        .unwrap();
    let later = now() + chrono::Duration::minutes(20);
    let rotated = s
        .sessions
        .resolve_for(child.id.expose(), Some(APP), later)
        .await
        .unwrap()
        .rotated_to
        .expect("due for rotation");
    assert!(
        s.sessions
            .resolve_for(rotated.expose(), Some(APP), later)
            .await
            .is_ok()
    );
    assert!(s.sessions.resolve(rotated.expose(), later).await.is_err());
    s.sessions.revoke(parent.expose()).await.unwrap();
    assert!(
        s.sessions
            .resolve_for(rotated.expose(), Some(APP), later)
            .await
            .is_err()
    );
    let past_end = now() + chrono::Duration::hours(2);
    assert!(
        s.sessions
            .resolve_for(child.id.expose(), Some(APP), past_end)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_code_is_redeemed_only_by_the_browser_that_asked_for_it() {
    let s = setup().await;
    for other in [None, Some(""), Some("fedcba9876543210fedcba9876543210")] {
        let (_, code) = minted(&s).await;
        let refused = s
            .handoffs
            .redeem(code.expose(), APP, other, now())
            .await
            .unwrap_err();
        assert!(
            matches!(refused, HandoffError::OtherBrowser),
            "{other:?}: {refused}"
        );
        // Spent by the attempt.
        assert!(
            s.handoffs
                .redeem(code.expose(), APP, Some(STATE), now())
                .await
                .is_err()
        );
    }
}
