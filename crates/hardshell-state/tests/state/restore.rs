//! Restore before start, incremental sync, and the stale-copy rules.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

use hardshell_state::{Prepared, Pushed, StateError};

use crate::on_each_backend;
use crate::support::{Backend, Bucket, Machine, OWNER, files};

on_each_backend!(
    a_new_machine_restores_into_an_empty_dir,
    only_changed_files_are_uploaded,
    a_stale_local_copy_does_not_overwrite_a_newer_remote,
    a_local_copy_of_unknown_base_is_set_aside,
    local_changes_on_the_current_base_are_pushed,
    every_manifest_write_is_conditional,
    a_remote_rolled_back_behind_the_local_copy_is_refused,
);

async fn a_new_machine_restores_into_an_empty_dir(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let first = Machine::new();
    first.write("openclaw.json", b"{\"gateway\":{}}");
    first.write("agents/main/sessions/s1.jsonl", b"{\"role\":\"user\"}\n");
    std::fs::create_dir_all(first.dir().join("empty")).unwrap();
    std::os::unix::fs::symlink("agents/main", first.dir().join("current")).unwrap();
    std::fs::set_permissions(
        first.dir().join("openclaw.json"),
        std::fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    let mut sync = first.sync(&bucket).await;
    assert_eq!(
        sync.restore_if_needed().await.unwrap(),
        Prepared::Pushed { generation: 1 }
    );
    sync.release().await.unwrap();

    let second = Machine::new();
    let mut sync = second.sync(&bucket).await;
    assert_eq!(
        sync.restore_if_needed().await.unwrap(),
        Prepared::Restored {
            generation: 1,
            files: 2
        }
    );
    assert_eq!(files(&second.dir()), files(&first.dir()));
    let link = second.dir().join("current");
    assert_eq!(
        std::fs::read_link(&link).unwrap().to_str(),
        Some("agents/main")
    );
    assert!(second.dir().join("empty").is_dir());
    let config = std::fs::metadata(second.dir().join("openclaw.json")).unwrap();
    assert_eq!(
        config.mode() & 0o7777,
        0o755,
        "set-id bits are never restored"
    );
    for path in [
        "openclaw.json",
        "agents",
        "agents/main/sessions/s1.jsonl",
        "current",
    ] {
        let meta = std::fs::symlink_metadata(second.dir().join(path)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (OWNER.uid, OWNER.gid), "{path}");
    }
    // Nothing more to do on the next start.
    assert_eq!(
        sync.restore_if_needed().await.unwrap(),
        Prepared::UpToDate { generation: 1 }
    );
}

async fn only_changed_files_are_uploaded(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let machine = Machine::new();
    machine.write("a", b"alpha");
    machine.write("b", b"beta");
    machine.write("c/d", b"delta");
    let mut sync = machine.sync(&bucket).await;
    sync.restore_if_needed().await.unwrap();
    assert_eq!(bucket.blob_count().await, 3);
    assert_eq!(sync.sync_once().await.unwrap(), Pushed::Unchanged);

    machine.write("b", b"beta, changed");
    assert_eq!(
        sync.sync_once().await.unwrap(),
        Pushed::Published {
            generation: 2,
            uploaded: 1
        }
    );
    // A copy of content already stored is not sent again.
    machine.write("e", b"alpha");
    assert_eq!(
        sync.sync_once().await.unwrap(),
        Pushed::Published {
            generation: 3,
            uploaded: 0
        }
    );
    std::fs::remove_file(machine.dir().join("a")).unwrap();
    assert_eq!(
        sync.sync_once().await.unwrap(),
        Pushed::Published {
            generation: 4,
            uploaded: 0
        }
    );
    assert_eq!(bucket.blob_count().await, 4);
}

/// Two machines, one after the other: the second moves the remote on while
/// the first is away; the first comes back with its own unsynced change.
async fn a_stale_local_copy_does_not_overwrite_a_newer_remote(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let old = Machine::new();
    old.write("memory.md", b"v1");
    let mut sync = old.sync(&bucket).await;
    sync.restore_if_needed().await.unwrap();
    sync.release().await.unwrap();

    let new = Machine::new();
    let mut sync = new.sync(&bucket).await;
    sync.restore_if_needed().await.unwrap();
    new.write("memory.md", b"v2 from the new machine");
    sync.sync_once().await.unwrap();
    sync.release().await.unwrap();

    old.write("memory.md", b"v1 edited offline");
    let mut sync = old.sync(&bucket).await;
    let prepared = sync.restore_if_needed().await.unwrap();
    let Prepared::SetAside {
        snapshot,
        local_base,
        generation,
    } = prepared
    else {
        panic!("expected the stale copy set aside, got {prepared:?}");
    };
    assert_eq!((local_base, generation), (Some(1), 2));
    assert_eq!(old.read("memory.md"), b"v2 from the new machine");

    // The stale copy is not lost: it restores from its snapshot.
    sync.restore_snapshot(Some(&snapshot)).await.unwrap();
    assert_eq!(old.read("memory.md"), b"v1 edited offline");
}

async fn a_local_copy_of_unknown_base_is_set_aside(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let first = Machine::new();
    first.write("config", b"remote");
    let mut sync = first.sync(&bucket).await;
    sync.restore_if_needed().await.unwrap();
    sync.release().await.unwrap();

    // A directory with files but no record (a restore cut short, a copy by hand).
    let second = Machine::new();
    second.write("config", b"local, base unknown");
    let mut sync = second.sync(&bucket).await;
    let prepared = sync.restore_if_needed().await.unwrap();
    assert!(
        matches!(
            prepared,
            Prepared::SetAside {
                local_base: None,
                generation: 1,
                ..
            }
        ),
        "{prepared:?}"
    );
    assert_eq!(second.read("config"), b"remote");
    let listing = hardshell_state::operator::list(&bucket.scope())
        .await
        .unwrap();
    assert_eq!(listing.snapshots.len(), 1);
    assert_eq!(
        listing.current.unwrap().generation,
        1,
        "the remote was not replaced"
    );
}

async fn local_changes_on_the_current_base_are_pushed(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let machine = Machine::new();
    machine.write("sessions/1", b"first");
    let mut sync = machine.sync(&bucket).await;
    sync.restore_if_needed().await.unwrap();
    // Written after the last sync, then the process stopped without syncing.
    machine.write("sessions/2", b"second");
    drop(sync);

    let mut sync = machine.sync(&bucket).await;
    assert_eq!(
        sync.restore_if_needed().await.unwrap(),
        Prepared::Pushed { generation: 2 }
    );
    sync.release().await.unwrap();
    let fresh = Machine::new();
    let mut sync = fresh.sync(&bucket).await;
    sync.restore_if_needed().await.unwrap();
    assert_eq!(fresh.read("sessions/2"), b"second");
}

/// Two writers of one holder id (a copied data directory): the second's
/// publication makes the first's stale, and the first's write is refused.
async fn every_manifest_write_is_conditional(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let one = Machine::new();
    one.write("f", b"one");
    let mut first = one.sync(&bucket).await;
    first.restore_if_needed().await.unwrap();

    let two = Machine::same_holder_as(&one);
    let mut second = two.sync(&bucket).await;
    second.restore_if_needed().await.unwrap();
    two.write("f", b"two");
    second.sync_once().await.unwrap();

    one.write("f", b"one again");
    let refused = first.sync_once().await.unwrap_err();
    assert!(
        matches!(refused, StateError::RemoteChanged { generation: 2 }),
        "{refused}"
    );
    second.release().await.unwrap();
    drop(first);
    let fresh = Machine::new();
    let mut sync = fresh.sync(&bucket).await;
    sync.restore_if_needed().await.unwrap();
    assert_eq!(fresh.read("f"), b"two");
}

/// Someone with write access to the bucket puts back an older sealed
/// manifest (it opens: same key). The machine whose copy is newer refuses to
/// start on it rather than silently set its newer work aside.
async fn a_remote_rolled_back_behind_the_local_copy_is_refused(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let machine = Machine::new();
    machine.write("notes", b"v1");
    let mut sync = machine.sync(&bucket).await;
    sync.restore_if_needed().await.unwrap();
    let (key, old) = bucket
        .raw_objects()
        .await
        .into_iter()
        .find(|(key, _)| key.ends_with("workload/test/manifest"))
        .unwrap();
    machine.write("notes", b"v2");
    sync.sync_once().await.unwrap();
    machine.write("notes", b"v3, not yet synced");
    drop(sync);
    bucket.raw_put(&key, old).await;

    let mut sync = machine.sync(&bucket).await;
    let refused = sync.restore_if_needed().await.unwrap_err();
    assert!(
        matches!(
            refused,
            StateError::RemoteBehind {
                remote: 1,
                local: 2
            }
        ),
        "{refused}"
    );
    assert_eq!(
        machine.read("notes"),
        b"v3, not yet synced",
        "nothing changed"
    );
    // The operator's explicit restore takes the remote, keeping the local copy.
    let prepared = sync.restore_snapshot(None).await.unwrap();
    assert!(
        matches!(prepared, Prepared::SetAside { generation: 1, .. }),
        "{prepared:?}"
    );
    assert_eq!(machine.read("notes"), b"v1");
}
