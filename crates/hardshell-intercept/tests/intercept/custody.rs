//! The CA in a real (local, sealed) secret store: created once, loaded after
//! that, replaced by a rotation, its key never shown.

use std::sync::Arc;

use crate::support::{client_trusting, dns, handshake, tls_error};
use hardshell_intercept::{CA_SECRET, EgressCa, InstallId, InterceptError, LeafIssuer};
use hardshell_secrets::{SecretName, SecretStore, SecretValue};
use hardshell_testkit::TestStore;
use rustls::CertificateError;
use zeroize::Zeroizing;

fn id() -> InstallId {
    InstallId::parse("home").unwrap()
}

fn secret_name() -> SecretName {
    SecretName::parse(CA_SECRET).unwrap()
}

/// The stored key's PEM, as only the store's owner can read it.
async fn stored_key_pem(secrets: &SecretStore) -> String {
    let stored = secrets.require(&secret_name()).await.unwrap();
    let text = stored.expose_str().unwrap();
    let start = text.find("-----BEGIN PRIVATE KEY-----").unwrap();
    text[start..].to_owned()
}

/// The base64 lines of a PEM block, without its markers.
fn pem_body_lines(pem: &str) -> Vec<&str> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .collect()
}

#[tokio::test]
async fn load_or_create_creates_once_and_then_loads_the_same_ca() {
    let test_store = TestStore::new().await;
    let secrets = SecretStore::new(test_store.scope("secrets"));
    let first = EgressCa::load_or_create(&secrets, &id()).await.unwrap();
    let again = EgressCa::load_or_create(&secrets, &id()).await.unwrap();
    assert_eq!(first.fingerprint(), again.fingerprint());
    assert_eq!(first.ca_pem(), again.ca_pem());

    // A restarted process (the store opened again) loads the same CA too.
    let reopened = SecretStore::new(
        test_store
            .reopen()
            .await
            .root()
            .scope(&hardshell_storage::ObjectKey::parse("secrets").unwrap())
            .unwrap(),
    );
    let loaded = EgressCa::load_or_create(&reopened, &id()).await.unwrap();
    assert_eq!(first.fingerprint(), loaded.fingerprint());
}

#[tokio::test]
async fn two_edges_creating_at_once_get_one_ca() {
    let test_store = TestStore::new().await;
    let a = SecretStore::new(test_store.scope("secrets"));
    let b = SecretStore::new(test_store.scope("secrets"));
    let (id_a, id_b) = (id(), id());
    let (ca_a, ca_b) = tokio::join!(
        EgressCa::load_or_create(&a, &id_a),
        EgressCa::load_or_create(&b, &id_b)
    );
    let (ca_a, ca_b) = (ca_a.unwrap(), ca_b.unwrap());
    assert_eq!(ca_a.fingerprint(), ca_b.fingerprint());
    let stored = EgressCa::load_or_create(&a, &id()).await.unwrap();
    assert_eq!(stored.fingerprint(), ca_a.fingerprint());
}

#[tokio::test]
async fn the_stored_key_is_sealed_on_disk() {
    let test_store = TestStore::new().await;
    let secrets = SecretStore::new(test_store.scope("secrets"));
    EgressCa::load_or_create(&secrets, &id()).await.unwrap();
    let key_pem = stored_key_pem(&secrets).await;
    let mut files = 0;
    for entry in test_store.object_files() {
        files += 1;
        let bytes = std::fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("PRIVATE KEY"), "{}", entry.display());
        for line in pem_body_lines(&key_pem) {
            assert!(!text.contains(line), "{}", entry.display());
        }
    }
    assert!(files > 0, "the CA was stored somewhere");
}

#[tokio::test]
async fn rotate_gives_a_new_ca_whose_leaves_the_old_anchor_refuses() {
    let test_store = TestStore::new().await;
    let secrets = SecretStore::new(test_store.scope("secrets"));
    let old = EgressCa::load_or_create(&secrets, &id()).await.unwrap();
    let new = Arc::new(EgressCa::rotate(&secrets, &id()).await.unwrap());
    assert_ne!(old.fingerprint(), new.fingerprint());
    let loaded = EgressCa::load_or_create(&secrets, &id()).await.unwrap();
    assert_eq!(
        loaded.fingerprint(),
        new.fingerprint(),
        "the rotation is stored"
    );

    let issuer = Arc::new(LeafIssuer::new(new.clone()));
    let refused = handshake(
        issuer.clone(),
        client_trusting(old.ca_pem(), true),
        dns("api.example.test"),
    )
    .await;
    let client = refused.client.unwrap_err();
    assert!(
        matches!(
            tls_error(&client),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::BadSignature
            ))
        ),
        "client: {client:?}"
    );
    let accepted = handshake(
        issuer,
        client_trusting(new.ca_pem(), true),
        dns("api.example.test"),
    )
    .await;
    assert_eq!(accepted.client.unwrap(), b"hello from the broker");
}

#[tokio::test]
async fn debug_of_the_ca_and_issuer_never_shows_the_key() {
    let test_store = TestStore::new().await;
    let secrets = SecretStore::new(test_store.scope("secrets"));
    let ca = Arc::new(EgressCa::load_or_create(&secrets, &id()).await.unwrap());
    let issuer = LeafIssuer::new(ca.clone());
    issuer.leaf_for(Some("api.example.test")).unwrap();
    let key_pem = stored_key_pem(&secrets).await;
    let shown = format!("{ca:?} {ca:#?} {issuer:?} {issuer:#?}");
    assert!(shown.contains(ca.fingerprint()), "{shown}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    let lines = pem_body_lines(&key_pem);
    assert!(!lines.is_empty());
    for line in lines {
        assert!(!shown.contains(line), "{shown}");
    }
}

#[tokio::test]
async fn an_unreadable_stored_ca_is_an_error_not_a_silent_replacement() {
    let test_store = TestStore::new().await;
    let secrets = SecretStore::new(test_store.scope("secrets"));
    let garbage = SecretValue::new(Zeroizing::new(b"not a CA".to_vec())).unwrap();
    secrets.put(&secret_name(), &garbage).await.unwrap();
    let error = EgressCa::load_or_create(&secrets, &id()).await.unwrap_err();
    assert!(
        matches!(error, InterceptError::StoredCa { .. }),
        "{error:?}"
    );
    let still = secrets.require(&secret_name()).await.unwrap();
    assert_eq!(still.expose(), b"not a CA", "nothing was overwritten");
}

#[tokio::test]
async fn a_stored_key_that_is_not_the_certificates_is_refused() {
    let test_store = TestStore::new().await;
    let secrets = SecretStore::new(test_store.scope("secrets"));
    let one = EgressCa::generate(&id()).unwrap();
    EgressCa::load_or_create(&secrets, &id()).await.unwrap();
    let key_pem = stored_key_pem(&secrets).await;
    // One CA's certificate with another's key.
    let mixed = format!("{}{}", one.ca_pem(), key_pem);
    let mixed = SecretValue::new(Zeroizing::new(mixed.into_bytes())).unwrap();
    secrets.put(&secret_name(), &mixed).await.unwrap();
    let error = EgressCa::load_or_create(&secrets, &id()).await.unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("not the certificate's"), "{shown}");
    for line in pem_body_lines(&key_pem) {
        assert!(!shown.contains(line), "{shown}");
    }
}

/// How often the rotation watch looks, in these tests.
const EVERY: std::time::Duration = std::time::Duration::from_millis(20);

/// An edge's CA as it runs: loaded from a real store, its trust files
/// written under `trust_dir`, an issuer made from it.
struct Running {
    _store: TestStore,
    secrets: SecretStore,
    _dir: tempfile::TempDir,
    trust_dir: std::path::PathBuf,
    trust: hardshell_intercept::TrustFiles,
    issuer: Arc<LeafIssuer>,
}

impl Running {
    async fn new() -> Self {
        let store = TestStore::new().await;
        let secrets = SecretStore::new(store.scope("secrets"));
        let ca = EgressCa::load_or_create(&secrets, &id()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let trust_dir = dir.path().join("trust");
        let trust = hardshell_intercept::TrustFiles::write(&trust_dir, &ca, &[]).unwrap();
        Self {
            _store: store,
            secrets,
            _dir: dir,
            trust_dir,
            trust,
            issuer: Arc::new(LeafIssuer::new(Arc::new(ca))),
        }
    }

    /// Starts the rotation watch, as `up` does.
    fn watch(&self) {
        tokio::spawn(hardshell_intercept::follow_rotations(
            self.issuer.clone(),
            self.secrets.clone(),
            self.trust.clone(),
            Vec::new(),
            EVERY,
        ));
    }

    /// Waits (at most 5 s) until the issuer issues from `rotated`, then
    /// checks the trust files were written for it.
    async fn took_up(&self, rotated: &EgressCa) {
        let replaced = async {
            while self.issuer.ca().fingerprint() != rotated.fingerprint() {
                tokio::time::sleep(EVERY).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), replaced)
            .await
            .expect("the rotation is taken up");
        assert_eq!(
            std::fs::read_to_string(&self.trust.ca).unwrap(),
            rotated.ca_pem()
        );
    }
}

#[tokio::test]
async fn a_rotation_takes_effect_in_a_running_edge_files_first() {
    let edge = Running::new().await;
    edge.watch();
    let old = edge.issuer.ca();
    let rotated = EgressCa::rotate(&edge.secrets, &id()).await.unwrap();
    edge.took_up(&rotated).await;
    assert!(
        !std::fs::read_to_string(&edge.trust.bundle)
            .unwrap()
            .contains(old.ca_pem())
    );
    // The new CA's leaves, trusted by a client of the new CA only.
    let outcome = handshake(
        edge.issuer.clone(),
        client_trusting(rotated.ca_pem(), true),
        dns("api.example.com"),
    )
    .await;
    assert_eq!(outcome.client.unwrap(), b"hello from the broker");
}

/// The race a CI run met: the store rotated after the edge loaded its CA
/// and before the watch first ran. The watch took its baseline then, so it
/// saw no change and the old CA stayed in use.
#[tokio::test]
async fn a_rotation_before_the_watch_first_runs_is_taken_up() {
    let edge = Running::new().await;
    let rotated = EgressCa::rotate(&edge.secrets, &id()).await.unwrap();
    edge.watch();
    edge.took_up(&rotated).await;
}

#[tokio::test]
async fn a_removed_ca_is_not_remade_by_the_rotation_watch() {
    let edge = Running::new().await;
    let kept = edge.issuer.ca().fingerprint().to_owned();
    edge.watch();
    tokio::time::sleep(EVERY * 2).await;
    assert!(edge.secrets.remove(&secret_name()).await.unwrap());
    // Several checks later: the store still has none, the issuer its CA.
    tokio::time::sleep(EVERY * 10).await;
    assert!(EgressCa::load(&edge.secrets).await.unwrap().is_none());
    assert_eq!(edge.issuer.ca().fingerprint(), kept);
}

#[tokio::test]
async fn a_rotation_that_could_not_be_taken_up_is_tried_again_until_it_is() {
    let edge = Running::new().await;
    edge.watch();
    tokio::time::sleep(EVERY * 2).await;
    // The trust files cannot be written: their directory is a file now.
    std::fs::remove_dir_all(&edge.trust_dir).unwrap();
    std::fs::write(&edge.trust_dir, "in the way").unwrap();
    let rotated = EgressCa::rotate(&edge.secrets, &id()).await.unwrap();
    tokio::time::sleep(EVERY * 10).await;
    assert_ne!(edge.issuer.ca().fingerprint(), rotated.fingerprint());
    // Cleared, with no further change to the store: taken up all the same.
    std::fs::remove_file(&edge.trust_dir).unwrap();
    edge.took_up(&rotated).await;
}
