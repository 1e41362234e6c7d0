//! A real local object store in a temporary directory, for this crate's tests.

use hardshell_storage::{LocalOptions, Location, MasterKey, ObjectKey, Scope, Sealing, Store};

pub(crate) struct TestStore {
    _dir: tempfile::TempDir,
    pub store: Store,
}

impl TestStore {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::Local(LocalOptions {
            objects: dir.path().join("objects"),
            locks: dir.path().join("locks"),
        });
        let store = Store::open(&location, Sealing::Envelope(MasterKey::generate().unwrap()))
            .await
            .unwrap();
        Self { _dir: dir, store }
    }

    pub fn scope(&self, name: &str) -> Scope {
        self.store
            .root()
            .scope(&ObjectKey::parse(name).unwrap())
            .unwrap()
    }
}
