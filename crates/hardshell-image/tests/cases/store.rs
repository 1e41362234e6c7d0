//! `verify` and `prune` on a store filled by real pulls (from OCI layouts).

use std::os::unix::fs::PermissionsExt;

use hardshell_image::RegistryClient;

use super::pull::{busybox_layout, open_store, pull};
use crate::support::layout::{OCI_MANIFEST, busybox_layers, image};

#[tokio::test(flavor = "multi_thread")]
async fn verify_detects_a_tampered_blob_and_a_tampered_root_file() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, manifest) = busybox_layout(&dir.path().join("layout"), "verify");
    let store = open_store(dir.path());
    let client = RegistryClient::new(None).unwrap();
    let pulled = pull(
        &store,
        &client,
        &format!("oci:{}@{manifest}", layout.dir.display()),
        None,
    )
    .await
    .unwrap();
    let report = store.verify().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.roots_checked, 1);

    // A stored blob altered.
    let blob = store
        .dir()
        .join("blobs/sha256")
        .join(pulled.config_digest.hex());
    std::fs::write(&blob, b"{}").unwrap();
    // A file in the root altered (the store made it read-only; an attacker
    // with the store's uid would chmod it first).
    let file = pulled.root.join("etc/image");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&file, b"changed").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();

    let report = store.verify().unwrap();
    assert!(!report.is_clean());
    assert_eq!(report.bad_blobs.len(), 1);
    assert_eq!(report.bad_roots.len(), 1);
    assert_eq!(report.bad_roots[0].0, pulled.manifest);
    assert_eq!(report.bad_roots[0].1, ["etc/image"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_removes_only_what_no_reference_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let (mut layout, first) = busybox_layout(&dir.path().join("layout"), "first");
    let store = open_store(dir.path());
    let client = RegistryClient::new(None).unwrap();
    let reference = format!("oci:{}:v1", layout.dir.display());
    let old = pull(&store, &client, &reference, None).await.unwrap();
    assert_eq!(old.resolved.to_string(), first);
    assert!(store.prune().unwrap().removed_blobs.is_empty());

    // Move the tag to another image and pull again: the first is orphaned.
    let second = image(&layout, "amd64", &busybox_layers("second"));
    layout.tag("v1", &second, OCI_MANIFEST);
    let new = pull(&store, &client, &reference, None).await.unwrap();
    assert_eq!(new.resolved.to_string(), second.digest);

    let report = store.prune().unwrap();
    assert_eq!(report.removed_roots, [old.manifest]);
    // The old manifest and its first layer (the marker differs); the config
    // and the whiteout-only upper layer are the same in both and stay.
    let old_manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.blob_path(&first)).unwrap()).unwrap();
    let old_layer: hardshell_image::Digest = old_manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut expected = vec![old.manifest, old_layer];
    expected.sort();
    assert_eq!(report.removed_blobs, expected);
    assert!(!old.root.exists());
    assert!(new.root.join("bin/busybox").exists());
    assert!(store.verify().unwrap().is_clean());
    assert!(store.lookup(&new.manifest).unwrap().is_some());
    assert!(store.lookup(&old.manifest).unwrap().is_none());

    // Forgetting the last reference lets prune take everything.
    let reference = hardshell_image::ImageRef::parse(&reference).unwrap();
    assert!(store.forget(&reference).unwrap());
    assert!(!store.forget(&reference).unwrap());
    let report = store.prune().unwrap();
    assert_eq!(report.removed_roots, [new.manifest]);
    assert!(!new.root.exists());
    assert_eq!(
        std::fs::read_dir(store.dir().join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
}
