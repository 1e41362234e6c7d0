//! `snapshot`, `ls` and `restore [SNAPSHOT]`.

use hardshell_state::{Limits, Prepared, StateError, StateSync, operator};

use crate::on_each_backend;
use crate::support::{Backend, Bucket, Machine};

on_each_backend!(
    a_snapshot_restores_as_a_new_generation,
    restore_is_refused_while_another_holder_is_live,
    snapshot_names_are_checked_and_not_reused,
    restore_waits_for_this_machines_own_live_sync,
    a_local_copy_past_a_bound_is_neither_kept_nor_deleted_by_restore,
);

async fn a_snapshot_restores_as_a_new_generation(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let machine = Machine::new();
    machine.write("memory/notes.md", b"before the upgrade");
    let mut sync = machine.sync(&bucket).await;
    sync.restore_if_needed().await.unwrap();
    let taken = operator::snapshot(&bucket.scope(), "before-upgrade")
        .await
        .unwrap();
    assert_eq!((taken.generation, taken.files), (1, 1));
    let blobs = bucket.blob_count().await;
    assert_eq!(blobs, 1, "a snapshot copies no blob");

    machine.write("memory/notes.md", b"after the upgrade, broken");
    machine.write("junk", b"junk");
    sync.sync_once().await.unwrap();
    let restored = sync.restore_snapshot(Some("before-upgrade")).await.unwrap();
    assert_eq!(
        restored,
        Prepared::Restored {
            generation: 3,
            files: 1
        }
    );
    assert_eq!(machine.read("memory/notes.md"), b"before the upgrade");
    assert!(!machine.dir().join("junk").exists());

    let listing = operator::list(&bucket.scope()).await.unwrap();
    let current = listing.current.unwrap();
    assert_eq!(current.generation, 3);
    assert_eq!(
        current.origin.as_deref(),
        Some("restore of snapshot before-upgrade")
    );
    assert_eq!(
        listing
            .generations
            .iter()
            .map(|g| g.generation)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(listing.snapshots[0].name.as_deref(), Some("before-upgrade"));
    assert_eq!(listing.lease.unwrap().holder, machine.holder.as_str());
}

async fn restore_is_refused_while_another_holder_is_live(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let owner = Machine::new();
    owner.write("f", b"owner's");
    let mut held = owner.sync(&bucket).await;
    held.restore_if_needed().await.unwrap();
    operator::snapshot(&bucket.scope(), "s").await.unwrap();

    let operator_machine = Machine::new();
    let mut sync = StateSync::open(
        bucket.scope(),
        operator_machine.holder.clone(),
        operator_machine.options(),
    )
    .await
    .unwrap();
    assert!(matches!(
        sync.take_lease().await,
        Err(StateError::LeaseHeld { .. })
    ));
    assert!(matches!(
        sync.restore_snapshot(Some("s")).await,
        Err(StateError::NoLease)
    ));
}

async fn snapshot_names_are_checked_and_not_reused(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    // Looking writes nothing.
    hardshell_state::operator::list(&bucket.scope())
        .await
        .unwrap();
    assert!(bucket.raw_objects().await.is_empty());
    assert!(matches!(
        operator::snapshot(&bucket.scope(), "first").await,
        Err(StateError::NoRemoteState)
    ));
    let machine = Machine::new();
    machine.write("f", b"x");
    machine
        .sync(&bucket)
        .await
        .restore_if_needed()
        .await
        .unwrap();
    for bad in ["../lease", "a/b", ".hidden", ""] {
        assert!(
            matches!(
                operator::snapshot(&bucket.scope(), bad).await,
                Err(StateError::Key(_))
            ),
            "{bad:?}"
        );
    }
    operator::snapshot(&bucket.scope(), "first").await.unwrap();
    assert!(matches!(
        operator::snapshot(&bucket.scope(), "first").await,
        Err(StateError::SnapshotExists { .. })
    ));
}

async fn restore_waits_for_this_machines_own_live_sync(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let machine = Machine::new();
    machine.write("f", b"x");
    let mut running = machine.sync(&bucket).await;
    running.restore_if_needed().await.unwrap();

    // The operator on the same machine (same holder id): refused while the
    // sync runs, taken once it released.
    let mut operator = StateSync::open(bucket.scope(), machine.holder.clone(), machine.options())
        .await
        .unwrap();
    let refused = operator.take_lease_if_idle().await.unwrap_err();
    assert!(matches!(refused, StateError::LeaseHeld { .. }), "{refused}");
    running.release().await.unwrap();
    operator.take_lease_if_idle().await.unwrap();
    assert!(matches!(
        operator.restore_snapshot(None).await.unwrap(),
        Prepared::Restored { generation: 1, .. }
    ));
}

async fn a_local_copy_past_a_bound_is_neither_kept_nor_deleted_by_restore(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let machine = Machine::new();
    machine.write("f", b"small");
    let mut sync = machine.sync(&bucket).await;
    sync.restore_if_needed().await.unwrap();
    sync.release().await.unwrap();

    machine.write("huge", b"more than the bound allows");
    let mut options = machine.options();
    options.limits = Limits {
        max_file_bytes: 10,
        ..Limits::default()
    };
    let mut sync = machine.sync_with(&bucket, options).await;
    let refused = sync.restore_snapshot(None).await.unwrap_err();
    assert!(
        matches!(refused, StateError::FileTooLarge { .. }),
        "{refused}"
    );
    assert_eq!(machine.read("huge"), b"more than the bound allows");
    let listing = operator::list(&bucket.scope()).await.unwrap();
    assert!(listing.snapshots.is_empty());
    assert_eq!(listing.current.unwrap().generation, 1);
}
