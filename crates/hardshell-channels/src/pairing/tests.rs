use chrono::TimeZone;
use hardshell_testkit::TestStore;

use super::*;

fn at(minute: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0)
        .single()
        .unwrap_or_default()
        + Duration::minutes(minute)
}

fn telegram(id: u64) -> Sender {
    Sender::parse(Platform::Telegram, &id.to_string()).unwrap()
}

async fn pairings() -> (TestStore, Pairings) {
    let store = TestStore::new().await;
    let pairings = Pairings::new(store.scope("channels/pairing"));
    (store, pairings)
}

fn code(request: Request) -> Code {
    match request {
        Request::Code(code) => code,
        Request::Quiet => panic!("expected a code"),
    }
}

#[tokio::test]
async fn an_approved_code_pairs_its_sender_with_the_role_given() {
    let (_store, pairings) = pairings().await;
    let alice = telegram(555);
    assert_eq!(pairings.paired(&alice).await.unwrap(), None);
    let issued = code(pairings.request(&alice, at(0)).await.unwrap());
    assert_eq!(issued.expose().len(), CODE_LENGTH);
    assert!(issued.expose().bytes().all(|b| ALPHABET.contains(&b)));

    // Typed by the owner in lower case with a dash: the same code.
    let typed = format!(
        "{}-{}",
        &issued.expose()[..4].to_ascii_lowercase(),
        &issued.expose()[4..]
    );
    let pairing = pairings
        .approve(&Code::typed(&typed), ChannelRole::Guest, at(5))
        .await
        .unwrap();
    assert_eq!(pairing.sender, alice);
    assert_eq!(pairing.subject(), "telegram:555");
    assert_eq!(pairings.paired(&alice).await.unwrap(), Some(pairing));

    // Used once.
    let again = pairings.approve(&issued, ChannelRole::Owner, at(6)).await;
    assert!(matches!(again, Err(PairingError::UnknownCode)));
}

#[tokio::test]
async fn a_wrong_or_expired_code_pairs_nobody() {
    let (_store, pairings) = pairings().await;
    let alice = telegram(555);
    let issued = code(pairings.request(&alice, at(0)).await.unwrap());
    let mut wrong = issued.expose().as_bytes().to_vec();
    wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
    let wrong = Code(String::from_utf8(wrong).unwrap());
    assert!(matches!(
        pairings.approve(&wrong, ChannelRole::Owner, at(1)).await,
        Err(PairingError::UnknownCode)
    ));
    assert!(matches!(
        pairings.approve(&issued, ChannelRole::Owner, at(61)).await,
        Err(PairingError::UnknownCode)
    ));
    assert_eq!(pairings.paired(&alice).await.unwrap(), None);
}

#[tokio::test]
async fn a_sender_keeps_one_code_and_is_told_it_rarely() {
    let (_store, pairings) = pairings().await;
    let alice = telegram(555);
    let first = code(pairings.request(&alice, at(0)).await.unwrap());
    // Asking again at once: silence, not a second message.
    assert_eq!(
        pairings.request(&alice, at(1)).await.unwrap(),
        Request::Quiet
    );
    // Later: the same code again.
    let again = code(pairings.request(&alice, at(11)).await.unwrap());
    assert_eq!(again, first);
    // After it expired: a new code; the old one approves nothing.
    let next = code(pairings.request(&alice, at(61)).await.unwrap());
    assert_ne!(next, first);
    assert!(
        pairings
            .approve(&first, ChannelRole::Guest, at(62))
            .await
            .is_err()
    );
    let (_, pending) = pairings.list(at(62)).await.unwrap();
    assert_eq!(pending.len(), 1);
}

#[tokio::test]
async fn a_flood_of_strangers_cannot_keep_the_owner_from_pairing() {
    let (_store, pairings) = pairings().await;
    for stranger in 1000..1000 + 3 * MAX_PENDING as u64 {
        code(pairings.request(&telegram(stranger), at(0)).await.unwrap());
    }
    let owner = telegram(42);
    let issued = code(pairings.request(&owner, at(1)).await.unwrap());
    let (_, pending) = pairings.list(at(1)).await.unwrap();
    assert_eq!(pending.len(), MAX_PENDING);
    let pairing = pairings
        .approve(&issued, ChannelRole::Owner, at(2))
        .await
        .unwrap();
    assert_eq!(pairing.subject(), OWNER_SUBJECT);
}

#[tokio::test]
async fn a_revoked_sender_is_no_longer_paired_and_must_ask_again() {
    let (_store, pairings) = pairings().await;
    let alice = telegram(555);
    let issued = code(pairings.request(&alice, at(0)).await.unwrap());
    pairings
        .approve(&issued, ChannelRole::Guest, at(1))
        .await
        .unwrap();
    // A paired sender is never given a code.
    assert_eq!(
        pairings.request(&alice, at(30)).await.unwrap(),
        Request::Quiet
    );
    let revoked = pairings.revoke(&alice).await.unwrap();
    assert_eq!(revoked.map(|p| p.sender), Some(alice.clone()));
    assert_eq!(pairings.paired(&alice).await.unwrap(), None);
    assert_eq!(pairings.revoke(&alice).await.unwrap(), None);
    // The old code is spent; asking again gives a new one.
    assert!(
        pairings
            .approve(&issued, ChannelRole::Guest, at(31))
            .await
            .is_err()
    );
    let fresh = code(pairings.request(&alice, at(31)).await.unwrap());
    assert_ne!(fresh, issued);
}

#[tokio::test]
async fn platforms_are_kept_apart_and_a_record_naming_another_is_refused() {
    let (store, pairings) = pairings().await;
    let discord = Sender::parse(Platform::Discord, "555").unwrap();
    let issued = code(pairings.request(&discord, at(0)).await.unwrap());
    pairings
        .approve(&issued, ChannelRole::Guest, at(1))
        .await
        .unwrap();
    assert_eq!(pairings.paired(&telegram(555)).await.unwrap(), None);

    // Someone with the store's key writes Discord's pairing into Telegram's record.
    let scope = store.scope("channels/pairing");
    let key = ObjectKey::parse("discord.json").unwrap();
    let discords = scope.get(&key).await.unwrap().unwrap().value;
    let telegram_key = ObjectKey::parse("telegram.json").unwrap();
    scope.put(&telegram_key, &discords).await.unwrap();
    assert!(matches!(
        pairings.paired(&telegram(555)).await,
        Err(PairingError::Unreadable { .. })
    ));
}

#[tokio::test]
async fn concurrent_requests_all_keep_their_codes() {
    let (_store, pairings) = pairings().await;
    let requests = (1..=20).map(|id| {
        let pairings = pairings.clone();
        async move { code(pairings.request(&telegram(id), at(0)).await.unwrap()) }
    });
    let codes = futures::future::join_all(requests).await;
    for (code, id) in codes.iter().zip(1..) {
        let pairing = pairings
            .approve(code, ChannelRole::Guest, at(1))
            .await
            .unwrap();
        assert_eq!(pairing.sender, telegram(id));
    }
}

#[test]
fn a_code_is_never_shown_by_debug() {
    let code = Code("ABCDEFGH".into());
    assert!(!format!("{code:?}").contains("ABCDEFGH"));
    assert!(!format!("{:?}", Request::Code(code)).contains("ABCDEFGH"));
}

#[tokio::test]
async fn the_owner_can_pair_a_sender_by_id_and_change_its_role() {
    let (_store, pairings) = pairings().await;
    let alice = telegram(555);
    let pending = code(pairings.request(&alice, at(0)).await.unwrap());
    let added = pairings
        .add(&alice, ChannelRole::Owner, at(1))
        .await
        .unwrap();
    assert_eq!(added.subject(), OWNER_SUBJECT);
    // Its request is gone with it.
    assert!(
        pairings
            .approve(&pending, ChannelRole::Guest, at(2))
            .await
            .is_err()
    );
    pairings
        .add(&alice, ChannelRole::Guest, at(3))
        .await
        .unwrap();
    let (paired, _) = pairings.list(at(3)).await.unwrap();
    assert_eq!(paired.len(), 1);
    assert_eq!(paired[0].role, ChannelRole::Guest);
}
