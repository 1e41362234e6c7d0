//! Pulls from a real registry over TLS, and from an OCI layout.

use std::os::unix::fs::PermissionsExt as _;

use hardshell_image::{
    Digest, DigestOf, ImageError, ImageRef, ImageStore, Owner, PullEvent, PullOptions,
    RegistryClient, RegistryCredential, UnpackLimits,
};

use crate::support::layout::{Layout, OCI_INDEX, OCI_MANIFEST, busybox_layers, image};
use hardshell_testkit::registry::Registry;

pub fn open_store(dir: &std::path::Path) -> ImageStore {
    ImageStore::open(
        &dir.join("images"),
        Owner::current(),
        UnpackLimits::default(),
    )
    .unwrap()
}

fn client(registry: &Registry) -> RegistryClient {
    RegistryClient::new(Some(registry.ca_pem.as_bytes())).unwrap()
}

pub async fn pull(
    store: &ImageStore,
    client: &RegistryClient,
    reference: &str,
    credential: Option<&RegistryCredential>,
) -> Result<hardshell_image::PulledImage, ImageError> {
    let mut options = PullOptions::new(client);
    options.credential = credential;
    let mut events = Vec::new();
    let result = store
        .pull(&ImageRef::parse(reference).unwrap(), &options, &mut |e| {
            events.push(e)
        })
        .await;
    if let Ok(pulled) = &result {
        assert!(events.contains(&PullEvent::Resolved {
            digest: pulled.resolved
        }));
    }
    result
}

/// A layout holding one busybox image tagged `v1`.
pub fn busybox_layout(dir: &std::path::Path, marker: &str) -> (Layout, String) {
    let mut layout = Layout::new(dir);
    let manifest = image(&layout, "amd64", &busybox_layers(marker));
    layout.tag("v1", &manifest, OCI_MANIFEST);
    (layout, manifest.digest)
}

fn assert_busybox_root(pulled: &hardshell_image::PulledImage, marker: &str) {
    let root = &pulled.root;
    assert_eq!(
        std::fs::read(root.join("bin/busybox")).unwrap(),
        std::fs::read("/bin/busybox").unwrap()
    );
    assert_eq!(
        std::fs::read_link(root.join("bin/sh")).unwrap(),
        std::path::Path::new("busybox")
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/image")).unwrap(),
        marker
    );
    assert!(
        !root.join("etc/old").exists(),
        "the upper layer's whiteout was not applied"
    );
    let config = &pulled.config;
    assert_eq!(config.entrypoint, ["/bin/sh"]);
    assert_eq!(config.cmd, ["-c", "echo hello"]);
    assert_eq!(config.working_dir.as_deref(), Some("/srv"));
    assert_eq!(config.exposed_ports[0].port, 18789);
    assert_eq!(config.user.as_deref(), Some("1000"));
    // The root's busybox runs.
    let out = std::process::Command::new(root.join("bin/busybox"))
        .args(["echo", "ran"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"ran\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_by_digest_anonymously_and_look_it_up_offline() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, manifest) = busybox_layout(&dir.path().join("layout"), "anon");
    let registry = Registry::start();
    registry.push(&layout.dir, "v1", "team/app");
    let store = open_store(dir.path());
    let mode = std::fs::metadata(store.dir()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the store must be private to its owner");
    let reference = format!("{}@{manifest}", registry.repo("team/app"));
    let pulled = pull(&store, &client(&registry), &reference, None)
        .await
        .unwrap();
    assert_eq!(pulled.resolved.to_string(), manifest);
    assert_eq!(pulled.manifest.to_string(), manifest);
    assert_busybox_root(&pulled, "anon");
    drop(registry);
    let found = store
        .lookup(&pulled.manifest)
        .unwrap()
        .expect("pulled image is found offline");
    assert_eq!(found.root, pulled.root);
    assert_eq!(found.config, pulled.config);
    assert!(store.lookup(&Digest::of(b"other")).unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_credentials_are_needed_and_a_wrong_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, manifest) = busybox_layout(&dir.path().join("layout"), "auth");
    let registry = Registry::with_basic_auth("puller", "right-pass-7f3a");
    registry.push(&layout.dir, "v1", "private/app");
    let store = open_store(dir.path());
    let client = client(&registry);
    let reference = format!("{}@{manifest}", registry.repo("private/app"));

    let err = pull(&store, &client, &reference, None).await.unwrap_err();
    assert!(matches!(err, ImageError::Unauthorized { .. }), "{err}");
    let wrong = RegistryCredential::from_secret(b"puller:wrong-pass-9c1d").unwrap();
    let err = pull(&store, &client, &reference, Some(&wrong))
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::Unauthorized { .. }), "{err}");
    assert!(!format!("{err} {err:?}").contains("wrong-pass-9c1d"));
    assert!(store.list().unwrap().is_empty());

    let right = RegistryCredential::from_secret(b"puller:right-pass-7f3a").unwrap();
    let pulled = pull(&store, &client, &reference, Some(&right))
        .await
        .unwrap();
    assert_busybox_root(&pulled, "auth");
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_token_flow_anonymous_and_with_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, manifest) = busybox_layout(&dir.path().join("layout"), "bearer");
    let registry = Registry::with_token_auth("pusher", "token-pass-3e8b");
    registry.push(&layout.dir, "v1", "team/app");
    let issued = || {
        registry
            .token
            .as_ref()
            .unwrap()
            .issued
            .load(std::sync::atomic::Ordering::SeqCst)
    };
    let client = client(&registry);
    let reference = format!("{}@{manifest}", registry.repo("team/app"));

    // Anonymous: the token service grants pull, as ghcr.io does for public images.
    let before = issued();
    let store = open_store(dir.path());
    let pulled = pull(&store, &client, &reference, None).await.unwrap();
    assert_busybox_root(&pulled, "bearer");
    assert!(issued() > before, "no token was asked for");

    // A wrong credential is refused by the token service.
    let dir2 = tempfile::tempdir().unwrap();
    let store2 = open_store(dir2.path());
    let wrong = RegistryCredential::from_secret(b"pusher:bad-pass-51c0").unwrap();
    let err = pull(&store2, &client, &reference, Some(&wrong))
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::Unauthorized { .. }), "{err}");
    assert!(!format!("{err} {err:?}").contains("bad-pass-51c0"));
    assert!(store2.list().unwrap().is_empty());

    // The right one gets a token and the image.
    let right = RegistryCredential::from_secret(b"pusher:token-pass-3e8b").unwrap();
    let pulled = pull(&store2, &client, &reference, Some(&right))
        .await
        .unwrap();
    assert_eq!(pulled.resolved.to_string(), manifest);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_http_token_realm_is_never_contacted() {
    let dir = tempfile::tempdir().unwrap();
    let realm = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    realm.set_nonblocking(true).unwrap();
    let registry =
        Registry::with_token_realm(&format!("http://{}/token", realm.local_addr().unwrap()));
    let store = open_store(dir.path());
    let credential = RegistryCredential::from_secret(b"user:http-pass-0d4e").unwrap();
    let reference = format!("{}:v1", registry.repo("team/app"));
    let err = pull(&store, &client(&registry), &reference, Some(&credential))
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::Request { .. }), "{err}");
    assert!(!format!("{err} {err:?}").contains("http-pass-0d4e"));
    // Nothing connected to the plain-HTTP realm: the credential never left.
    assert_eq!(
        realm.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_arch_index_resolves_to_this_platform() {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&dir.path().join("layout"));
    let amd64 = image(&layout, "amd64", &busybox_layers("amd64"));
    let arm64 = image(&layout, "arm64", &busybox_layers("arm64"));
    let s390x = image(&layout, "s390x", &busybox_layers("s390x"));
    let (here, other) = match std::env::consts::ARCH {
        "x86_64" => (&amd64, &arm64),
        "aarch64" => (&arm64, &amd64),
        other => panic!("no test image for {other}"),
    };
    let index = layout.index(&[
        (&s390x, "s390x"),
        (
            other,
            if here.digest == amd64.digest {
                "arm64"
            } else {
                "amd64"
            },
        ),
        (
            here,
            if here.digest == amd64.digest {
                "amd64"
            } else {
                "arm64"
            },
        ),
    ]);
    layout.tag("multi", &index, OCI_INDEX);
    let registry = Registry::start();
    registry.push(&layout.dir, "multi", "team/multi");
    let store = open_store(dir.path());
    let reference = format!("{}:multi@{}", registry.repo("team/multi"), index.digest);
    let pulled = pull(&store, &client(&registry), &reference, None)
        .await
        .unwrap();
    assert_eq!(pulled.resolved.to_string(), index.digest);
    assert_eq!(pulled.manifest.to_string(), here.digest);
    let marker = std::fs::read_to_string(pulled.root.join("etc/image")).unwrap();
    assert_eq!(
        marker,
        if here.digest == amd64.digest {
            "amd64"
        } else {
            "arm64"
        }
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tag_only_reference_is_resolved_and_its_digest_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, manifest) = busybox_layout(&dir.path().join("layout"), "tagged");
    let registry = Registry::start();
    registry.push(&layout.dir, "v1", "team/app");
    let store = open_store(dir.path());
    let reference = format!("{}:v1", registry.repo("team/app"));
    assert!(!ImageRef::parse(&reference).unwrap().is_pinned());
    let pulled = pull(&store, &client(&registry), &reference, None)
        .await
        .unwrap();
    assert_eq!(pulled.resolved.to_string(), manifest);
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].reference, reference);
    assert_eq!(listed[0].resolved.to_string(), manifest);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_digest_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, manifest) = busybox_layout(&dir.path().join("layout"), "tampered");
    let registry = Registry::start();
    registry.push(&layout.dir, "v1", "team/app");
    let store = open_store(dir.path());
    let client = client(&registry);

    // A digest the registry does not have.
    let absent = format!(
        "{}@{}",
        registry.repo("team/app"),
        Digest::of(b"not this image")
    );
    let err = pull(&store, &client, &absent, None).await.unwrap_err();
    assert!(matches!(err, ImageError::NotFound { .. }), "{err}");

    // A layer the registry serves altered (same size, other bytes).
    let manifest_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.blob_path(&manifest)).unwrap()).unwrap();
    let layer = manifest_json["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let data = registry.blob_data(&layer);
    let mut bytes = std::fs::read(&data).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();
    let reference = format!("{}@{manifest}", registry.repo("team/app"));
    let err = pull(&store, &client, &reference, None).await.unwrap_err();
    match &err {
        ImageError::DigestMismatch { expected, .. } => assert_eq!(expected.to_string(), layer),
        other => panic!("expected a digest mismatch, got {other}"),
    }
    let images = store.dir();
    let layer_hex = layer.strip_prefix("sha256:").unwrap();
    assert!(
        !images.join("blobs/sha256").join(layer_hex).exists(),
        "the altered layer was stored"
    );
    assert!(
        !images
            .join("blobs/sha256")
            .join(manifest.strip_prefix("sha256:").unwrap())
            .exists()
    );
    assert_eq!(std::fs::read_dir(images.join("roots")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(images.join("tmp")).unwrap().count(), 0);
    assert!(store.list().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn oci_layout_pull_works_offline_and_checks_digests() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, manifest) = busybox_layout(&dir.path().join("layout"), "layout");
    let store = open_store(dir.path());
    // No registry, but the client is still needed; it is never used for oci:.
    let client = RegistryClient::new(None).unwrap();
    let reference = format!("oci:{}:v1@{manifest}", layout.dir.display());
    let pulled = pull(&store, &client, &reference, None).await.unwrap();
    assert_busybox_root(&pulled, "layout");

    // The same layout with a layer altered on disk is refused.
    let dir2 = tempfile::tempdir().unwrap();
    let (layout2, manifest2) = busybox_layout(&dir2.path().join("layout"), "layout-altered");
    let manifest_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout2.blob_path(&manifest2)).unwrap()).unwrap();
    let layer = manifest_json["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut bytes = std::fs::read(layout2.blob_path(&layer)).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(layout2.blob_path(&layer), bytes).unwrap();
    let store2 = open_store(dir2.path());
    let reference = format!("oci:{}@{manifest2}", layout2.dir.display());
    let err = pull(&store2, &client, &reference, None).await.unwrap_err();
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
    assert!(store2.list().unwrap().is_empty());
}
