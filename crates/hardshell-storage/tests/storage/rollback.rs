//! Rollback detection (`register.rs`) on every backend: someone with write
//! access to the bucket puts back an older sealed copy, deletes an object, or
//! rolls back the register itself, and hardshell says so instead of reading it.

use std::sync::Arc;

use bytes::Bytes;
use hardshell_storage::envelope;
use hardshell_storage::{ObjectKey, Sealing, StorageError, Store};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use tokio::sync::Barrier;

use crate::support::{Backend, TestStore, key};

async fn raw(t: &TestStore, at: &str) -> Bytes {
    t.raw
        .get(&Path::from(at))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
}

async fn put_raw(t: &TestStore, at: &str, bytes: Bytes) {
    t.raw
        .put(&Path::from(at), PutPayload::from(bytes))
        .await
        .unwrap();
}

/// A protected key whose register part is `other`'s (as `register.rs` picks
/// it: the first byte of the key's SHA-256, modulo the parts).
fn in_the_part_of(other: &str) -> ObjectKey {
    use sha2::{Digest, Sha256};
    let part = |k: &str| Sha256::digest(k.as_bytes())[0] % hardshell_storage::register::PARTS;
    (0..)
        .map(|n| format!("tokens/filler-{n}"))
        .find(|k| part(k) == part(other))
        .map(|k| key(&k))
        .unwrap()
}

/// Every part of the register as it is in the bucket now. Read by name, not
/// listed: SeaweedFS leaves names that start with a dot out of its listings.
async fn register_parts(t: &TestStore) -> Vec<(String, Bytes)> {
    let mut parts = Vec::new();
    for part in 0..hardshell_storage::register::PARTS {
        let at = format!(".versions/{part:02}");
        match t.raw.get(&Path::from(at.as_str())).await {
            Ok(found) => parts.push((at, found.bytes().await.unwrap())),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => panic!("{at}: {e}"),
        }
    }
    parts
}

async fn an_older_copy_is_refused_until_written_again(backend: Backend) {
    let t = TestStore::new(backend).await;
    let root = t.open().await.root();
    root.put(&key("tokens/t1"), b"live").await.unwrap();
    let live = raw(&t, "tokens/t1").await;
    root.put(&key("tokens/t1"), b"revoked").await.unwrap();
    put_raw(&t, "tokens/t1", live).await;

    let err = root.get(&key("tokens/t1")).await.unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::RolledBack {
                found: 1,
                registered: 2,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("tokens/t1") && message.contains("older copy"),
        "{message}"
    );
    // Another process on the same bucket refuses it as well, and so does a
    // compare-and-swap step, which is never shown the old value.
    let other = t.open().await.root();
    assert!(matches!(
        other.get(&key("tokens/t1")).await.unwrap_err(),
        StorageError::RolledBack { .. }
    ));
    let shown = other
        .modify(&key("tokens/t1"), |_| {
            Ok::<_, StorageError>(hardshell_storage::Modification::Keep(()))
        })
        .await;
    assert!(matches!(shown, Err(StorageError::RolledBack { .. })));

    // The owner's fix, once they have looked: write it again.
    root.put(&key("tokens/t1"), b"revoked").await.unwrap();
    let got = other.get(&key("tokens/t1")).await.unwrap().unwrap();
    assert_eq!(got.value.as_slice(), b"revoked");

    // Outside the protected prefixes an older copy still opens: conversations
    // are written once, and the register leaves them out.
    root.put(&key("agent/sessions/s/meta"), b"one")
        .await
        .unwrap();
    let one = raw(&t, "agent/sessions/s/meta").await;
    root.put(&key("agent/sessions/s/meta"), b"two")
        .await
        .unwrap();
    put_raw(&t, "agent/sessions/s/meta", one).await;
    let got = root
        .get(&key("agent/sessions/s/meta"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.value.as_slice(), b"one");
}

async fn a_deleted_object_put_back_reads_as_absent(backend: Backend) {
    let t = TestStore::new(backend).await;
    let root = t.open().await.root();
    root.create(&key("auth/passkey/p1"), b"credential")
        .await
        .unwrap();
    let kept = raw(&t, "auth/passkey/p1").await;
    root.delete(&key("auth/passkey/p1")).await.unwrap();
    put_raw(&t, "auth/passkey/p1", kept).await;

    assert!(root.get(&key("auth/passkey/p1")).await.unwrap().is_none());
    assert!(
        t.open()
            .await
            .root()
            .get(&key("auth/passkey/p1"))
            .await
            .unwrap()
            .is_none()
    );
    // The copy is in the way of nothing: the key can be made again, and then reads.
    root.create(&key("auth/passkey/p1"), b"a new credential")
        .await
        .unwrap();
    let got = root.get(&key("auth/passkey/p1")).await.unwrap().unwrap();
    assert_eq!(got.value.as_slice(), b"a new credential");
}

async fn an_object_deleted_behind_hardshells_back_is_named(backend: Backend) {
    let t = TestStore::new(backend).await;
    let root = t.open().await.root();
    root.create(&key("auth/devices/revoked/d1"), b"revoked")
        .await
        .unwrap();
    t.raw
        .delete(&Path::from("auth/devices/revoked/d1"))
        .await
        .unwrap();
    let err = root.get(&key("auth/devices/revoked/d1")).await.unwrap_err();
    assert!(
        matches!(err, StorageError::Vanished { registered: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("behind hardshell's back"), "{err}");
    // Deleting it on purpose is the owner's way to accept that.
    root.delete(&key("auth/devices/revoked/d1")).await.unwrap();
    assert!(
        root.get(&key("auth/devices/revoked/d1"))
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_rolled_back_register_is_refused_where_it_was_seen(backend: Backend) {
    let t = TestStore::new(backend).await;
    let anchors = tempfile::tempdir().unwrap();
    let sealing = || Sealing::Envelope(t.master.clone());
    let store = Store::open_anchored(&t.location, sealing(), anchors.path(), "state")
        .await
        .unwrap();
    let root = store.root();
    root.put(&key("llm/spend/2026-12"), b"$0.10").await.unwrap();
    let object = raw(&t, "llm/spend/2026-12").await;
    let parts = register_parts(&t).await;
    assert_eq!(
        parts.len(),
        1,
        "one write changes one part: {:?}",
        parts.iter().map(|p| &p.0).collect::<Vec<_>>()
    );
    root.put(&key("llm/spend/2026-12"), b"$4.90").await.unwrap();

    // The object and its part of the register, both put back.
    put_raw(&t, "llm/spend/2026-12", object).await;
    for (at, bytes) in parts {
        put_raw(&t, &at, bytes).await;
    }

    let err = root.get(&key("llm/spend/2026-12")).await.unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::RegisterRolledBack {
                found: 1,
                seen: 2,
                ..
            }
        ),
        "{err}"
    );
    // After a restart, from the anchor file.
    let restarted = Store::open_anchored(&t.location, sealing(), anchors.path(), "state")
        .await
        .unwrap();
    let err = restarted
        .root()
        .get(&key("llm/spend/2026-12"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::RegisterRolledBack { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("older copy of it back"), "{err}");
    // A machine that never saw the newer register has nothing to hold it to:
    // the limit the threat model states.
    let new_machine = tempfile::tempdir().unwrap();
    let fresh = Store::open_anchored(&t.location, sealing(), new_machine.path(), "state")
        .await
        .unwrap();
    let got = fresh
        .root()
        .get(&key("llm/spend/2026-12"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.value.as_slice(), b"$0.10");
}

async fn a_legacy_object_reads_until_it_is_rewritten(backend: Backend) {
    let t = TestStore::new(backend).await;
    let root = t.open().await.root();
    // As written before the register: unstamped.
    let legacy = envelope::seal(&t.master, "secrets/OLD", b"old value").unwrap();
    put_raw(&t, "secrets/OLD", Bytes::from(legacy.clone())).await;
    let got = root.get(&key("secrets/OLD")).await.unwrap().unwrap();
    assert_eq!(got.value.as_slice(), b"old value");
    root.put(&key("secrets/OLD"), b"new value").await.unwrap();
    assert!(raw(&t, "secrets/OLD").await.starts_with(b"HSE2"));
    put_raw(&t, "secrets/OLD", Bytes::from(legacy)).await;
    assert!(matches!(
        root.get(&key("secrets/OLD")).await.unwrap_err(),
        StorageError::RolledBack { found: 0, .. }
    ));
}

async fn the_register_is_sealed_and_out_of_every_scopes_reach(backend: Backend) {
    let t = TestStore::new(backend).await;
    let root = t.open().await.root();
    root.put(&key("tokens/visible-name"), b"x").await.unwrap();
    let listed: Vec<String> = root
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.key.to_string())
        .collect();
    assert_eq!(listed, ["tokens/visible-name"]);
    assert!(ObjectKey::parse(".versions/00").is_err());
    let parts = register_parts(&t).await;
    assert!(!parts.is_empty());
    for (_, bytes) in parts {
        assert!(bytes.starts_with(b"HSE2"));
        assert!(
            !bytes.windows(7).any(|w| w == b"visible"),
            "a key name in the clear"
        );
    }
}

/// Stores sealed under one master key (the state bucket, an audit bucket of
/// its own) each seal their register to their role: a part copied from one
/// into the other, to empty a part of the other's marks, does not open.
async fn a_register_part_from_another_store_does_not_open(backend: Backend) {
    let t = TestStore::new(backend).await;
    let anchors = tempfile::tempdir().unwrap();
    let sealing = || Sealing::Envelope(t.master.clone());
    let audit = Store::open_anchored(&t.location, sealing(), anchors.path(), "audit")
        .await
        .unwrap();
    audit.root().put(&key("edge-1/head"), b"{}").await.unwrap();
    let state = Store::open_anchored(&t.location, sealing(), anchors.path(), "state")
        .await
        .unwrap();
    let err = state.root().get(&key("edge-1/head")).await.unwrap_err();
    assert!(
        matches!(
            &err,
            StorageError::Unseal {
                key,
                source: envelope::EnvelopeError::Tampered,
            } if key.starts_with(".versions/")
        ),
        "{err}"
    );
}

/// The whole store checked at once, as `hardshell doctor` does: each object
/// rolled back or gone is named, what is current is counted, and what was
/// written before the register is counted apart.
async fn the_whole_store_is_checked_at_once(backend: Backend) {
    let t = TestStore::new(backend).await;
    let store = t.open().await;
    let root = store.root();
    for k in [
        "tokens/a",
        "tokens/b",
        "auth/devices/revoked/d1",
        "sessions/s",
    ] {
        root.put(&key(k), b"one").await.unwrap();
    }
    root.delete(&key("sessions/s")).await.unwrap();
    let old = raw(&t, "tokens/a").await;
    root.put(&key("tokens/a"), b"two").await.unwrap();
    put_raw(&t, "tokens/a", old).await;
    t.raw
        .delete(&Path::from("auth/devices/revoked/d1"))
        .await
        .unwrap();
    let legacy = envelope::seal(&t.master, "secrets/OLD", b"old").unwrap();
    put_raw(&t, "secrets/OLD", Bytes::from(legacy)).await;
    root.put(&key("notes/unprotected"), b"x").await.unwrap();

    let check = store.check_versions().await.unwrap();
    assert_eq!(check.current, 1, "{check:?}");
    assert_eq!(check.unmarked, 1, "{check:?}");
    let mut named: Vec<String> = check
        .problems
        .iter()
        .map(|problem| match problem {
            StorageError::RolledBack { key, .. } => format!("rolled back {key}"),
            StorageError::Vanished { key, .. } => format!("vanished {key}"),
            other => panic!("{other}"),
        })
        .collect();
    named.sort();
    assert_eq!(
        named,
        ["rolled back tokens/a", "vanished auth/devices/revoked/d1"]
    );
}

/// A login session's tombstone lasts as long as the session could have:
/// before that a copy put back reads as absent; after it the register has
/// forgotten the key (the copy's own expiry refuses it then).
async fn a_tombstone_of_a_self_expiring_object_is_forgotten_after_it(backend: Backend) {
    let t = TestStore::new(backend).await;
    let root = t.open().await.root();
    let (soon, later) = (key("sessions/soon"), key("sessions/later"));
    for k in [&soon, &later] {
        root.create(k, b"session").await.unwrap();
    }
    let (soon_copy, later_copy) = (
        raw(&t, "sessions/soon").await,
        raw(&t, "sessions/later").await,
    );
    let now = chrono::Utc::now();
    root.delete_void_after(&later, now + chrono::Duration::days(30))
        .await
        .unwrap();
    root.delete_void_after(&soon, now - chrono::Duration::seconds(1))
        .await
        .unwrap();
    put_raw(&t, "sessions/soon", soon_copy).await;
    put_raw(&t, "sessions/later", later_copy).await;
    // Still marked until the next change of the part rewrites it.
    let parts_text = |parts: Vec<(String, Bytes)>| {
        parts
            .into_iter()
            .map(|(at, bytes)| {
                // Sealed to its path and the store's role (`Store::open`'s).
                let opened = envelope::open(&t.master, &format!("{at}@store"), &bytes).unwrap();
                String::from_utf8(opened.to_vec()).unwrap()
            })
            .collect::<String>()
    };
    let before = parts_text(register_parts(&t).await);
    assert!(before.contains("sessions/later"), "{before}");
    // Another key's write into each one's part forgets what is past its time.
    for k in ["sessions/soon", "sessions/later"] {
        root.put(&in_the_part_of(k), b"x").await.unwrap();
    }
    let after = parts_text(register_parts(&t).await);
    assert!(
        !after.contains("sessions/soon"),
        "an expired tombstone is kept"
    );
    assert!(
        after.contains("sessions/later"),
        "a live tombstone was dropped"
    );
    // The live tombstone still hides its copy; the forgotten one's copy reads
    // (the session's own expiry is what refuses it then).
    assert!(root.get(&later).await.unwrap().is_none());
    assert!(root.get(&soon).await.unwrap().is_some());
}

/// Two replicas write, overwrite, delete and read the same protected keys at
/// once: every update survives and no read takes the other's work for an attack.
async fn two_replicas_at_once_raise_no_false_alarm(backend: Backend) {
    const TASKS: usize = 6;
    const EACH: usize = 5;
    let t = TestStore::new(backend).await;
    let replicas = [t.open().await, t.open().await];
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let root = replicas[task % 2].root();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            for round in 0..EACH {
                root.modify(&key("llm/count"), |current| {
                    let n: usize = current
                        .map(|c| std::str::from_utf8(c).unwrap().parse().unwrap())
                        .unwrap_or(0);
                    Ok::<_, StorageError>(hardshell_storage::Modification::Write(
                        (n + 1).to_string().into_bytes(),
                        (),
                    ))
                })
                .await
                .unwrap();
                root.put(
                    &key("sessions/shared"),
                    format!("{task}.{round}").as_bytes(),
                )
                .await
                .unwrap();
                match round % 2 {
                    0 => root.delete(&key("tokens/churn")).await.unwrap(),
                    _ => drop(root.put(&key("tokens/churn"), b"again").await.unwrap()),
                }
                root.get(&key("sessions/shared")).await.unwrap().unwrap();
                root.get(&key("tokens/churn")).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for replica in &replicas {
        let got = replica
            .root()
            .get(&key("llm/count"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&got.value).unwrap(),
            (TASKS * EACH).to_string()
        );
        replica
            .root()
            .get(&key("sessions/shared"))
            .await
            .unwrap()
            .unwrap();
        replica.root().get(&key("tokens/churn")).await.unwrap();
    }
}

on_every_backend!(
    an_older_copy_is_refused_until_written_again,
    a_deleted_object_put_back_reads_as_absent,
    an_object_deleted_behind_hardshells_back_is_named,
    a_rolled_back_register_is_refused_where_it_was_seen,
    a_legacy_object_reads_until_it_is_rewritten,
    the_register_is_sealed_and_out_of_every_scopes_reach,
    a_tombstone_of_a_self_expiring_object_is_forgotten_after_it,
    the_whole_store_is_checked_at_once,
    a_register_part_from_another_store_does_not_open,
    two_replicas_at_once_raise_no_false_alarm,
);
