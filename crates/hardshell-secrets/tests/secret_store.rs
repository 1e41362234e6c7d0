//! The secret store over a real (local) object store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hardshell_secrets::{PutOutcome, SecretName, SecretStore, SecretValue, SecretsError};
use hardshell_storage::{ObjectKey, Store};
use hardshell_testkit::TestStore;
use zeroize::Zeroizing;

const CANARY: &str = "sk-canary-value-that-must-never-be-shown-0451";

struct Fixture {
    test_store: TestStore,
    store: Store,
    secrets: SecretStore,
}

async fn fixture() -> Fixture {
    let test_store = TestStore::new().await;
    let secrets = SecretStore::new(test_store.scope("secrets"));
    Fixture {
        store: test_store.store.clone(),
        test_store,
        secrets,
    }
}

fn name(text: &str) -> SecretName {
    SecretName::parse(text).unwrap()
}

fn value(text: &str) -> SecretValue {
    SecretValue::new(Zeroizing::new(text.as_bytes().to_vec())).unwrap()
}

#[tokio::test]
async fn put_get_list_remove() {
    let f = fixture().await;
    assert_eq!(
        f.secrets.put(&name("A_KEY"), &value("one")).await.unwrap(),
        PutOutcome::Created
    );
    assert_eq!(
        f.secrets.put(&name("B_KEY"), &value("two")).await.unwrap(),
        PutOutcome::Created
    );
    let a = f.secrets.get(&name("A_KEY")).await.unwrap().unwrap();
    assert_eq!(a.expose(), b"one");

    let listed = f.secrets.list().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["A_KEY", "B_KEY"]);

    assert!(f.secrets.remove(&name("A_KEY")).await.unwrap());
    assert!(!f.secrets.remove(&name("A_KEY")).await.unwrap());
    assert!(f.secrets.get(&name("A_KEY")).await.unwrap().is_none());
    assert!(matches!(
        f.secrets.require(&name("A_KEY")).await,
        Err(SecretsError::NotFound { .. })
    ));
}

#[tokio::test]
async fn replacing_keeps_the_creation_time() {
    let f = fixture().await;
    f.secrets.put(&name("K"), &value("v1")).await.unwrap();
    let first = f.secrets.list().await.unwrap().remove(0);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(
        f.secrets.put(&name("K"), &value("v2")).await.unwrap(),
        PutOutcome::Replaced
    );
    let second = f.secrets.list().await.unwrap().remove(0);
    assert_eq!(second.created_at, first.created_at);
    assert!(second.updated_at > first.updated_at);
    assert_eq!(
        f.secrets.get(&name("K")).await.unwrap().unwrap().expose(),
        b"v2"
    );
}

#[tokio::test]
async fn values_never_show_in_debug_listings_or_errors() {
    let f = fixture().await;
    let canary = value(CANARY);
    f.secrets.put(&name("CANARY"), &canary).await.unwrap();
    let fetched = f.secrets.get(&name("CANARY")).await.unwrap();
    let listed = f.secrets.list().await.unwrap();
    let shown = format!("{canary:?} {fetched:?} {listed:?} {:?}", f.secrets);
    assert!(!shown.contains("canary-value"), "{shown}");

    // Damage the object: the error names the secret, not its value.
    let root = f.store.root();
    let key = ObjectKey::parse("secrets/CANARY").unwrap();
    root.put(&key, format!("not a header\n{CANARY}").as_bytes())
        .await
        .unwrap();
    let err = f.secrets.get(&name("CANARY")).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        shown.contains("CANARY") && !shown.contains("canary-value"),
        "{shown}"
    );
}

#[tokio::test]
async fn values_are_sealed_at_rest() {
    let f = fixture().await;
    f.secrets
        .put(&name("CANARY"), &value(CANARY))
        .await
        .unwrap();
    for entry in f.test_store.object_files() {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(12).any(|w| w == b"canary-value"),
            "{} holds the plaintext",
            entry.display()
        );
    }
}

#[tokio::test]
async fn bad_names_are_refused_before_touching_storage() {
    let f = fixture().await;
    for bad in ["../ESCAPE", "lower", "A/B", ""] {
        assert!(
            matches!(
                SecretName::parse(bad).map_err(SecretsError::from),
                Err(SecretsError::InvalidName { .. })
            ),
            "{bad}"
        );
    }
    assert!(f.store.root().list().await.unwrap().is_empty());
}

#[tokio::test]
async fn put_if_absent_keeps_the_first_value_and_returns_it() {
    let f = fixture().await;
    let first = f
        .secrets
        .put_if_absent(&name("ONCE"), &value("first"))
        .await
        .unwrap();
    assert_eq!(first.expose(), b"first");
    let second = f
        .secrets
        .put_if_absent(&name("ONCE"), &value("second"))
        .await
        .unwrap();
    assert_eq!(
        second.expose(),
        b"first",
        "an existing value is never replaced"
    );
    let stored = f.secrets.require(&name("ONCE")).await.unwrap();
    assert_eq!(stored.expose(), b"first");
}

#[tokio::test]
async fn concurrent_put_if_absent_agree_on_one_value() {
    let f = fixture().await;
    let (race, from_a, from_b) = (name("RACE"), value("from-a"), value("from-b"));
    let (a, b) = tokio::join!(
        f.secrets.put_if_absent(&race, &from_a),
        f.secrets.put_if_absent(&race, &from_b),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.expose(), b.expose(), "both creators see the one winner");
    let stored = f.secrets.require(&name("RACE")).await.unwrap();
    assert_eq!(stored.expose(), a.expose());
}

#[tokio::test]
async fn a_value_replaced_by_one_of_the_same_size_changes_the_fingerprint() {
    let f = fixture().await;
    f.secrets
        .put(&name("ROTATED"), &value("value-one-aaaa"))
        .await
        .unwrap();
    let before = f.secrets.fingerprint().await.unwrap();
    let file = f
        .test_store
        .object_files()
        .into_iter()
        .find(|path| path.to_string_lossy().contains("ROTATED"))
        .unwrap();
    let written = std::fs::metadata(&file).unwrap().modified().unwrap();
    f.secrets
        .put(&name("ROTATED"), &value("value-two-bbbb"))
        .await
        .unwrap();
    // As a store whose times are coarse (S3's are seconds) would show it:
    // the same size, the same time.
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(written)
        .unwrap();
    let after = f.secrets.fingerprint().await.unwrap();
    assert_ne!(before, after, "a rotation went unseen");
    // Reading it again changes nothing.
    assert_eq!(f.secrets.fingerprint().await.unwrap(), after);
}
