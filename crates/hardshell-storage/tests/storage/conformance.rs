//! The same behaviour from every backend: the local directory, SeaweedFS and moto.
//! Each check is a plain async fn; the macro at the bottom runs it on all three.

use std::sync::Arc;

use bytes::Bytes;
use hardshell_storage::envelope::EnvelopeError;
use hardshell_storage::{MasterKey, Modification, Sealing, StorageError};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use tokio::sync::Barrier;

use crate::support::{Backend, TestStore, key};

async fn round_trip_and_missing(backend: Backend) {
    let t = TestStore::new(backend).await;
    let root = t.open().await.root();
    assert!(root.get(&key("nothing/here")).await.unwrap().is_none());
    root.put(&key("notes/today.md"), b"buy milk").await.unwrap();
    let got = root.get(&key("notes/today.md")).await.unwrap().unwrap();
    assert_eq!(got.value.as_slice(), b"buy milk");
    root.put(&key("notes/today.md"), b"buy bread")
        .await
        .unwrap();
    let got = root.get(&key("notes/today.md")).await.unwrap().unwrap();
    assert_eq!(got.value.as_slice(), b"buy bread");
    root.delete(&key("notes/today.md")).await.unwrap();
    assert!(root.get(&key("notes/today.md")).await.unwrap().is_none());
    // Deleting what is gone is not an error.
    root.delete(&key("notes/today.md")).await.unwrap();
}

async fn objects_are_sealed_at_rest(backend: Backend) {
    let t = TestStore::new(backend).await;
    let root = t.open().await.root();
    root.put(&key("secrets/TOKEN"), b"plaintext-canary-4711")
        .await
        .unwrap();
    let raw = t
        .raw
        .get(&Path::from("secrets/TOKEN"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(raw.starts_with(b"HSE2"), "stored object is not an envelope");
    assert!(
        !raw.windows(b"canary".len()).any(|w| w == b"canary"),
        "plaintext visible at rest"
    );
}

async fn create_if_absent_conflicts_and_keeps_the_first(backend: Backend) {
    let t = TestStore::new(backend).await;
    let root = t.open().await.root();
    root.create(&key("k"), b"first").await.unwrap();
    let err = root.create(&key("k"), b"second").await.unwrap_err();
    assert!(matches!(err, StorageError::Conflict { .. }), "{err}");
    let got = root.get(&key("k")).await.unwrap().unwrap();
    assert_eq!(got.value.as_slice(), b"first");
}

async fn update_if_unchanged_detects_every_interference(backend: Backend) {
    let t = TestStore::new(backend).await;
    let root = t.open().await.root();
    let v1 = root.create(&key("k"), b"one").await.unwrap();
    let v2 = root.update(&key("k"), b"two", &v1).await.unwrap();
    assert_ne!(v1, v2);

    let stale = root.update(&key("k"), b"three", &v1).await.unwrap_err();
    assert!(matches!(stale, StorageError::Conflict { .. }), "{stale}");
    assert_eq!(
        root.get(&key("k")).await.unwrap().unwrap().value.as_slice(),
        b"two"
    );

    root.delete(&key("k")).await.unwrap();
    let gone = root.update(&key("k"), b"four", &v2).await.unwrap_err();
    assert!(matches!(gone, StorageError::Conflict { .. }), "{gone}");
    assert!(root.get(&key("k")).await.unwrap().is_none());
}

async fn scopes_list_only_their_own_keys(backend: Backend) {
    let t = TestStore::new(backend).await;
    let root = t.open().await.root();
    let agent = root.scope(&key("agent")).unwrap();
    let agents = root.scope(&key("agents")).unwrap();
    agent.put(&key("memory/a.md"), b"a").await.unwrap();
    agent.put(&key("memory/b.md"), b"b").await.unwrap();
    agents.put(&key("x"), b"x").await.unwrap();
    root.put(&key("secrets/S"), b"s").await.unwrap();

    let listed: Vec<String> = agent
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key.to_string())
        .collect();
    assert_eq!(listed, ["memory/a.md", "memory/b.md"]);
    // The agent scope's "secrets/S" is agent/secrets/S, not the root's secret.
    assert!(agent.get(&key("secrets/S")).await.unwrap().is_none());
    assert_eq!(root.list().await.unwrap().len(), 4);
}

async fn wrong_master_key_is_named_and_loses_nothing(backend: Backend) {
    let t = TestStore::new(backend).await;
    t.open()
        .await
        .root()
        .put(&key("k"), b"precious")
        .await
        .unwrap();

    let other = t
        .open_with(Sealing::Envelope(MasterKey::generate().unwrap()))
        .await
        .unwrap();
    let err = other.root().get(&key("k")).await.unwrap_err();
    match &err {
        StorageError::Unseal {
            source: EnvelopeError::WrongMasterKey { sealed_with, .. },
            ..
        } => assert_eq!(*sealed_with, t.master.id()),
        other => panic!("expected a wrong-master-key error, got {other}"),
    }
    assert!(err.to_string().contains("wrong master key"), "{err}");
    let got = t.open().await.root().get(&key("k")).await.unwrap().unwrap();
    assert_eq!(got.value.as_slice(), b"precious");
}

async fn tampered_and_truncated_objects_do_not_open(backend: Backend) {
    let t = TestStore::new(backend).await;
    let root = t.open().await.root();
    root.put(&key("k"), b"some value worth protecting")
        .await
        .unwrap();
    let path = Path::from("k");
    let raw = t.raw.get(&path).await.unwrap().bytes().await.unwrap();

    let mut flipped = raw.to_vec();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    t.raw.put(&path, PutPayload::from(flipped)).await.unwrap();
    let err = root.get(&key("k")).await.unwrap_err();
    assert!(
        matches!(
            &err,
            StorageError::Unseal {
                source: EnvelopeError::Tampered,
                ..
            }
        ),
        "{err}"
    );

    t.raw
        .put(&path, PutPayload::from(raw.slice(..raw.len() - 5)))
        .await
        .unwrap();
    let err = root.get(&key("k")).await.unwrap_err();
    assert!(
        matches!(
            &err,
            StorageError::Unseal {
                source: EnvelopeError::Tampered,
                ..
            }
        ),
        "{err}"
    );

    // A plaintext object planted by someone with bucket access is refused too.
    t.raw
        .put(
            &path,
            PutPayload::from(Bytes::from_static(b"{\"admin\":true}")),
        )
        .await
        .unwrap();
    let err = root.get(&key("k")).await.unwrap_err();
    assert!(
        matches!(
            &err,
            StorageError::Unseal {
                source: EnvelopeError::Malformed { .. },
                ..
            }
        ),
        "{err}"
    );
}

async fn an_object_copied_to_another_key_does_not_open(backend: Backend) {
    let t = TestStore::new(backend).await;
    let root = t.open().await.root();
    root.put(&key("secrets/ADMIN"), b"admin-value")
        .await
        .unwrap();
    let raw = t
        .raw
        .get(&Path::from("secrets/ADMIN"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    t.raw
        .put(&Path::from("agent/stolen"), PutPayload::from(raw))
        .await
        .unwrap();
    let err = root.get(&key("agent/stolen")).await.unwrap_err();
    assert!(
        matches!(
            &err,
            StorageError::Unseal {
                source: EnvelopeError::Tampered,
                ..
            }
        ),
        "{err}"
    );
}

/// 16 writers, each with a unique body, race one compare-and-swap per round for 20
/// rounds. Exactly one wins each round, and the final object holds every winner.
async fn cas_race_has_exactly_one_winner_per_round(backend: Backend) {
    const WRITERS: usize = 16;
    const ROUNDS: usize = 20;
    let t = TestStore::new(backend).await;
    let store = t.open().await;
    let counter = key("race/counter");
    store.root().create(&counter, b"[]").await.unwrap();
    let barrier = Arc::new(Barrier::new(WRITERS));
    let mut round_winners = Vec::new();

    for round in 0..ROUNDS {
        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            let (root, barrier, counter) = (store.root(), barrier.clone(), counter.clone());
            tasks.push(tokio::spawn(async move {
                let current = root.get(&counter).await.unwrap().unwrap();
                let mut winners: Vec<String> = serde_json::from_slice(&current.value).unwrap();
                winners.push(format!("round-{round}-writer-{writer}"));
                let body = serde_json::to_vec(&winners).unwrap();
                barrier.wait().await;
                match root.update(&counter, &body, &current.version).await {
                    Ok(_) => Some(writer),
                    Err(StorageError::Conflict { .. }) => None,
                    Err(e) => panic!("writer {writer}: {e}"),
                }
            }));
        }
        let mut won = Vec::new();
        for task in tasks {
            if let Some(writer) = task.await.unwrap() {
                won.push(writer);
            }
        }
        assert_eq!(won.len(), 1, "round {round}: winners {won:?}");
        round_winners.push(format!("round-{round}-writer-{}", won[0]));
    }

    let final_state = store.root().get(&counter).await.unwrap().unwrap();
    let winners: Vec<String> = serde_json::from_slice(&final_state.value).unwrap();
    assert_eq!(winners, round_winners);
}

async fn concurrent_modify_loses_no_increment(backend: Backend) {
    const TASKS: u64 = 8;
    const EACH: u64 = 5;
    let t = TestStore::new(backend).await;
    let store = t.open().await;
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let root = store.root();
        tasks.push(tokio::spawn(async move {
            for _ in 0..EACH {
                root.modify(&key("count"), |current| {
                    let n: u64 =
                        current.map_or(0, |c| std::str::from_utf8(c).unwrap().parse().unwrap());
                    Ok::<_, StorageError>(Modification::Write((n + 1).to_string().into_bytes(), ()))
                })
                .await
                .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let got = store.root().get(&key("count")).await.unwrap().unwrap();
    assert_eq!(
        std::str::from_utf8(&got.value).unwrap(),
        (TASKS * EACH).to_string()
    );
}

on_every_backend!(
    round_trip_and_missing,
    objects_are_sealed_at_rest,
    create_if_absent_conflicts_and_keeps_the_first,
    update_if_unchanged_detects_every_interference,
    scopes_list_only_their_own_keys,
    wrong_master_key_is_named_and_loses_nothing,
    tampered_and_truncated_objects_do_not_open,
    an_object_copied_to_another_key_does_not_open,
    cas_race_has_exactly_one_winner_per_round,
    concurrent_modify_loses_no_increment,
);

/// Regression: with unsealed bodies (plaintext, or a remote store sealed by the
/// edge), two writers can write identical bytes, so a conflicting write must not
/// be taken for our own. Every increment must survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plaintext_modify_with_equal_bodies_loses_no_increment() {
    let t = TestStore::new(Backend::Local).await;
    let store = t.open_with(Sealing::Plaintext).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let root = store.root();
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                root.modify(&key("count"), |current| {
                    let n: u64 =
                        current.map_or(0, |c| std::str::from_utf8(c).unwrap().parse().unwrap());
                    Ok::<_, StorageError>(Modification::Write((n + 1).to_string().into_bytes(), ()))
                })
                .await
                .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let got = store.root().get(&key("count")).await.unwrap().unwrap();
    assert_eq!(std::str::from_utf8(&got.value).unwrap(), "40");
}
