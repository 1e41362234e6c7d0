//! A sealed local object store in a temporary directory.

use std::path::{Path, PathBuf};

use hardshell_storage::{LocalOptions, Location, MasterKey, ObjectKey, Scope, Sealing, Store};

/// A local store under envelope sealing with a fresh master key, in a
/// temporary directory that lives as long as the value.
pub struct TestStore {
    /// The store, opened once.
    pub store: Store,
    location: Location,
    master: MasterKey,
    objects: PathBuf,
    dir: tempfile::TempDir,
}

impl TestStore {
    /// A store whose objects and locks lie in its own temporary directory.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_owned();
        Self::in_dir(dir, &data).await
    }

    /// A store whose objects and locks lie under `data`, a disk of the test's
    /// choosing (a [`SmallDisk`](crate::SmallDisk)); the temporary directory
    /// is made all the same, for the test's other files.
    pub async fn on(data: &Path) -> Self {
        Self::in_dir(tempfile::tempdir().unwrap(), data).await
    }

    async fn in_dir(dir: tempfile::TempDir, data: &Path) -> Self {
        let options = LocalOptions {
            objects: data.join("objects"),
            locks: data.join("locks"),
        };
        let objects = options.objects.clone();
        let location = Location::Local(options);
        let master = MasterKey::generate().unwrap();
        let store = Store::open(&location, Sealing::Envelope(master.clone()))
            .await
            .unwrap();
        Self {
            store,
            location,
            master,
            objects,
            dir,
        }
    }

    /// The temporary directory, for files beside the store (sockets, configs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where the sealed objects lie on disk, for "nothing in plaintext" checks.
    pub fn objects(&self) -> &Path {
        &self.objects
    }

    /// Every file under [`objects`](Self::objects), found anew each call.
    pub fn object_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, found);
                } else {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.objects, &mut found);
        found
    }

    /// The scope `name` (a key such as `agent` or `auth/passkey`) of the store.
    pub fn scope(&self, name: &str) -> Scope {
        self.store
            .root()
            .scope(&ObjectKey::parse(name).unwrap())
            .unwrap()
    }

    /// Where the store lives, for a child process that opens it itself.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The store's master key, for a child process that opens it itself.
    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// The same store opened again with the same key, as a restarted process
    /// (or a second one) would.
    pub async fn reopen(&self) -> Store {
        Store::open(&self.location, Sealing::Envelope(self.master.clone()))
            .await
            .unwrap()
    }
}
