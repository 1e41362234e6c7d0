//! One bucket per test on each backend (the testkit's local store, and
//! SeaweedFS from scripts/test's HARDSHELL_TEST_* variables), raw access to
//! its sealed bytes, and "machines": a data directory with a state directory,
//! a record file and a holder id.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt as _;
use hardshell_state::{Holder, Owner, StateSync, SyncOptions};
use hardshell_storage::{
    Location, MasterKey, ObjectKey, RetryOptions, S3Credentials, S3Options, Scope, Sealing, Store,
};
use hardshell_testkit::TestStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt as _};
use zeroize::Zeroizing;

/// The ids restored files must get (the tests run as root, as the edge does).
pub const OWNER: Owner = Owner {
    uid: 4321,
    gid: 4322,
};

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Local,
    SeaweedFs,
}

pub struct Bucket {
    pub store: Store,
    pub location: Location,
    pub master: MasterKey,
    raw: Arc<dyn ObjectStore>,
    _local: Option<TestStore>,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite with scripts/test, which starts SeaweedFS")
    })
}

fn seaweedfs(prefix: &str) -> S3Options {
    S3Options {
        endpoint: Some(env("HARDSHELL_TEST_SEAWEEDFS")),
        bucket: "hardshell-test".to_owned(),
        region: "us-east-1".to_owned(),
        path_style: true,
        prefix: Some(ObjectKey::parse(prefix).unwrap()),
        credentials: S3Credentials {
            access_key_id: Zeroizing::new(env("HARDSHELL_TEST_SEAWEEDFS_KEY_ID")),
            secret_access_key: Zeroizing::new(env("HARDSHELL_TEST_SEAWEEDFS_SECRET")),
        },
        allow_http: false,
        retry: RetryOptions {
            max_retries: 3,
            timeout: Duration::from_secs(10),
            ..RetryOptions::default()
        },
    }
}

/// A SeaweedFS location under `prefix`.
pub fn seaweedfs_location(prefix: &str) -> Location {
    Location::S3(seaweedfs(prefix))
}

fn raw_view(location: &Location) -> Arc<dyn ObjectStore> {
    match location {
        Location::Local(options) => {
            Arc::new(LocalFileSystem::new_with_prefix(&options.objects).unwrap())
        }
        Location::S3(options) => {
            let store = AmazonS3Builder::new()
                .with_endpoint(options.endpoint.clone().unwrap())
                .with_bucket_name(&options.bucket)
                .with_region(&options.region)
                .with_access_key_id(options.credentials.access_key_id.as_str())
                .with_secret_access_key(options.credentials.secret_access_key.as_str())
                .with_allow_http(true)
                .build()
                .unwrap();
            Arc::new(PrefixStore::new(
                store,
                options.prefix.as_ref().unwrap().as_str(),
            ))
        }
        Location::Remote(_) => unreachable!("tests use local or S3 stores"),
    }
}

impl Bucket {
    pub async fn new(backend: Backend) -> Bucket {
        match backend {
            Backend::Local => {
                let local = TestStore::new().await;
                let location = local.location().clone();
                Bucket {
                    store: local.store.clone(),
                    raw: raw_view(&location),
                    master: local.master().clone(),
                    location,
                    _local: Some(local),
                }
            }
            Backend::SeaweedFs => {
                let mut random = [0u8; 8];
                getrandom::fill(&mut random).unwrap();
                let location = seaweedfs_location(&format!("t-{}", hex::encode(random)));
                Bucket::open(location, MasterKey::generate().unwrap()).await
            }
        }
    }

    /// The same bucket opened again (by a child process, say).
    pub async fn open(location: Location, master: MasterKey) -> Bucket {
        let store = Store::open(&location, Sealing::Envelope(master.clone()))
            .await
            .unwrap();
        Bucket {
            store,
            raw: raw_view(&location),
            location,
            master,
            _local: None,
        }
    }

    /// The workload's scope, as the lead passes it.
    pub fn scope(&self) -> Scope {
        self.store
            .root()
            .scope(&ObjectKey::parse("workload/test").unwrap())
            .unwrap()
    }

    /// Every stored object's key and raw (sealed) bytes.
    pub async fn raw_objects(&self) -> Vec<(String, Vec<u8>)> {
        let listed: Vec<_> = self.raw.list(None).try_collect().await.unwrap();
        let mut objects = Vec::new();
        for meta in listed {
            let bytes = self
                .raw
                .get(&meta.location)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            objects.push((meta.location.to_string(), bytes.to_vec()));
        }
        objects
    }

    /// Writes raw (already sealed) bytes, as someone with bucket access could.
    pub async fn raw_put(&self, key: &str, bytes: Vec<u8>) {
        let path = object_store::path::Path::from(key);
        self.raw.put(&path, bytes.into()).await.unwrap();
    }

    /// How many file blobs the workload's scope holds.
    pub async fn blob_count(&self) -> usize {
        self.raw_objects()
            .await
            .iter()
            .filter(|(key, _)| key.contains("workload/test/blobs/"))
            .count()
    }
}

/// One machine's data directory.
pub struct Machine {
    pub data: tempfile::TempDir,
    pub holder: Holder,
}

impl Machine {
    pub fn new() -> Machine {
        let data = tempfile::tempdir().unwrap();
        let holder = Holder::load_or_create(&data.path().join("holder")).unwrap();
        Machine { data, holder }
    }

    /// A machine with the same holder id as `other` (its data directory
    /// copied to a new disk, or the same machine after a lost state dir).
    pub fn same_holder_as(other: &Machine) -> Machine {
        let data = tempfile::tempdir().unwrap();
        Machine {
            data,
            holder: other.holder.clone(),
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.data.path().join("state")
    }

    pub fn options(&self) -> SyncOptions {
        let mut options =
            SyncOptions::new(self.dir(), self.data.path().join("state.record"), OWNER);
        options.interval = Duration::from_millis(50);
        options.max_delay = Duration::from_millis(200);
        options
    }

    /// A sync with the lease taken.
    pub async fn sync(&self, bucket: &Bucket) -> StateSync {
        self.sync_with(bucket, self.options()).await
    }

    pub async fn sync_with(&self, bucket: &Bucket, options: SyncOptions) -> StateSync {
        let mut sync = StateSync::open(bucket.scope(), self.holder.clone(), options)
            .await
            .unwrap();
        sync.take_lease().await.unwrap();
        sync
    }

    pub fn write(&self, path: &str, content: &[u8]) {
        let full = self.dir().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    pub fn read(&self, path: &str) -> Vec<u8> {
        std::fs::read(self.dir().join(path)).unwrap()
    }
}

/// Every regular file under `dir` with its content, sorted, following nothing.
pub fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &Path, prefix: &str, found: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(&entry.path(), &format!("{name}/"), found);
            } else if kind.is_file() {
                found.push((name, std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, "", &mut found);
    found.sort();
    found
}

/// Runs an async test body on each backend.
#[macro_export]
macro_rules! on_each_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn local() {
                    super::$name($crate::support::Backend::Local).await
                }
                #[tokio::test]
                async fn seaweedfs() {
                    super::$name($crate::support::Backend::SeaweedFs).await
                }
            }
        )*
    };
}
