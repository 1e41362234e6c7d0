//! Blobs no manifest names are deleted, and only those.

use std::time::Duration;

use hardshell_state::{KEPT_GENERATIONS, Prepared, Pushed, operator};

use crate::on_each_backend;
use crate::support::{Backend, Bucket, Machine, files};

on_each_backend!(only_blobs_nothing_names_are_collected);

async fn only_blobs_nothing_names_are_collected(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let machine = Machine::new();
    machine.write("config", b"kept throughout");
    machine.write("session.jsonl", b"line 0\n");
    let mut sync = machine.sync(&bucket).await;
    sync.restore_if_needed().await.unwrap();
    operator::snapshot(&bucket.scope(), "first").await.unwrap();
    // A session file growing over more generations than are kept: its early
    // versions fall out of every kept manifest (but the first is in a snapshot).
    let mut session = b"line 0\n".to_vec();
    for n in 1..=KEPT_GENERATIONS + 2 {
        session.extend_from_slice(format!("line {n}\n").as_bytes());
        machine.write("session.jsonl", &session);
        assert!(matches!(
            sync.sync_once().await.unwrap(),
            Pushed::Published { .. }
        ));
    }
    let before = bucket.blob_count().await;
    assert_eq!(before, KEPT_GENERATIONS + 4);

    // Within the grace period nothing goes.
    assert_eq!(
        sync.collect_garbage(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    // Past it: the two versions only the dropped generations named.
    assert_eq!(sync.collect_garbage(Duration::ZERO).await.unwrap(), 2);
    assert_eq!(bucket.blob_count().await, before - 2);

    // A collected content that comes back is stored again, not assumed
    // present because this sync once uploaded it.
    machine.write("session.jsonl", b"line 0\nline 1\n");
    assert!(matches!(
        sync.sync_once().await.unwrap(),
        Pushed::Published { uploaded: 1, .. }
    ));

    // Whatever is still named restores: the current generation and the snapshot.
    sync.release().await.unwrap();
    let fresh = Machine::new();
    let mut restored = fresh.sync(&bucket).await;
    restored.restore_if_needed().await.unwrap();
    assert_eq!(files(&fresh.dir()), files(&machine.dir()));
    let back = restored.restore_snapshot(Some("first")).await.unwrap();
    assert!(
        matches!(back, Prepared::Restored { files: 2, .. }),
        "{back:?}"
    );
    assert_eq!(fresh.read("session.jsonl"), b"line 0\n");
}
