#![allow(clippy::unwrap_used)]

use super::*;
use crate::{Owner, SyncOptions};

async fn sync_of(store: &hardshell_testkit::TestStore, dir: &std::path::Path) -> StateSync {
    let options = SyncOptions::new(
        dir.join("state"),
        dir.join("state.record"),
        Owner::current(),
    );
    let holder = Holder::parse("test-holder").unwrap();
    let mut sync = StateSync::open(store.scope("workload/w"), holder, options)
        .await
        .unwrap();
    sync.take_lease().await.unwrap();
    sync
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_is_adopted_not_taken_for_another_writers() {
    let store = hardshell_testkit::TestStore::new().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("state")).unwrap();
    std::fs::write(dir.path().join("state/f"), b"one").unwrap();
    let mut sync = sync_of(&store, dir.path()).await;
    sync.sync_once().await.unwrap();
    let before = sync.current.clone();
    std::fs::write(dir.path().join("state/f"), b"two").unwrap();
    sync.sync_once().await.unwrap();
    // As if generation 2's write had landed but its answer been lost:
    // this sync still believes generation 1 is current.
    sync.attempted = sync.current.clone().map(|(manifest, _)| manifest);
    sync.current = before;

    std::fs::write(dir.path().join("state/f"), b"three").unwrap();
    let published = sync.sync_once().await.unwrap();
    assert!(
        matches!(published, Pushed::Published { generation: 3, .. }),
        "{published:?}"
    );
}

#[tokio::test]
async fn another_writers_manifest_is_never_adopted() {
    let store = hardshell_testkit::TestStore::new().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("state")).unwrap();
    std::fs::write(dir.path().join("state/f"), b"one").unwrap();
    let mut sync = sync_of(&store, dir.path()).await;
    sync.sync_once().await.unwrap();
    // Same holder id, same content, but not this sync's attempt.
    let other_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(other_dir.path().join("state")).unwrap();
    std::fs::write(other_dir.path().join("state/f"), b"other").unwrap();
    let mut other = sync_of(&store, other_dir.path()).await;
    other.sync_once().await.unwrap();

    std::fs::write(dir.path().join("state/f"), b"two").unwrap();
    let refused = sync.sync_once().await.unwrap_err();
    assert!(
        matches!(refused, StateError::RemoteChanged { generation: 2 }),
        "{refused}"
    );
}
