//! The local store on a disk that fills up, as an exec shell once filled the
//! disk holding `data/` (`cat /dev/zero > z0`): a write is refused with
//! [`StorageError::Full`], what was stored stays intact, and writes succeed
//! again once room is made.

use hardshell_storage::{LocalOptions, Location, Sealing, StorageError, Store};
use hardshell_testkit::SmallDisk;

use crate::support::key;

#[tokio::test]
async fn a_full_disk_refuses_writes_clearly_and_loses_nothing_stored() {
    let disk = SmallDisk::new(2);
    let location = Location::Local(LocalOptions {
        objects: disk.path.join("objects"),
        locks: disk.path.join("locks"),
    });
    let store = Store::open(&location, Sealing::Plaintext).await.unwrap();
    let root = store.root();
    let version = root.put(&key("chat/kept"), b"before").await.unwrap();
    // Every other stripe's lock file exists too, as after a while of use: a
    // lock file takes an inode, not a block, but make that plain.
    disk.fill();

    let error = root
        .put(&key("chat/new"), &[7u8; 64 * 1024])
        .await
        .unwrap_err();
    assert!(matches!(error, StorageError::Full { .. }), "{error}");
    assert!(error.is_full());
    assert!(error.to_string().contains("full"), "{error}");
    let error = root
        .update(&key("chat/kept"), &[8u8; 64 * 1024], &version)
        .await
        .unwrap_err();
    assert!(error.is_full(), "{error}");
    let kept = root.get(&key("chat/kept")).await.unwrap().unwrap();
    assert_eq!(kept.value.as_slice(), b"before");
    assert!(root.get(&key("chat/new")).await.unwrap().is_none());

    disk.free();
    root.put(&key("chat/new"), &[7u8; 64 * 1024]).await.unwrap();
    root.update(&key("chat/kept"), b"after", &version)
        .await
        .unwrap();
}
