//! The control socket's storage service, driven through a real remote store the
//! way the agent process uses it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod limits;

use std::path::PathBuf;

use hardshell_edge::{ControlLimits, ControlService, ControlSocket};
use hardshell_storage::{
    LocalOptions, Location, Modification, ObjectKey, RemoteOptions, Sealing, StorageError, Store,
};
use hardshell_testkit::{SmallDisk, TestStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// The edge's end of the control socket, as `hardshell up` starts it: its
/// service over the `agent/` scope of `store`, listening in the store's
/// temporary directory, with `limits` or the default ones.
fn serve(store: &TestStore, limits: Option<ControlLimits>) -> PathBuf {
    let run = store.dir().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let socket = run.join("edge.sock");
    let mut control =
        ControlSocket::bind(&socket, ControlService::new(store.scope("agent"))).unwrap();
    if let Some(limits) = limits {
        control = control.with_limits(limits);
    }
    tokio::spawn(control.serve());
    socket
}

/// Both ends: the edge's store behind its control socket, and the agent's
/// remote store through it.
struct Fixture {
    edge: TestStore,
    edge_store: Store,
    remote: Store,
    socket: PathBuf,
}

async fn fixture() -> Fixture {
    fixture_in(TestStore::new().await).await
}

async fn fixture_in(edge: TestStore) -> Fixture {
    let socket = serve(&edge, None);
    let remote = Store::open(
        &Location::Remote(RemoteOptions {
            socket: socket.clone(),
        }),
        Sealing::Delegated,
    )
    .await
    .unwrap();
    Fixture {
        edge_store: edge.store.clone(),
        edge,
        remote,
        socket,
    }
}

fn key(text: &str) -> ObjectKey {
    ObjectKey::parse(text).unwrap()
}

#[tokio::test]
async fn a_remote_store_reads_writes_and_lists_within_its_scope() {
    let f = fixture().await;
    let root = f.remote.root();
    root.put(&key("sessions/a/meta"), b"hello").await.unwrap();
    assert_eq!(
        root.get(&key("sessions/a/meta"))
            .await
            .unwrap()
            .unwrap()
            .value
            .as_slice(),
        b"hello"
    );
    let listed: Vec<String> = root
        .list()
        .await
        .unwrap()
        .iter()
        .map(|e| e.key.to_string())
        .collect();
    assert_eq!(listed, ["sessions/a/meta"]);
    // On the edge's side it lives under agent/, sealed.
    let edge_view = f
        .edge_store
        .root()
        .get(&key("agent/sessions/a/meta"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(edge_view.value.as_slice(), b"hello");
    let raw = std::fs::read(f.edge.objects().join("agent/sessions/a/meta")).unwrap();
    assert!(raw.starts_with(b"HSE2"), "not sealed at rest");
    root.delete(&key("sessions/a/meta")).await.unwrap();
    assert!(root.get(&key("sessions/a/meta")).await.unwrap().is_none());
}

#[tokio::test]
async fn compare_and_swap_holds_across_the_socket() {
    let f = fixture().await;
    let root = f.remote.root();
    let v1 = root.create(&key("k"), b"1").await.unwrap();
    assert!(matches!(
        root.create(&key("k"), b"x").await,
        Err(StorageError::Conflict { .. })
    ));
    root.update(&key("k"), b"2", &v1).await.unwrap();
    assert!(matches!(
        root.update(&key("k"), b"3", &v1).await,
        Err(StorageError::Conflict { .. })
    ));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let root = f.remote.root();
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
    assert_eq!(
        root.get(&key("count"))
            .await
            .unwrap()
            .unwrap()
            .value
            .as_slice(),
        b"40"
    );
}

#[tokio::test]
async fn the_workload_cannot_reach_outside_its_scope() {
    let f = fixture().await;
    f.edge_store
        .root()
        .put(&key("secrets/ADMIN"), b"top")
        .await
        .unwrap();
    f.edge_store
        .root()
        .put(&key("tokens/abc"), b"tok")
        .await
        .unwrap();
    // Through the client API, "secrets/ADMIN" is agent/secrets/ADMIN: absent.
    assert!(
        f.remote
            .root()
            .get(&key("secrets/ADMIN"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(f.remote.root().list().await.unwrap().is_empty());
    // Raw requests that try to climb out are refused before any storage call.
    for path in [
        "/storage/v1/object/../tokens/abc",
        "/storage/v1/object/%2e%2e/tokens/abc",
        "/storage/v1/object//tokens/abc",
        "/storage/v1/object/.hidden",
        "/storage/v1/object/a\\..\\b",
    ] {
        let reply = raw(
            &f.socket,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(
            reply.starts_with("HTTP/1.1 400") || reply.starts_with("HTTP/1.1 404"),
            "{path}: {reply}"
        );
        assert!(
            !reply.contains("tok") || reply.contains("400"),
            "{path}: {reply}"
        );
    }
}

#[tokio::test]
async fn a_remote_log_appends_reads_and_lists_within_its_scope_sealed_by_the_edge() {
    let f = fixture().await;
    let root = f.remote.root();
    let log = key("sessions/a/log");
    root.append(&log, 0, b"first words").await.unwrap();
    root.append(&log, 1, b"second").await.unwrap();
    let error = root.append(&log, 1, b"late").await.unwrap_err();
    assert!(error.is_conflict(), "{error}");
    let read: Vec<Vec<u8>> = root
        .read_log(&log, 0, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.to_vec())
        .collect();
    assert_eq!(read, [b"first words".to_vec(), b"second".to_vec()]);
    assert_eq!(root.read_log(&log, 1, 1).await.unwrap().len(), 1);
    assert!(root.read_log(&log, 2, 10).await.unwrap().is_empty());
    let logs = root.logs().await.unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(
        (logs[0].key.as_str(), logs[0].records),
        ("sessions/a/log", 2)
    );
    // On the edge's side it is the agent scope's log, sealed there.
    let edge_root = f.edge_store.root();
    let full = key("agent/sessions/a/log");
    assert_eq!(edge_root.read_log(&full, 0, 10).await.unwrap().len(), 2);
    let file = f.edge.objects().join(".logs/agent/sessions/a/log");
    let raw_bytes = std::fs::read(file).unwrap();
    assert!(!raw_bytes.windows(5).any(|w| w == b"words"));
    root.delete_log(&log).await.unwrap();
    assert!(edge_root.read_log(&full, 0, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_log_requests_are_refused_before_any_storage_call() {
    let f = fixture().await;
    f.edge_store
        .root()
        .append(&key("outside/log"), 0, b"not yours")
        .await
        .unwrap();
    for (request, status) in [
        ("GET /storage/v1/log/../outside/log?from=0", "400"),
        ("GET /storage/v1/log/.logs/outside/log?from=0", "400"),
        ("GET /storage/v1/log/sessions/a/log", "400"),
        ("GET /storage/v1/log/sessions/a/log?from=-1", "400"),
        ("POST /storage/v1/log/sessions/a/log", "400"),
        ("POST /storage/v1/log/sessions/a/log?at=x", "400"),
        ("PUT /storage/v1/log/sessions/a/log?at=0", "405"),
    ] {
        let reply = raw(
            &f.socket,
            &format!(
                "{request} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
        )
        .await;
        assert!(
            reply.starts_with(&format!("HTTP/1.1 {status}")),
            "{request}: {reply}"
        );
        assert!(!reply.contains("not yours"), "{request}: {reply}");
    }
    assert!(
        f.edge_store
            .root()
            .read_log(&key("agent/sessions/a/log"), 0, 1)
            .await
            .unwrap()
            .is_empty()
    );
    // A read asks for at most what one answer holds, whatever it says.
    for at in 0..3 {
        f.remote.root().append(&key("l"), at, b"x").await.unwrap();
    }
    let reply = raw(
        &f.socket,
        "GET /storage/v1/log/l?from=0&max=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let body = reply.split_once("\r\n\r\n").map(|(_, body)| body);
    assert_eq!(body, Some("\0\0\0\x01x"), "one record: {reply:?}");
}

#[tokio::test]
async fn a_dead_edge_is_an_unreachable_store() {
    let dir = tempfile::tempdir().unwrap();
    let options = RemoteOptions {
        socket: dir.path().join("nobody.sock"),
    };
    let err = Store::open(&Location::Remote(options), Sealing::Delegated)
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Unreachable { .. }), "{err}");
}

#[tokio::test]
async fn a_remote_store_refuses_to_seal_locally_and_locals_refuse_delegation() {
    let dir = tempfile::tempdir().unwrap();
    let remote = Location::Remote(RemoteOptions {
        socket: dir.path().join("x.sock"),
    });
    assert!(matches!(
        Store::open(&remote, Sealing::Plaintext).await,
        Err(StorageError::Config(_))
    ));
    let local = Location::Local(LocalOptions {
        objects: dir.path().join("o"),
        locks: dir.path().join("l"),
    });
    assert!(matches!(
        Store::open(&local, Sealing::Delegated).await,
        Err(StorageError::Config(_))
    ));
}

async fn raw(socket: &std::path::Path, request: &str) -> String {
    let mut stream = UnixStream::connect(socket).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_full_disk_reaches_the_agent_as_a_full_store_and_loses_nothing() {
    let disk = SmallDisk::new(2);
    let f = fixture_in(TestStore::on(&disk.path).await).await;
    let root = f.remote.root();
    root.put(&key("sessions/a/messages"), b"kept")
        .await
        .unwrap();
    disk.fill();
    let error = root
        .put(&key("sessions/a/messages"), &[1u8; 64 * 1024])
        .await
        .unwrap_err();
    assert!(error.is_full(), "{error}");
    assert!(
        matches!(error, StorageError::Remote { status: 507, .. }),
        "{error}"
    );
    let kept = root
        .get(&key("sessions/a/messages"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.value.as_slice(), b"kept");
    disk.free();
    root.put(&key("sessions/a/messages"), b"saved")
        .await
        .unwrap();
    drop(f);
}
