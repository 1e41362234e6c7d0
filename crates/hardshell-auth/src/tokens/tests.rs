use std::time::Duration;

use chrono::{TimeZone, Utc};

use futures::FutureExt as _;

use super::*;
use hardshell_testkit::TestStore;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
}

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test]
async fn a_created_token_verifies_with_its_scope() {
    let t = TestStore::new().await;
    let tokens = TokenStore::new(t.scope("tokens"));
    let (record, token) = tokens
        .create("laptop cli", TokenScope::Chat, DAY, now())
        .await
        .unwrap();
    assert!(token.expose().starts_with("hs_tok_"));
    let principal = tokens.verify(token.expose(), now()).await.unwrap();
    assert_eq!(principal.method, Method::ApiToken);
    assert_eq!(principal.token_scope, Some(TokenScope::Chat));
    assert_eq!(principal.subject, format!("token:{}", record.id));
}

#[tokio::test]
async fn a_browser_token_is_stored_and_verified_with_the_browser_scope() {
    let t = TestStore::new().await;
    let tokens = TokenStore::new(t.scope("tokens"));
    let (record, token) = tokens
        .create("playwright", TokenScope::Browser, DAY, now())
        .await
        .unwrap();
    let stored = t
        .scope("tokens")
        .get(&key(&record.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    let stored = String::from_utf8(stored.value.to_vec()).unwrap();
    assert!(stored.contains(r#""scope":"browser""#), "{stored}");
    let principal = tokens.verify(token.expose(), now()).await.unwrap();
    assert_eq!(principal.token_scope, Some(TokenScope::Browser));
    assert_eq!(tokens.list().await.unwrap()[0].scope, TokenScope::Browser);
}

#[tokio::test]
async fn the_secret_is_stored_only_as_a_hash_and_never_shown() {
    let t = TestStore::new().await;
    let tokens = TokenStore::new(t.scope("tokens"));
    let (record, token) = tokens
        .create("ci", TokenScope::Admin, DAY, now())
        .await
        .unwrap();
    let secret = token.expose().rsplit('_').next().unwrap().to_owned();
    let stored = t
        .scope("tokens")
        .get(&key(&record.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    let stored = String::from_utf8(stored.value.to_vec()).unwrap();
    assert!(!stored.contains(&secret), "{stored}");
    let shown = format!("{token:?} {record:?} {:?}", tokens.list().await.unwrap());
    assert!(!shown.contains(&secret), "{shown}");
}

#[tokio::test]
async fn wrong_secret_malformed_and_unknown_tokens_are_refused() {
    let t = TestStore::new().await;
    let tokens = TokenStore::new(t.scope("tokens"));
    let (record, token) = tokens
        .create("x", TokenScope::Chat, DAY, now())
        .await
        .unwrap();
    let mut wrong = token.expose().to_owned();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'A' { 'B' } else { 'A' });
    assert!(matches!(
        tokens.verify(&wrong, now()).await,
        Err(TokenError::WrongSecret { .. })
    ));
    let other_id = token.expose().replace(&record.id, "0123456789abcdef");
    assert!(matches!(
        tokens.verify(&other_id, now()).await,
        Err(TokenError::Unknown { .. })
    ));
    for malformed in [
        "",
        "hs_tok_",
        "Bearer x",
        "hs_tok_../../secrets_x",
        &format!("hs_tok_{}_short", record.id),
        &token.expose().to_uppercase(),
        &format!("{}x", token.expose()),
    ] {
        assert!(
            matches!(
                tokens.verify(malformed, now()).await,
                Err(TokenError::Malformed)
            ),
            "{malformed}"
        );
    }
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let t = TestStore::new().await;
    let tokens = TokenStore::new(t.scope("tokens"));
    let (_, token) = tokens
        .create("x", TokenScope::Chat, DAY, now())
        .await
        .unwrap();
    let later = now() + chrono::Duration::days(1);
    assert!(
        tokens
            .verify(token.expose(), later - chrono::Duration::seconds(1))
            .await
            .is_ok()
    );
    assert!(matches!(
        tokens.verify(token.expose(), later).await,
        Err(TokenError::Expired { .. })
    ));
}

#[tokio::test]
async fn revocation_takes_effect_at_once_and_is_kept_on_record() {
    let t = TestStore::new().await;
    let tokens = TokenStore::new(t.scope("tokens"));
    let (record, token) = tokens
        .create("x", TokenScope::Admin, DAY, now())
        .await
        .unwrap();
    tokens.verify(token.expose(), now()).await.unwrap(); // now cached
    let revoked = tokens.revoke(&record.id, now()).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(now()));
    assert!(matches!(
        tokens.verify(token.expose(), now()).await,
        Err(TokenError::Revoked { .. })
    ));
    assert_eq!(tokens.list().await.unwrap()[0].revoked_at, Some(now()));
    assert!(
        tokens
            .revoke("0123456789abcdef", now())
            .await
            .unwrap()
            .is_none()
    );
    assert!(tokens.revoke("../tokens", now()).await.unwrap().is_none());
}

#[tokio::test]
async fn another_replica_sees_a_revocation_after_the_cache_ttl() {
    let t = TestStore::new().await;
    let here = TokenStore::new(t.scope("tokens"));
    let there = TokenStore::new(t.scope("tokens"));
    let (record, token) = here
        .create("x", TokenScope::Chat, DAY, now())
        .await
        .unwrap();
    there.verify(token.expose(), now()).await.unwrap();
    here.revoke(&record.id, now()).await.unwrap();
    // Within the TTL the other replica may still accept it; past it, never.
    if let Ok(mut cache) = there.cache.lock() {
        for (_, at) in cache.values_mut() {
            *at -= CACHE_TTL;
        }
    }
    assert!(matches!(
        there.verify(token.expose(), now()).await,
        Err(TokenError::Revoked { .. })
    ));
}

#[tokio::test]
async fn names_and_lifetimes_are_checked() {
    let t = TestStore::new().await;
    let tokens = TokenStore::new(t.scope("tokens"));
    for bad in ["", "a/b", "x\ny", &"n".repeat(65)] {
        assert!(matches!(
            tokens.create(bad, TokenScope::Chat, DAY, now()).await,
            Err(TokenError::InvalidName { .. })
        ));
    }
    for bad in [Duration::from_secs(1), MAX_TTL + DAY] {
        assert!(matches!(
            tokens.create("x", TokenScope::Chat, bad, now()).await,
            Err(TokenError::InvalidLifetime)
        ));
    }
    assert!(tokens.list().await.unwrap().is_empty());
}

/// For item 13: a WebSocket opened with a token must learn when it is revoked.
#[tokio::test]
async fn a_revocation_is_announced_by_token_id() {
    let t = TestStore::new().await;
    let feed = crate::RevocationFeed::new();
    let tokens = TokenStore::new(t.scope("tokens")).announcing_to(feed.clone());
    let (record, _) = tokens
        .create("cli", TokenScope::Chat, DAY, now())
        .await
        .unwrap();
    let (other, _) = tokens
        .create("ci", TokenScope::Chat, DAY, now())
        .await
        .unwrap();
    let mut watch = feed.watch(crate::Revoked::Token(record.id.clone()));
    let mut other_watch = feed.watch(crate::Revoked::Token(other.id.clone()));
    tokens.revoke(&record.id, now()).await.unwrap();
    assert!(watch.ended().now_or_never().is_some());
    assert!(other_watch.ended().now_or_never().is_none());
    // An unknown id announces nothing.
    tokens.revoke("0123456789abcdef", now()).await.unwrap();
    assert!(other_watch.ended().now_or_never().is_none());
}

/// The stored record of the one token in `t`'s `tokens` scope.
async fn stored(t: &TestStore) -> TokenRecord {
    let tokens = TokenStore::new(t.scope("tokens"));
    tokens.list().await.unwrap().remove(0)
}

#[tokio::test]
async fn a_tokens_last_use_is_written_once_a_day() {
    let t = TestStore::new().await;
    let tokens = TokenStore::new(t.scope("tokens"));
    let (_, token) = tokens
        .create("ci", TokenScope::Chat, 30 * DAY, now())
        .await
        .unwrap();
    assert_eq!(stored(&t).await.last_used_at, None);
    tokens.verify(token.expose(), now()).await.unwrap();
    assert_eq!(stored(&t).await.last_used_at, Some(now()));
    let version = |t: &TestStore| {
        let scope = t.scope("tokens");
        async move {
            let entry = scope.list().await.unwrap().remove(0);
            scope.get(&entry.key).await.unwrap().unwrap().version
        }
    };
    let before = version(&t).await;
    // Later the same day: nothing written, from this replica or another.
    let later = now() + chrono::TimeDelta::hours(23);
    tokens.verify(token.expose(), later).await.unwrap();
    TokenStore::new(t.scope("tokens"))
        .verify(token.expose(), later)
        .await
        .unwrap();
    assert_eq!(version(&t).await, before);
    assert_eq!(stored(&t).await.last_used_at, Some(now()));
    // A day on, it is written again; a refused token is not a use.
    let next = now() + chrono::TimeDelta::days(2);
    tokens.verify(token.expose(), next).await.unwrap();
    assert_eq!(stored(&t).await.last_used_at, Some(next));
    let wrong = format!("{}x", &token.expose()[..token.expose().len() - 1]);
    assert!(
        tokens
            .verify(&wrong, next + chrono::TimeDelta::days(3))
            .await
            .is_err()
    );
    assert_eq!(stored(&t).await.last_used_at, Some(next));
}

#[tokio::test]
async fn a_record_from_before_last_use_was_kept_still_verifies_and_revokes() {
    let t = TestStore::new().await;
    let tokens = TokenStore::new(t.scope("tokens"));
    let (record, token) = tokens
        .create("old", TokenScope::Chat, DAY, now())
        .await
        .unwrap();
    // As an older hardshell wrote it: no last_used_at field at all.
    let scope = t.scope("tokens");
    let key = key(&record.id).unwrap();
    let text = String::from_utf8(scope.get(&key).await.unwrap().unwrap().value.to_vec()).unwrap();
    assert!(!text.contains("last_used_at"), "{text}");
    tokens.verify(token.expose(), now()).await.unwrap();
    let revoked = tokens.revoke(&record.id, now()).await.unwrap().unwrap();
    assert_eq!(revoked.last_used_at, Some(now()), "kept by the revocation");
}
