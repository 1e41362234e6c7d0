//! `hardshell image pull|ls|verify|prune` on an OCI layout (the air-gapped
//! path; registry pulls are tested in hardshell-image against a real registry).

use std::path::Path;
use std::process::Command;

use hardshell_image::{Digest, DigestOf};
use hardshell_testkit::instance::Instance;
use serde_json::json;

/// Writes `bytes` as a blob of the layout; returns its descriptor fields.
fn blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let digest = Digest::of(bytes);
    std::fs::write(layout.join("blobs/sha256").join(digest.hex()), bytes).unwrap();
    (digest.to_string(), bytes.len())
}

/// A one-layer busybox image, tagged `v1`; returns its manifest digest.
fn busybox_layout(dir: &Path) -> String {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    let layer = dir.join("layer.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&layer)
        .arg("-C")
        .arg(&rootfs)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let layout = dir.join("layout");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let (layer_digest, layer_size) = blob(&layout, &std::fs::read(&layer).unwrap());
    let config =
        json!({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/busybox", "sh"]}});
    let (config_digest, config_size) = blob(&layout, config.to_string().as_bytes());
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_size}]});
    let (manifest_digest, manifest_size) = blob(&layout, manifest.to_string().as_bytes());
    let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest, "size": manifest_size,
        "annotations": {"org.opencontainers.image.ref.name": "v1"}}]});
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    manifest_digest
}

#[test]
fn pull_ls_verify_prune_an_oci_layout() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let dir = tempfile::tempdir().unwrap();
    let digest = busybox_layout(dir.path());
    let layout = dir.path().join("layout");
    let reference = format!("oci:{}:v1@{digest}", layout.display());

    let run = hs.run(&["image", "pull", &reference]).ok();
    assert!(
        run.stdout.contains(&format!("digest {digest}")),
        "{}",
        run.stdout
    );
    let root = hs.path(&format!(
        "data/images/roots/{}",
        digest.trim_start_matches("sha256:")
    ));
    assert_eq!(
        std::fs::read(root.join("bin/busybox")).unwrap(),
        std::fs::read("/bin/busybox").unwrap()
    );

    let run = hs.run(&["image", "ls"]).ok();
    assert!(
        run.stdout.contains(&reference) && run.stdout.contains(&digest),
        "{}",
        run.stdout
    );
    let run = hs.run(&["image", "verify"]).ok();
    assert!(
        run.stdout.contains("ok: 3 blobs and 1 roots verified"),
        "{}",
        run.stdout
    );

    // A tag-only pull works and says what to pin.
    let unpinned = format!("oci:{}:v1", layout.display());
    let run = hs.run(&["image", "pull", &unpinned]).ok();
    assert!(
        run.stderr.contains(&format!("{unpinned}@{digest}")),
        "{}",
        run.stderr
    );

    // Tampering with the root is found.
    let busybox = root.join("bin/busybox");
    std::fs::remove_file(&busybox).unwrap();
    std::fs::write(&busybox, b"#!/bin/sh\necho owned\n").unwrap();
    let run = hs.run(&["image", "verify"]);
    assert!(!run.status.success());
    assert!(
        run.stdout.contains("changed: bin/busybox"),
        "{}",
        run.stdout
    );

    let run = hs.run(&["image", "prune"]).ok();
    assert!(
        run.stdout.contains("pruned 0 blobs, 0 roots"),
        "{}",
        run.stdout
    );
}

#[test]
fn wrong_digest_and_missing_credential_secret_are_refused() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let dir = tempfile::tempdir().unwrap();
    busybox_layout(dir.path());
    let layout = dir.path().join("layout");
    // The tag names one manifest, the pin another.
    let wrong = format!(
        "oci:{}:v1@{}",
        layout.display(),
        Digest::of(b"something else")
    );
    let line = hs.run(&["image", "pull", &wrong]).failed_with_one_line();
    assert!(line.contains("OCI layout"), "{line}");
    let run = hs.run(&["image", "ls"]).ok();
    assert!(run.stdout.contains("no images"), "{}", run.stdout);

    let line = hs
        .run(&[
            "image",
            "pull",
            "ghcr.io/openclaw/openclaw:1",
            "--credential",
            "secret:GHCR",
        ])
        .failed_with_one_line();
    assert!(line.contains("no secret named GHCR"), "{line}");

    // A malformed credential is refused without showing it.
    hs.run_with_stdin(&["secret", "put", "GHCR"], b"no-colon-canary-77aa")
        .ok();
    let line = hs
        .run(&[
            "image",
            "pull",
            "ghcr.io/openclaw/openclaw:1",
            "--credential",
            "secret:GHCR",
        ])
        .failed_with_one_line();
    assert!(
        line.contains("user:password") && !line.contains("canary-77aa"),
        "{line}"
    );
}
