//! Packages from a real OCI registry (Debian's docker-registry over TLS
//! from a test CA), published as module artifacts with skopeo: pulled by
//! tag or by digest they verify exactly as the same file does; a changed
//! layer, an artifact of another type, another layer media type, two
//! layers, an oversized layer, a layer longer than its descriptor, an
//! unknown tag, a registry that is down, an untrusted certificate and a
//! missing credential are each refused, and the lock never changes. And
//! against a registry that lies (the testkit's `HostileRegistry`): a
//! manifest over its bound whatever its Content-Length says, a layer
//! shorter or longer than its descriptor whatever the registry says, a
//! manifest that is not the pinned digest, a redirect to another host (the
//! credential does not follow), a slow drip (the deadline ends it), and
//! text meant to act on the owner's terminal.

use chrono::Utc;
use hardshell_modules::{
    ARTIFACT_TYPE, Acceptance, MAX_PACKAGE_BYTES, ModuleError, PACKAGE_MEDIA_TYPE, Package,
    RegistryCredential, Source, SourceClient,
};
use hardshell_testkit::TestStore;
use hardshell_testkit::registry::hostile::{HostileRegistry, Reply};
use hardshell_testkit::registry::{
    Layout, MODULE_ARTIFACT_TYPE, MODULE_LAYER, Registry, artifact_manifest, free_port,
    module_manifest,
};

use crate::Fixture;

fn client(registry: &Registry) -> SourceClient {
    SourceClient::new(Some(registry.ca_pem.as_bytes())).unwrap()
}

async fn pull(client: &SourceClient, source: &str) -> Result<Package, ModuleError> {
    Ok(Source::parse(source)?.read(client).await?.package)
}

/// The error reading `source` from `registry` ends with.
async fn refused(registry: &Registry, source: &str) -> ModuleError {
    pull(&client(registry), source).await.expect_err("refused")
}

#[test]
fn the_testkit_publishes_the_types_the_crate_takes() {
    assert_eq!(MODULE_ARTIFACT_TYPE, ARTIFACT_TYPE);
    assert_eq!(MODULE_LAYER, PACKAGE_MEDIA_TYPE);
}

#[tokio::test]
async fn a_pushed_package_adds_exactly_as_the_same_file_does() {
    let registry = Registry::start();
    let fixture = Fixture::official();
    let bytes = fixture.package("web-search", "1.0.0");
    let pushed = registry.push_module(&bytes, "modules/web-search", "1.0.0");
    let client = client(&registry);

    let by_tag_text = format!("oci://{}:1.0.0", registry.repo("modules/web-search"));
    let by_tag = Source::parse(&by_tag_text).unwrap();
    let fetched = by_tag.read(&client).await.unwrap();
    assert_eq!(fetched.package.digest(), hardshell_modules::sha256(&bytes));
    assert_eq!(
        fetched.manifest.unwrap().to_string(),
        pushed.manifest.digest,
        "a tag resolves to the manifest pushed"
    );
    let recorded = fetched.recorded_source(&by_tag, &by_tag_text);
    assert_eq!(
        recorded,
        format!("{by_tag_text}@{}", pushed.manifest.digest)
    );

    // The recorded source, pinned by digest, pulls the same package.
    let pinned = pull(&client, &recorded).await.unwrap();
    assert_eq!(pinned.digest(), fetched.package.digest());
    let by_digest = format!(
        "oci://{}@{}",
        registry.repo("modules/web-search"),
        pushed.manifest.digest
    );
    assert_eq!(
        pull(&client, &by_digest).await.unwrap().digest(),
        fetched.package.digest()
    );

    // Verified and locked as the same file would be.
    let verified = fixture.policy().verify(fetched.package).unwrap();
    assert_eq!(verified.manifest().name.as_str(), "web-search");
    let store = TestStore::new().await;
    let modules = fixture.modules(&store);
    let locked = modules
        .add(
            &verified,
            &Acceptance::confirmed(&verified),
            &recorded,
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(locked.source, recorded);
    assert_eq!(locked.package, hardshell_modules::sha256(&bytes));
    modules.load(&locked.name).await.unwrap();
}

#[tokio::test]
async fn a_package_published_with_the_script_adds_as_the_file_does() {
    let registry = Registry::start();
    let fixture = Fixture::official();
    let bytes = fixture.package("web-search", "1.0.0");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web-search.tar");
    std::fs::write(&file, &bytes).unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/module-push.sh");
    let reference = format!("{}:1.0.0", registry.repo("modules/web-search"));
    let output = std::process::Command::new(script)
        .arg(&file)
        .arg(&reference)
        .arg("--dest-cert-dir")
        .arg(&registry.cert_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pinned = stdout
        .trim()
        .strip_prefix("pushed ")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(pinned.starts_with(&format!("oci://{reference}@sha256:")));
    let client = client(&registry);
    for source in [pinned.to_owned(), format!("oci://{reference}")] {
        let package = pull(&client, &source).await.unwrap();
        assert_eq!(package.digest(), hardshell_modules::sha256(&bytes));
        fixture.policy().verify(package).unwrap();
    }
}

#[tokio::test]
async fn a_layer_changed_in_the_registry_is_refused() {
    let registry = Registry::start();
    let fixture = Fixture::official();
    let bytes = fixture.package("web-search", "1.0.0");
    let pushed = registry.push_module(&bytes, "modules/web-search", "1");
    // Same length, other bytes: only the digest can tell.
    let mut changed = bytes.clone();
    let last = changed.len() - 1;
    changed[last] ^= 1;
    std::fs::write(registry.blob_data(&pushed.layer.digest), &changed).unwrap();
    let source = format!("oci://{}:1", registry.repo("modules/web-search"));
    let error = refused(&registry, &source).await;
    let ModuleError::Artifact { reference, detail } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(reference, &source);
    assert!(detail.contains("does not match its digest"), "{detail}");
    assert_eq!(
        error.refusal(),
        Some(hardshell_audit::event::ModuleRefusal::Source)
    );

    // Longer than its descriptor says: refused at the first byte too many.
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"more");
    std::fs::write(registry.blob_data(&pushed.layer.digest), &longer).unwrap();
    let error = refused(&registry, &source).await;
    let ModuleError::Artifact { detail, .. } = &error else {
        panic!("{error:?}");
    };
    assert!(detail.contains("its descriptor says"), "{detail}");
}

#[tokio::test]
async fn an_artifact_of_another_type_or_shape_is_refused() {
    let registry = Registry::start();
    let fixture = Fixture::official();
    let bytes = fixture.package("web-search", "1.0.0");
    let image_layer = "application/vnd.oci.image.layer.v1.tar";
    let cases: [(&str, &str, &[&str], &str); 4] = [
        (
            "other-type",
            "application/vnd.example.other.v1",
            &[MODULE_LAYER],
            "the artifact type is \"application/vnd.example.other.v1\"",
        ),
        (
            "image-layer",
            MODULE_ARTIFACT_TYPE,
            &[image_layer],
            "the layer's media type is \"application/vnd.oci.image.layer.v1.tar\"",
        ),
        (
            "two-layers",
            MODULE_ARTIFACT_TYPE,
            &[MODULE_LAYER, MODULE_LAYER],
            "the artifact has 2 layers; it must have exactly one",
        ),
        (
            "no-layers",
            MODULE_ARTIFACT_TYPE,
            &[],
            "the artifact has 0 layers",
        ),
    ];
    for (name, artifact_type, layers, said) in cases {
        registry.push_artifact(&format!("modules/{name}"), "1", |layout| {
            let layer = layout.blob(&bytes);
            let second = layout.blob(b"a second file");
            let descriptors: Vec<_> = layers
                .iter()
                .enumerate()
                .map(|(n, media_type)| if n == 0 { &layer } else { &second }.descriptor(media_type))
                .collect();
            (
                artifact_manifest(layout, artifact_type, &descriptors),
                layer,
            )
        });
        let error = refused(
            &registry,
            &format!("oci://{}:1", registry.repo(&format!("modules/{name}"))),
        )
        .await;
        let ModuleError::Artifact { detail, .. } = &error else {
            panic!("{name}: {error:?}");
        };
        assert!(detail.contains(said), "{name}: {detail}");
    }
}

#[tokio::test]
async fn a_layer_over_the_package_limit_is_refused_unread() {
    let registry = Registry::start();
    let over = vec![0u8; usize::try_from(MAX_PACKAGE_BYTES).unwrap() + 1];
    registry.push_module(&over, "modules/huge", "1");
    let error = refused(
        &registry,
        &format!("oci://{}:1", registry.repo("modules/huge")),
    )
    .await;
    let ModuleError::ArtifactTooLarge { detail, .. } = &error else {
        panic!("{error:?}");
    };
    assert!(
        detail.contains(&format!("larger than {MAX_PACKAGE_BYTES} bytes")),
        "{detail}"
    );
    assert_eq!(
        error.refusal(),
        Some(hardshell_audit::event::ModuleRefusal::Oversized)
    );
}

#[tokio::test]
async fn an_unknown_tag_a_registry_down_and_an_untrusted_certificate_are_named() {
    let registry = Registry::start();
    let fixture = Fixture::official();
    registry.push_module(
        &fixture.package("web-search", "1.0.0"),
        "modules/web-search",
        "1",
    );
    let unknown = format!("oci://{}:2", registry.repo("modules/web-search"));
    let error = refused(&registry, &unknown).await;
    let ModuleError::Registry { reference, detail } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(reference, &unknown);
    assert!(detail.contains("manifest not found"), "{detail}");
    // Nothing was served, so nothing is refused in the audit's sense.
    assert_eq!(error.refusal(), None);

    let down = format!("oci://127.0.0.1:{}/modules/web-search:1", free_port());
    let error = refused(&registry, &down).await;
    let ModuleError::Registry { detail, .. } = &error else {
        panic!("{error:?}");
    };
    assert!(detail.contains("request to https://127.0.0.1:"), "{detail}");

    let source = format!("oci://{}:1", registry.repo("modules/web-search"));
    // A pull outlasting the client's deadline is abandoned.
    let hurried = client(&registry).with_registry_deadline(std::time::Duration::from_nanos(1));
    let late = pull(&hurried, &source).await;
    let Err(ModuleError::Registry { detail, .. }) = &late else {
        panic!("{late:?}");
    };
    assert!(detail.contains("did not finish within"), "{detail}");
    let untrusted = pull(&SourceClient::new(None).unwrap(), &source).await;
    let Err(ModuleError::Registry { detail, .. }) = &untrusted else {
        panic!("{untrusted:?}");
    };
    assert!(detail.contains("certificate"), "{detail}");
}

#[tokio::test]
async fn a_registry_behind_basic_auth_needs_the_credential() {
    let registry = Registry::with_basic_auth("publisher", "s3cr3t-password");
    let fixture = Fixture::official();
    let bytes = fixture.package("web-search", "1.0.0");
    registry.push_module(&bytes, "modules/web-search", "1");
    let source = format!("oci://{}:1", registry.repo("modules/web-search"));

    let error = refused(&registry, &source).await;
    let ModuleError::Registry { detail, .. } = &error else {
        panic!("{error:?}");
    };
    assert!(detail.contains("refused the credentials"), "{detail}");

    let credential = RegistryCredential::from_secret(b"publisher:s3cr3t-password").unwrap();
    let with_credential = client(&registry).with_registry_credential(credential);
    assert!(!format!("{with_credential:?}").contains("s3cr3t"));
    let package = pull(&with_credential, &source).await.unwrap();
    assert_eq!(package.digest(), hardshell_modules::sha256(&bytes));

    let wrong = RegistryCredential::from_secret(b"publisher:wrong").unwrap();
    let error = pull(&client(&registry).with_registry_credential(wrong), &source)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ModuleError::Registry { detail, .. } if detail.contains("refused the credentials")),
        "{error:?}"
    );
    assert!(!error.to_string().contains("wrong"), "{error}");
}

/// A module artifact as a lying registry serves it: the manifest and its
/// one layer, with their digests.
struct Served {
    manifest: Vec<u8>,
    manifest_digest: String,
    layer: Vec<u8>,
    layer_digest: String,
}

impl Served {
    fn of(package: &[u8]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let (manifest, layer) = module_manifest(&layout, package);
        let manifest = manifest.to_string().into_bytes();
        Self {
            manifest_digest: hardshell_modules::sha256(&manifest).to_string(),
            manifest,
            layer: package.to_vec(),
            layer_digest: layer.digest,
        }
    }

    /// A registry answering `manifest` for any manifest it is asked for,
    /// `layer` for this layer, and 404 for anything else.
    fn lying(&self, manifest: Reply, layer: Reply) -> HostileRegistry {
        let blob = format!("/blobs/{}", self.layer_digest);
        HostileRegistry::start(move |seen| {
            if seen.path.contains("/manifests/") {
                manifest.clone()
            } else if seen.path.ends_with(&blob) {
                layer.clone()
            } else {
                Reply::status(404)
            }
        })
    }

    /// A registry answering honestly but for the layer: `layer`.
    fn lying_of_its_layer(&self, layer: Reply) -> HostileRegistry {
        self.lying(Reply::ok(self.manifest.clone()), layer)
    }
}

fn hostile_client(registries: &[&HostileRegistry]) -> SourceClient {
    let roots: String = registries.iter().map(|r| r.ca_pem.as_str()).collect();
    SourceClient::new(Some(roots.as_bytes())).unwrap()
}

/// `registry`'s module, by tag.
fn by_tag(registry: &HostileRegistry) -> String {
    format!("oci://{}:1", registry.repo("modules/web-search"))
}

#[tokio::test]
async fn a_manifest_over_the_bound_is_refused_whatever_its_length_says() {
    let served = Served::of(&Fixture::official().package("web-search", "1.0.0"));
    let endless = vec![b' '; 1 << 20];
    for (name, manifest) in [
        (
            "said to be too long",
            Reply::ok(Vec::new()).claiming_length(1 << 30),
        ),
        (
            "of no said length",
            Reply::ok(endless.clone()).without_length(),
        ),
    ] {
        let registry = served.lying(manifest, Reply::ok(served.layer.clone()));
        let error = pull(&hostile_client(&[&registry]), &by_tag(&registry))
            .await
            .expect_err(name);
        assert!(
            matches!(&error, ModuleError::ArtifactTooLarge { detail, .. } if detail.contains("larger than 65536 bytes")),
            "{name}: {error:?}"
        );
        assert_eq!(registry.seen().len(), 1, "{name}: the layer was asked for");
    }
    // Said to be short, it is read no further: what was read is no manifest.
    let registry = served.lying(
        Reply::ok(served.manifest.clone()).claiming_length(10),
        Reply::ok(served.layer.clone()),
    );
    let error = pull(&hostile_client(&[&registry]), &by_tag(&registry))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ModuleError::Artifact { detail, .. } if detail.contains("not valid JSON")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_layer_is_held_to_its_descriptor_whatever_the_registry_says() {
    let served = Served::of(&Fixture::official().package("web-search", "1.0.0"));
    let half = u64::try_from(served.layer.len() / 2).unwrap();
    let mut longer = served.layer.clone();
    longer.extend_from_slice(&[0; 1 << 20]);
    for (name, layer) in [
        (
            "said to be short",
            Reply::ok(served.layer.clone()).claiming_length(half),
        ),
        (
            "longer, of no said length",
            Reply::ok(longer).without_length(),
        ),
    ] {
        let registry = served.lying_of_its_layer(layer);
        let error = pull(&hostile_client(&[&registry]), &by_tag(&registry))
            .await
            .expect_err(name);
        assert!(
            matches!(&error, ModuleError::Artifact { detail, .. } if detail.contains("its descriptor says")),
            "{name}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_manifest_that_is_not_the_pinned_digest_is_refused() {
    let fixture = Fixture::official();
    let pinned = Served::of(&fixture.package("web-search", "1.0.0"));
    let other = Served::of(&fixture.package("web-search", "2.0.0"));
    let registry = other.lying_of_its_layer(Reply::ok(other.layer.clone()));
    let source = format!(
        "oci://{}@{}",
        registry.repo("modules/web-search"),
        pinned.manifest_digest
    );
    let error = pull(&hostile_client(&[&registry]), &source)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ModuleError::Artifact { detail, .. } if detail.contains("does not match its digest")),
        "{error:?}"
    );
    // By tag, the same registry's answer is taken: the digest is what pins.
    pull(&hostile_client(&[&registry]), &by_tag(&registry))
        .await
        .unwrap();
}

/// A registry that asks for Basic auth, serves `served`'s manifest, and
/// sends its layer to `to`, as registries send theirs to an object store.
fn redirecting(served: &Served, to: String) -> HostileRegistry {
    let (manifest, layer) = (served.manifest.clone(), served.layer_digest.clone());
    HostileRegistry::start(move |seen| match &seen.authorization {
        None => Reply::basic_challenge(),
        Some(_) if seen.path.ends_with(&layer) => Reply::redirect(&to),
        Some(_) => Reply::ok(manifest.clone()),
    })
}

fn credential() -> RegistryCredential {
    RegistryCredential::from_secret(b"publisher:s3cr3t-password").unwrap()
}

/// A signed download link: its query is its key.
const LINK: &str = "blob?X-Amz-Signature=signed-link-key";

#[tokio::test]
async fn a_layer_redirected_to_another_host_is_fetched_without_the_credential() {
    let served = Served::of(&Fixture::official().package("web-search", "1.0.0"));
    let layer = Reply::ok(served.layer.clone());
    let elsewhere = HostileRegistry::start(move |_| layer.clone());
    let registry = redirecting(&served, elsewhere.localhost_url(LINK));
    let client = hostile_client(&[&registry, &elsewhere]).with_registry_credential(credential());

    let package = pull(&client, &by_tag(&registry)).await.unwrap();
    assert_eq!(package.digest().to_string(), served.layer_digest);
    assert!(
        registry
            .seen()
            .iter()
            .any(|seen| seen.authorization.is_some())
    );
    let followed = elsewhere.seen();
    assert_eq!(followed.len(), 1, "{followed:?}");
    assert_eq!(followed[0].path, format!("/{LINK}"));
    assert_eq!(followed[0].authorization, None, "the credential followed");
}

#[tokio::test]
async fn no_error_shows_the_link_a_layer_was_redirected_to() {
    let served = Served::of(&Fixture::official().package("web-search", "1.0.0"));
    let nowhere = format!("https://localhost:{}/{LINK}", free_port());
    let registry = redirecting(&served, nowhere);
    let client = hostile_client(&[&registry]).with_registry_credential(credential());
    let error = pull(&client, &by_tag(&registry)).await.unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(
        matches!(&error, ModuleError::Registry { .. }) && shown.contains("/blobs/sha256:"),
        "{shown}"
    );
    assert!(!shown.contains("signed-link-key"), "{shown}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
}

#[tokio::test]
async fn a_registry_that_drips_is_abandoned_at_the_deadline() {
    let served = Served::of(&Fixture::official().package("web-search", "1.0.0"));
    // Each byte well within the client's wait for one; the whole, minutes.
    let registry = served.lying_of_its_layer(
        Reply::ok(served.layer.clone()).dripped(std::time::Duration::from_millis(50)),
    );
    let client =
        hostile_client(&[&registry]).with_registry_deadline(std::time::Duration::from_secs(2));
    let error = pull(&client, &by_tag(&registry)).await.unwrap_err();
    assert!(
        matches!(&error, ModuleError::Registry { detail, .. } if detail.contains("did not finish within 2 seconds")),
        "{error:?}"
    );
}

#[tokio::test]
async fn what_a_registry_writes_cannot_act_on_the_owners_terminal() {
    let served = Served::of(&Fixture::official().package("web-search", "1.0.0"));
    let mut manifest: serde_json::Value = serde_json::from_slice(&served.manifest).unwrap();
    manifest["artifactType"] = "\u{1b}]0;retitled\u{7}\u{1b}[2J\u{202e}gnp.exe".into();
    let registry = served.lying(
        Reply::ok(manifest.to_string()),
        Reply::ok(served.layer.clone()),
    );
    let error = pull(&hostile_client(&[&registry]), &by_tag(&registry))
        .await
        .unwrap_err();
    let shown = error.to_string();
    assert!(shown.contains("the artifact type is"), "{shown}");
    assert!(
        !shown.contains(['\u{1b}', '\u{7}', '\u{202e}']),
        "{shown:?}"
    );
}
