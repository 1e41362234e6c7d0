//! Logs (`Scope::append`, `read_log`, `logs`, `delete_log`) behave alike on
//! every backend: the local directory's one file per log, and one object per
//! record on SeaweedFS and moto.

use std::sync::Arc;

use hardshell_storage::{LogEntry, MasterKey, Sealing, StorageError};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use tokio::sync::Barrier;

use crate::support::{Backend, TestStore, key};

fn texts(records: &[zeroize::Zeroizing<Vec<u8>>]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.to_vec()).unwrap())
        .collect()
}

async fn records_are_numbered_and_each_number_is_taken_once(backend: Backend) {
    let t = TestStore::new(backend).await;
    let root = t.open().await.root();
    let log = key("agent/sessions/s/log");
    assert!(root.read_log(&log, 0, 10).await.unwrap().is_empty());
    root.append(&log, 0, b"zero").await.unwrap();
    root.append(&log, 1, b"one").await.unwrap();
    for at in [0, 1, 3] {
        let error = root.append(&log, at, b"late").await.unwrap_err();
        assert!(error.is_conflict(), "append at {at}: {error}");
    }
    root.append(&log, 2, b"two").await.unwrap();
    assert_eq!(
        texts(&root.read_log(&log, 0, 10).await.unwrap()),
        ["zero", "one", "two"]
    );
    assert_eq!(texts(&root.read_log(&log, 1, 1).await.unwrap()), ["one"]);
    assert!(root.read_log(&log, 3, 10).await.unwrap().is_empty());
    // Listed by `logs`, never by `list`.
    assert_eq!(
        root.logs().await.unwrap(),
        [LogEntry {
            key: log.clone(),
            records: 3
        }]
    );
    assert!(root.list().await.unwrap().is_empty());
    root.delete_log(&log).await.unwrap();
    root.delete_log(&log).await.unwrap();
    assert!(root.read_log(&log, 0, 10).await.unwrap().is_empty());
    assert!(root.logs().await.unwrap().is_empty());
    // A record larger than an object may be is refused, and takes no number.
    let huge = vec![b'x'; hardshell_storage::MAX_OBJECT_BYTES as usize];
    let error = root.append(&log, 0, &huge).await.unwrap_err();
    assert!(matches!(error, StorageError::Config(_)), "{error}");
    assert!(root.logs().await.unwrap().is_empty());
    root.append(&log, 0, b"again").await.unwrap();
    assert_eq!(texts(&root.read_log(&log, 0, 10).await.unwrap()), ["again"]);
}

async fn a_scope_sees_only_its_own_logs(backend: Backend) {
    let t = TestStore::new(backend).await;
    let root = t.open().await.root();
    let (a, b) = (
        root.scope(&key("agent")).unwrap(),
        root.scope(&key("agentx")).unwrap(),
    );
    a.append(&key("sessions/s/log"), 0, b"mine").await.unwrap();
    b.append(&key("sessions/s/log"), 0, b"theirs")
        .await
        .unwrap();
    let listed: Vec<String> = a
        .logs()
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.key.to_string())
        .collect();
    assert_eq!(listed, ["sessions/s/log"]);
    assert_eq!(
        texts(&a.read_log(&key("sessions/s/log"), 0, 9).await.unwrap()),
        ["mine"]
    );
    // A key the version register protects is no log.
    let error = root.append(&key("tokens/t"), 0, b"x").await.unwrap_err();
    assert!(matches!(error, StorageError::Config(_)), "{error}");
}

/// 8 writers race for each of 10 record numbers: one wins each, and the log
/// holds the winners in order, without gaps.
async fn appenders_racing_for_a_number_have_one_winner(backend: Backend) {
    const WRITERS: usize = 8;
    const ROUNDS: u64 = 10;
    let t = TestStore::new(backend).await;
    let store = t.open().await;
    let log = key("race/log");
    let barrier = Arc::new(Barrier::new(WRITERS));
    let mut winners = Vec::new();
    for round in 0..ROUNDS {
        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            let (root, barrier, log) = (store.root(), barrier.clone(), log.clone());
            tasks.push(tokio::spawn(async move {
                let body = format!("{round}-{writer}");
                barrier.wait().await;
                match root.append(&log, round, body.as_bytes()).await {
                    Ok(()) => Some(body),
                    Err(StorageError::Conflict { .. }) => None,
                    Err(e) => panic!("writer {writer}: {e}"),
                }
            }));
        }
        let mut won = Vec::new();
        for task in tasks {
            won.extend(task.await.unwrap());
        }
        assert_eq!(won.len(), 1, "round {round}: {won:?}");
        winners.extend(won);
    }
    let mut read = Vec::new();
    loop {
        let batch = store
            .root()
            .read_log(&log, read.len() as u64, 3)
            .await
            .unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 3);
        read.extend(texts(&batch));
    }
    assert_eq!(read, winners);
}

/// Where a backend keeps the log `log`'s bytes: a file, or record `at`'s object.
fn raw_path(backend: Backend, log: &str, at: u64) -> Path {
    match backend {
        Backend::Local => Path::from(format!(".logs/{log}")),
        Backend::SeaweedFs | Backend::Moto => Path::from(format!(".logs/{log}/{at:012}")),
    }
}

async fn records_are_sealed_to_their_log_and_number(backend: Backend) {
    let t = TestStore::new(backend).await;
    let root = t.open().await.root();
    root.append(&key("a/log"), 0, b"canary-4711").await.unwrap();
    root.append(&key("b/log"), 0, b"other").await.unwrap();
    let raw = t
        .raw
        .get(&raw_path(backend, "a/log", 0))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        !raw.windows(6).any(|w| w == b"canary"),
        "plaintext visible at rest"
    );
    // Log a's record put in log b's place does not open there.
    t.raw
        .copy(
            &raw_path(backend, "a/log", 0),
            &raw_path(backend, "b/log", 0),
        )
        .await
        .unwrap();
    let error = root.read_log(&key("b/log"), 0, 9).await.unwrap_err();
    assert!(matches!(error, StorageError::Unseal { .. }), "{error}");
    // Nor does another master key open a record, and the record stays.
    let other = t
        .open_with(Sealing::Envelope(MasterKey::generate().unwrap()))
        .await
        .unwrap();
    let error = other
        .root()
        .read_log(&key("a/log"), 0, 9)
        .await
        .unwrap_err();
    assert!(matches!(error, StorageError::Unseal { .. }), "{error}");
    assert_eq!(
        texts(&root.read_log(&key("a/log"), 0, 9).await.unwrap()),
        ["canary-4711"]
    );
}

async fn plaintext_logs_refuse_sealed_records(backend: Backend) {
    let t = TestStore::new(backend).await;
    let sealed = t.open().await.root();
    sealed.append(&key("l"), 0, b"sealed").await.unwrap();
    let plain = t.open_with(Sealing::Plaintext).await.unwrap().root();
    let error = plain.read_log(&key("l"), 0, 9).await.unwrap_err();
    assert!(matches!(error, StorageError::Unseal { .. }), "{error}");
    plain.append(&key("p"), 0, b"plain").await.unwrap();
    assert_eq!(
        texts(&plain.read_log(&key("p"), 0, 9).await.unwrap()),
        ["plain"]
    );
}

/// A log's key may go on below another's only on S3 (locally the first is a
/// file, and the second's append fails plainly); there, deleting the first
/// leaves the second whole.
async fn deleting_a_log_leaves_the_logs_below_its_key(backend: Backend) {
    let t = TestStore::new(backend).await;
    let root = t.open().await.root();
    root.append(&key("n"), 0, b"upper").await.unwrap();
    let below = root.append(&key("n/x"), 0, b"lower").await;
    if backend == Backend::Local {
        let error = below.unwrap_err();
        assert!(matches!(error, StorageError::Io { .. }), "{error}");
        return;
    }
    below.unwrap();
    root.delete_log(&key("n")).await.unwrap();
    assert!(root.read_log(&key("n"), 0, 9).await.unwrap().is_empty());
    assert_eq!(
        texts(&root.read_log(&key("n/x"), 0, 9).await.unwrap()),
        ["lower"]
    );
}

on_every_backend!(
    deleting_a_log_leaves_the_logs_below_its_key,
    records_are_numbered_and_each_number_is_taken_once,
    a_scope_sees_only_its_own_logs,
    appenders_racing_for_a_number_have_one_winner,
    records_are_sealed_to_their_log_and_number,
    plaintext_logs_refuse_sealed_records,
);
