//! Test stores for each backend, each isolated under a fresh key prefix, plus raw
//! (unsealed) access to the same objects for tampering and inspection.

use std::sync::Arc;
use std::time::Duration;

use hardshell_storage::{
    LocalOptions, Location, MasterKey, ObjectKey, RetryOptions, S3Credentials, S3Options, Sealing,
    Store,
};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;
use zeroize::Zeroizing;

pub const BUCKET: &str = "hardshell-test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Local,
    SeaweedFs,
    Moto,
}

pub struct TestStore {
    pub location: Location,
    pub master: MasterKey,
    /// The same objects without hardshell's sealing, for inspection and tampering.
    pub raw: Arc<dyn ObjectStore>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    pub async fn new(backend: Backend) -> Self {
        let master = MasterKey::generate().unwrap();
        match backend {
            Backend::Local => {
                let dir = tempfile::tempdir().unwrap();
                let options = LocalOptions {
                    objects: dir.path().join("objects"),
                    locks: dir.path().join("locks"),
                };
                let location = Location::Local(options.clone());
                // Opening creates the directories the raw view needs.
                Store::open(&location, Sealing::Plaintext).await.unwrap();
                let raw = Arc::new(LocalFileSystem::new_with_prefix(&options.objects).unwrap());
                Self {
                    location,
                    master,
                    raw,
                    _dir: Some(dir),
                }
            }
            Backend::SeaweedFs | Backend::Moto => {
                let options = s3_options(backend, &unique_prefix());
                let raw = raw_s3(&options);
                Self {
                    location: Location::S3(options),
                    master,
                    raw,
                    _dir: None,
                }
            }
        }
    }

    pub async fn open(&self) -> Store {
        Store::open(&self.location, Sealing::Envelope(self.master.clone()))
            .await
            .unwrap()
    }

    pub async fn open_with(
        &self,
        sealing: Sealing,
    ) -> Result<Store, hardshell_storage::StorageError> {
        Store::open(&self.location, sealing).await
    }
}

pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the suite with scripts/test, which starts SeaweedFS and moto"
        )
    })
}

pub fn unique_prefix() -> String {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).unwrap();
    format!("t-{}", hex::encode(random))
}

pub fn s3_endpoint(backend: Backend) -> String {
    match backend {
        Backend::SeaweedFs => required_env("HARDSHELL_TEST_SEAWEEDFS"),
        Backend::Moto => required_env("HARDSHELL_TEST_MOTO"),
        Backend::Local => unreachable!("local has no endpoint"),
    }
}

pub fn s3_options(backend: Backend, prefix: &str) -> S3Options {
    let (key_id, secret) = match backend {
        Backend::SeaweedFs => (
            required_env("HARDSHELL_TEST_SEAWEEDFS_KEY_ID"),
            required_env("HARDSHELL_TEST_SEAWEEDFS_SECRET"),
        ),
        // moto accepts any credentials.
        _ => (
            "hardshell-test".to_owned(),
            "hardshell-test-secret".to_owned(),
        ),
    };
    S3Options {
        endpoint: Some(s3_endpoint(backend)),
        bucket: BUCKET.to_owned(),
        region: "us-east-1".to_owned(),
        path_style: true,
        prefix: Some(ObjectKey::parse(prefix).unwrap()),
        credentials: S3Credentials {
            access_key_id: Zeroizing::new(key_id),
            secret_access_key: Zeroizing::new(secret),
        },
        allow_http: false,
        retry: RetryOptions {
            max_retries: 3,
            timeout: Duration::from_secs(10),
            ..RetryOptions::default()
        },
    }
}

fn raw_s3(options: &S3Options) -> Arc<dyn ObjectStore> {
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

pub fn key(text: &str) -> ObjectKey {
    ObjectKey::parse(text).unwrap()
}
