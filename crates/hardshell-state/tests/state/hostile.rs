//! The directory is written by a hostile workload.

use std::os::unix::fs::FileTypeExt as _;

use std::os::unix::ffi::OsStrExt as _;

use hardshell_state::{Limits, Prepared, Pushed, Skipped, StateError};

use crate::on_each_backend;
use crate::support::{Backend, Bucket, Machine, files};

on_each_backend!(
    a_symlink_out_of_the_directory_is_never_followed_on_read,
    a_planted_symlink_is_never_followed_on_restore,
    special_files_are_skipped,
    past_a_bound_nothing_is_published,
    the_stored_objects_hold_no_plaintext,
);

const OUTSIDE_SECRET: &[u8] = b"host secret 5e1f0c that must never be uploaded";

async fn a_symlink_out_of_the_directory_is_never_followed_on_read(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("shadow"), OUTSIDE_SECRET).unwrap();
    let machine = Machine::new();
    machine.write("ok", b"fine");
    std::os::unix::fs::symlink(
        outside.path().join("shadow"),
        machine.dir().join("file-link"),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path(), machine.dir().join("dir-link")).unwrap();
    let mut sync = machine.sync(&bucket).await;
    sync.restore_if_needed().await.unwrap();

    // Only the one real file was uploaded; the links are links.
    assert_eq!(bucket.blob_count().await, 1);
    sync.release().await.unwrap();
    let fresh = Machine::new();
    let mut sync = fresh.sync(&bucket).await;
    sync.restore_if_needed().await.unwrap();
    let link = std::fs::symlink_metadata(fresh.dir().join("dir-link")).unwrap();
    assert!(link.file_type().is_symlink());
    assert_eq!(
        std::fs::read_link(fresh.dir().join("file-link")).unwrap(),
        outside.path().join("shadow")
    );
    assert_eq!(
        files(&fresh.dir()),
        vec![("ok".to_owned(), b"fine".to_vec())]
    );
}

async fn a_planted_symlink_is_never_followed_on_restore(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let first = Machine::new();
    first.write("sessions/s1", b"session");
    first.write("openclaw.json", b"config");
    let mut sync = first.sync(&bucket).await;
    sync.restore_if_needed().await.unwrap();
    sync.release().await.unwrap();

    // The workload left links where the restore will write.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("keep"), b"untouched").unwrap();
    let second = Machine::new();
    std::fs::create_dir_all(second.dir()).unwrap();
    std::os::unix::fs::symlink(outside.path(), second.dir().join("sessions")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("keep"),
        second.dir().join("openclaw.json"),
    )
    .unwrap();
    let mut sync = second.sync(&bucket).await;
    let prepared = sync.restore_if_needed().await.unwrap();
    assert!(
        matches!(prepared, Prepared::SetAside { .. }),
        "{prepared:?}"
    );
    assert_eq!(files(&second.dir()), files(&first.dir()));
    assert!(
        std::fs::symlink_metadata(second.dir().join("sessions"))
            .unwrap()
            .is_dir()
    );
    let outside_now: Vec<_> = std::fs::read_dir(outside.path()).unwrap().collect();
    assert_eq!(outside_now.len(), 1, "nothing written outside");
    assert_eq!(
        std::fs::read(outside.path().join("keep")).unwrap(),
        b"untouched"
    );
}

async fn special_files_are_skipped(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let machine = Machine::new();
    machine.write("ok", b"fine");
    let fifo = machine.dir().join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let _socket = std::os::unix::net::UnixListener::bind(machine.dir().join("sock")).unwrap();
    let mut sync = machine.sync(&bucket).await;
    // Would block forever if the fifo were opened for reading.
    sync.restore_if_needed().await.unwrap();
    // A name that is not UTF-8 cannot be kept in the manifest: counted too.
    let odd = std::ffi::OsStr::from_bytes(b"odd-\xff-name");
    std::fs::write(machine.dir().join(odd), b"x").unwrap();
    assert_eq!(sync.sync_once().await.unwrap(), Pushed::Unchanged);
    assert_eq!(
        sync.skipped(),
        Skipped {
            special: 2,
            unnamed: 1
        }
    );
    sync.release().await.unwrap();

    let fresh = Machine::new();
    let mut sync = fresh.sync(&bucket).await;
    assert_eq!(
        sync.restore_if_needed().await.unwrap(),
        Prepared::Restored {
            generation: 1,
            files: 1
        }
    );
    let names: Vec<_> = std::fs::read_dir(fresh.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["ok"]);
}

async fn past_a_bound_nothing_is_published(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let machine = Machine::new();
    machine.write("a", b"0123456789");
    let mut options = machine.options();
    options.limits = Limits {
        max_files: 3,
        max_total_bytes: 25,
        max_file_bytes: 15,
        max_manifest_bytes: 4096,
    };
    let mut sync = machine.sync_with(&bucket, options).await;
    sync.restore_if_needed().await.unwrap();
    let generation = || async {
        let listing = hardshell_state::operator::list(&bucket.scope())
            .await
            .unwrap();
        listing.current.unwrap().generation
    };
    assert_eq!(generation().await, 1);

    machine.write("big", b"0123456789abcdef");
    assert!(matches!(
        sync.sync_once().await,
        Err(StateError::FileTooLarge {
            size: 16,
            limit: 15,
            ..
        })
    ));
    std::fs::remove_file(machine.dir().join("big")).unwrap();
    machine.write("b", b"0123456789");
    machine.write("c", b"0123456789");
    assert!(matches!(
        sync.sync_once().await,
        Err(StateError::TooLarge { limit: 25 })
    ));
    std::fs::remove_file(machine.dir().join("c")).unwrap();
    for name in ["d", "e", "f"] {
        machine.write(name, b"x");
    }
    assert!(matches!(
        sync.sync_once().await,
        Err(StateError::TooManyFiles { limit: 3 })
    ));
    assert_eq!(generation().await, 1, "the previous generation is intact");
    assert_eq!(bucket.blob_count().await, 1, "nothing partial was uploaded");

    for name in ["d", "e", "f"] {
        std::fs::remove_file(machine.dir().join(name)).unwrap();
    }
    // Few entries, but one long enough to outgrow the manifest's bound.
    let link = machine.dir().join("link");
    std::os::unix::fs::symlink("x".repeat(4000), &link).unwrap();
    assert!(matches!(
        sync.sync_once().await,
        Err(StateError::ManifestTooLarge { limit: 4096, .. })
    ));
    std::fs::remove_file(&link).unwrap();
    assert!(sync.sync_once().await.is_ok());
    assert_eq!(generation().await, 2);
}

async fn the_stored_objects_hold_no_plaintext(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let machine = Machine::new();
    let marker = b"paired-channel-token-7c1d93ab55";
    machine.write("credentials/telegram-name-4411.json", marker);
    let mut sync = machine.sync(&bucket).await;
    sync.restore_if_needed().await.unwrap();
    let snapshot = hardshell_state::operator::snapshot(&bucket.scope(), "before").await;
    snapshot.unwrap();

    let objects = bucket.raw_objects().await;
    assert!(
        objects.len() >= 4,
        "blob, manifest, lease, snapshot: {}",
        objects.len()
    );
    let sha = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(marker))
    };
    for (key, bytes) in &objects {
        for needle in [&marker[..], b"telegram-name-4411", sha.as_bytes()] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{key} holds plaintext"
            );
            assert!(!key.contains(&*String::from_utf8_lossy(needle)), "{key}");
        }
    }
}
