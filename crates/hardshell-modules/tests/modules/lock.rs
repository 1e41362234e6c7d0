//! The lock in a real sealed store: add, list, load, update, remove, and
//! what no change may slip past: an update without acceptance, a package
//! changed after locking, a key no longer trusted.

use chrono::Utc;
use hardshell_modules::{
    Acceptance, CapabilityDiff, Effect, MAX_FILE_BYTES, MAX_PACKAGE_BYTES, ModuleError, ModuleName,
};
use hardshell_storage::ObjectKey;
use hardshell_testkit::TestStore;
use hardshell_testkit::modules::{PLAIN_BODY, Publisher, WASM, digest, manifest};

use crate::Fixture;

fn name(text: &str) -> ModuleName {
    ModuleName::parse(text).unwrap()
}

/// The plain module with its host opened to any path and method, and a
/// second host: what an update must not slip in.
fn wider_body() -> String {
    PLAIN_BODY.replace(
        "hosts = [{ host = \"api.search.example\", methods = [\"GET\"], path_prefix = \"/v1/\" }]",
        "hosts = [{ host = \"api.search.example\" }, { host = \"collector.example\", port = 8443 }]",
    )
}

#[tokio::test]
async fn a_module_is_added_listed_loaded_updated_and_removed() {
    let store = TestStore::new().await;
    let fixture = Fixture::official();
    let modules = fixture.modules(&store);
    let verified = fixture
        .verify(fixture.package("web-search", "1.0.0"))
        .unwrap();
    let acceptance = Acceptance::confirmed(&verified);
    let locked = modules
        .add(&verified, &acceptance, "./web-search.tar", Utc::now())
        .await
        .unwrap();
    assert_eq!(locked.package, verified.digest());
    assert_eq!(locked.key_id.to_string(), fixture.publisher.key_id());
    assert_eq!(locked.capabilities, verified.manifest().capabilities);
    assert_eq!(modules.list().await.unwrap(), std::slice::from_ref(&locked));

    let loaded = modules.load(&name("web-search")).await.unwrap();
    assert_eq!(loaded.verified.digest(), locked.package);
    assert_eq!(
        loaded.verified.file("module.wasm"),
        Some(hardshell_testkit::modules::WASM)
    );

    let update = fixture
        .verify(fixture.package("web-search", "1.1.0"))
        .unwrap();
    let diff = CapabilityDiff::between(&locked, &update);
    assert!(!diff.widens(), "{diff:?}");
    assert_eq!(diff.changes.len(), 1);
    assert_eq!(diff.changes[0].effect, Effect::Neutral);
    let by_script = Acceptance::by_digest(&update, &update.digest().to_string()).unwrap();
    let updated = modules
        .update(
            &locked,
            &update,
            &by_script,
            "./web-search-1.1.tar",
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(updated.version, semver::Version::new(1, 1, 0));
    assert_eq!(
        modules.load(&name("web-search")).await.unwrap().locked,
        updated
    );
    // The replaced package is gone from the store; the new one is kept.
    let stored = packages(&store).await;
    assert_eq!(stored, [format!("{}.tar", updated.package.hex())]);

    let removed = modules.remove(&name("web-search")).await.unwrap();
    assert_eq!(removed, updated);
    assert!(modules.list().await.unwrap().is_empty());
    assert!(packages(&store).await.is_empty());
    assert!(matches!(
        modules.load(&name("web-search")).await,
        Err(ModuleError::NotLocked { .. })
    ));
    assert!(matches!(
        modules.remove(&name("web-search")).await,
        Err(ModuleError::NotLocked { .. })
    ));
}

async fn packages(store: &TestStore) -> Vec<String> {
    store
        .store
        .root()
        .scope(&ObjectKey::parse("modules/packages").unwrap())
        .unwrap()
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.key.as_str().to_owned())
        .collect()
}

#[tokio::test]
async fn an_acceptance_of_other_bytes_adds_nothing() {
    let store = TestStore::new().await;
    let fixture = Fixture::official();
    let modules = fixture.modules(&store);
    let reviewed = fixture
        .verify(fixture.package("web-search", "1.0.0"))
        .unwrap();
    // Signed again: same manifest, another signature, other package bytes.
    let other = fixture
        .verify(fixture.package("web-search", "1.0.0"))
        .unwrap();
    assert_ne!(reviewed.digest(), other.digest());
    let result = Acceptance::by_digest(&other, &reviewed.digest().to_string());
    assert!(
        matches!(result, Err(ModuleError::NotAccepted { .. })),
        "{result:?}"
    );
    let wrong = Acceptance::confirmed(&reviewed);
    let result = modules.add(&other, &wrong, "x", Utc::now()).await;
    assert!(
        matches!(result, Err(ModuleError::NotAccepted { .. })),
        "{result:?}"
    );
    assert!(modules.list().await.unwrap().is_empty());
    assert!(packages(&store).await.is_empty());
}

#[tokio::test]
async fn an_update_that_widens_is_shown_as_such_and_without_acceptance_leaves_the_lock() {
    let store = TestStore::new().await;
    let fixture = Fixture::official();
    let modules = fixture.modules(&store);
    let first = fixture
        .verify(fixture.package("web-search", "1.0.0"))
        .unwrap();
    let locked = modules
        .add(&first, &Acceptance::confirmed(&first), "a", Utc::now())
        .await
        .unwrap();
    let wider = fixture
        .verify(fixture.package_with("web-search", "1.1.0", &wider_body()))
        .unwrap();
    let diff = CapabilityDiff::between(&locked, &wider);
    assert!(diff.widens());
    let texts: Vec<String> = diff.changes.iter().map(ToString::to_string).collect();
    assert!(
        texts.contains(
            &"+ adds host https://collector.example:8443 any path, any method".to_owned()
        ),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("+ changes host https://api.search.example:443")),
        "{texts:?}"
    );
    // The first package's acceptance does not carry over to the second.
    let result = modules
        .update(
            &locked,
            &wider,
            &Acceptance::confirmed(&first),
            "b",
            Utc::now(),
        )
        .await;
    assert!(
        matches!(result, Err(ModuleError::NotAccepted { .. })),
        "{result:?}"
    );
    assert_eq!(modules.list().await.unwrap(), std::slice::from_ref(&locked));
    assert_eq!(
        modules.load(&name("web-search")).await.unwrap().locked,
        locked
    );
}

#[tokio::test]
async fn a_narrower_update_says_it_narrows() {
    let store = TestStore::new().await;
    let fixture = Fixture::official();
    let modules = fixture.modules(&store);
    let wide = fixture.package_with("web-search", "1.0.0", &wider_body());
    let locked = fixture.add(&modules, wide).await;
    let narrow = fixture
        .verify(fixture.package("web-search", "1.0.1"))
        .unwrap();
    let diff = CapabilityDiff::between(&locked, &narrow);
    assert!(!diff.widens(), "{diff:?}");
    assert!(diff.changes.iter().any(|c| c.effect == Effect::Narrows));
}

#[tokio::test]
async fn a_package_changed_in_the_store_after_locking_does_not_load() {
    let store = TestStore::new().await;
    let fixture = Fixture::official();
    let modules = fixture.modules(&store);
    let locked = fixture
        .add(&modules, fixture.package("web-search", "1.0.0"))
        .await;
    // Another validly signed package put in the locked one's place.
    let swapped = fixture.package_with("web-search", "1.0.0", &wider_body());
    let key = ObjectKey::parse(&format!("modules/packages/{}.tar", locked.package.hex())).unwrap();
    store.store.root().put(&key, &swapped).await.unwrap();
    let result = modules.load(&name("web-search")).await;
    assert!(
        matches!(&result, Err(ModuleError::PackageChanged { locked: l, .. }) if *l == locked.package),
        "{result:?}"
    );
    store.store.root().delete(&key).await.unwrap();
    assert!(matches!(
        modules.load(&name("web-search")).await,
        Err(ModuleError::PackageMissing { .. })
    ));
}

#[tokio::test]
async fn a_module_whose_key_is_no_longer_trusted_or_official_does_not_load() {
    let store = TestStore::new().await;
    let mut fixture = Fixture::official();
    fixture
        .add(
            &fixture.modules(&store),
            fixture.package("web-search", "1.0.0"),
        )
        .await;
    fixture.config.trusted_keys[0].official = false;
    let result = fixture.modules(&store).load(&name("web-search")).await;
    assert!(
        matches!(result, Err(ModuleError::Unofficial { .. })),
        "{result:?}"
    );
    fixture.config.trusted_keys.clear();
    let result = fixture.modules(&store).load(&name("web-search")).await;
    assert!(
        matches!(result, Err(ModuleError::KeyChanged { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_module_does_not_load_once_its_key_is_replaced_under_the_same_id_and_name() {
    let store = TestStore::new().await;
    let mut fixture = Fixture::official();
    fixture
        .add(
            &fixture.modules(&store),
            fixture.package("web-search", "1.0.0"),
        )
        .await;
    let impostor = Publisher::claiming(&fixture.publisher);
    fixture.config.trusted_keys[0].key = impostor.public_key();
    let result = fixture.modules(&store).load(&name("web-search")).await;
    assert!(
        matches!(result, Err(ModuleError::BadSignature { ref key_name }) if key_name == "example"),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_second_add_of_one_name_and_an_update_after_the_lock_moved_are_refused() {
    let store = TestStore::new().await;
    let fixture = Fixture::official();
    let modules = fixture.modules(&store);
    let locked = fixture
        .add(&modules, fixture.package("web-search", "1.0.0"))
        .await;
    let again = fixture
        .verify(fixture.package("web-search", "2.0.0"))
        .unwrap();
    let result = modules
        .add(&again, &Acceptance::confirmed(&again), "b", Utc::now())
        .await;
    assert!(
        matches!(result, Err(ModuleError::AlreadyAdded { .. })),
        "{result:?}"
    );
    modules
        .update(
            &locked,
            &again,
            &Acceptance::confirmed(&again),
            "b",
            Utc::now(),
        )
        .await
        .unwrap();
    // An update reviewed against 1.0.0, accepted after 2.0.0 was locked.
    let late = fixture
        .verify(fixture.package("web-search", "1.5.0"))
        .unwrap();
    let result = modules
        .update(
            &locked,
            &late,
            &Acceptance::confirmed(&late),
            "c",
            Utc::now(),
        )
        .await;
    assert!(
        matches!(result, Err(ModuleError::LockMoved { .. })),
        "{result:?}"
    );
    assert_eq!(
        modules.list().await.unwrap()[0].version,
        semver::Version::new(2, 0, 0)
    );
    // And an update of one module by another's package is refused.
    let other = fixture.verify(fixture.package("fetch", "1.0.0")).unwrap();
    let current = modules.list().await.unwrap().remove(0);
    let result = modules
        .update(
            &current,
            &other,
            &Acceptance::confirmed(&other),
            "d",
            Utc::now(),
        )
        .await;
    assert!(
        matches!(result, Err(ModuleError::OtherModule { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_lock_entry_edited_to_claim_less_than_its_package_does_not_load() {
    let store = TestStore::new().await;
    let fixture = Fixture::official();
    let modules = fixture.modules(&store);
    let wide = fixture.package_with("web-search", "1.0.0", &wider_body());
    fixture.add(&modules, wide).await;
    // The stored package is untouched; only what the lock says was
    // accepted is rewritten, each field in its turn.
    let edits: [(&str, serde_json::Value); 4] = [
        (
            "capabilities",
            serde_json::json!({"memory_mb": 1, "timeout_ms": 1}),
        ),
        ("tools", serde_json::json!([])),
        ("key_id", serde_json::json!("0123456789ABCDEF")),
        ("key", serde_json::json!(digest(b"another key"))),
    ];
    let key = ObjectKey::parse("modules/lock").unwrap();
    let original = store.store.root().get(&key).await.unwrap().unwrap().value;
    for (field, value) in edits {
        let mut lock: serde_json::Value = serde_json::from_slice(&original).unwrap();
        lock["modules"]["web-search"][field] = value;
        let edited = serde_json::to_vec(&lock).unwrap();
        store.store.root().put(&key, &edited).await.unwrap();
        let result = modules.load(&name("web-search")).await;
        assert!(
            matches!(
                (field, &result),
                (
                    "capabilities",
                    Err(ModuleError::AcceptedChanged {
                        what: "capabilities",
                        ..
                    })
                ) | (
                    "tools",
                    Err(ModuleError::AcceptedChanged { what: "tools", .. })
                ) | ("key_id" | "key", Err(ModuleError::KeyChanged { .. }))
            ),
            "{field}: {result:?}"
        );
    }
    store.store.root().put(&key, &original).await.unwrap();
    modules.load(&name("web-search")).await.unwrap();
}

#[tokio::test]
async fn a_package_at_the_size_limit_is_locked_and_loads() {
    let store = TestStore::new().await;
    let fixture = Fixture::official();
    let modules = fixture.modules(&store);
    let half = vec![7u8; usize::try_from(MAX_FILE_BYTES).unwrap() - 8 * 1024];
    let files: &[(&str, &[u8])] = &[("module.wasm", WASM), ("a.bin", &half), ("b.bin", &half)];
    let mut bytes = fixture
        .publisher
        .package(&manifest("web-search", "1.0.0", PLAIN_BODY, files), files);
    // Zeros after the archive's end: read past by the tar reader, and
    // counted in the size like every other byte.
    bytes.resize(usize::try_from(MAX_PACKAGE_BYTES).unwrap(), 0);
    // The store seals what it keeps, which adds its envelope: the largest
    // package must still be one it gives back.
    fixture.add(&modules, bytes).await;
    modules.load(&name("web-search")).await.unwrap();
}
