#![allow(clippy::unwrap_used)]
use std::path::Path;

use hardshell_secrets::{SecretName, SecretValue};
use hardshell_storage::{LocalOptions, Location, MasterKey, ObjectKey, Sealing, Store};

use super::*;

/// An empty secret store in `dir`.
async fn secret_store(dir: &Path) -> SecretStore {
    let store = Store::open(
        &Location::Local(LocalOptions {
            objects: dir.join("objects"),
            locks: dir.join("locks"),
        }),
        Sealing::Envelope(MasterKey::generate().unwrap()),
    )
    .await
    .unwrap();
    SecretStore::new(
        store
            .root()
            .scope(&ObjectKey::parse("secrets").unwrap())
            .unwrap(),
    )
}

/// A config with one model provider whose key is `api_key`.
fn config(api_key: &str) -> LoadedConfig {
    let text = format!(
        "[llm]\nchain = [\"cloud/m\"]\n[llm.providers.cloud]\nkind = \"openai\"\n\
         base_url = \"https://api.example.test/v1\"\napi_key = \"{api_key}\"\n"
    );
    LoadedConfig::parse(&text, Path::new("/etc/hardshell/hardshell.toml")).unwrap()
}

// PATH is set wherever tests run, and long enough to be scanned for; no
// variable is changed.
fn path() -> String {
    std::env::var("PATH").unwrap()
}

#[tokio::test]
async fn a_credential_from_the_environment_is_in_the_leak_scan_under_its_config_key() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = secret_store(dir.path()).await;
    let loaded = config("env:PATH");
    let mut credentials = Credentials::new(&loaded, &secrets);
    let value = credentials
        .resolve("access.oidc.client_secret", &SecretRef::Env("PATH".into()))
        .await
        .unwrap();
    assert_eq!(*value, path());
    // A long key still makes a name the audit log accepts.
    let long = format!("llm.providers.{}.api_key", "p".repeat(80));
    credentials
        .resolve(&long, &SecretRef::Env("PATH".into()))
        .await
        .unwrap();
    assert!(
        credentials
            .from_env
            .iter()
            .all(|held| hardshell_secrets::SecretName::is_valid(held.name())),
        "{credentials:?}"
    );
    let scanner = credentials.scanner(Duration::ZERO).current().await;
    let found = scanner.find(format!("x {} y", path()).as_bytes()).unwrap();
    assert_eq!(found.name, "ACCESS_OIDC_CLIENT_SECRET");
}

#[tokio::test]
async fn a_credential_from_the_store_is_scanned_for_through_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = secret_store(dir.path()).await;
    let name = SecretName::parse("OIDC_SECRET").unwrap();
    let stored = "oidc-client-secret-0123456789";
    let value = SecretValue::new(Zeroizing::new(stored.as_bytes().to_vec())).unwrap();
    secrets.put(&name, &value).await.unwrap();
    let loaded = config("env:PATH");
    let mut credentials = Credentials::new(&loaded, &secrets);
    let read = credentials
        .resolve(
            "access.oidc.client_secret",
            &SecretRef::Secret(SecretName::parse("OIDC_SECRET").unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(*read, stored);
    // Not held twice: the store's listing shows it.
    assert!(credentials.from_env.is_empty());
    let scanner = credentials.scanner(Duration::ZERO).current().await;
    assert_eq!(scanner.find(stored.as_bytes()).unwrap().name, "OIDC_SECRET");
}

#[tokio::test]
async fn a_credential_stored_with_a_newline_is_scanned_for_as_it_is_used_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = secret_store(dir.path()).await;
    let name = SecretName::parse("OIDC_SECRET").unwrap();
    let used = "oidc-client-secret-0123456789";
    // A newline, and a vertical tab and a no-break space that Rust's
    // `trim` takes too.
    let stored = format!("  {used}\u{b}\u{a0}\n");
    let value = SecretValue::new(Zeroizing::new(stored.as_bytes().to_vec())).unwrap();
    secrets.put(&name, &value).await.unwrap();
    let loaded = config("env:PATH");
    let mut credentials = Credentials::new(&loaded, &secrets);
    let read = credentials
        .resolve(
            "access.oidc.client_secret",
            &SecretRef::Secret(SecretName::parse("OIDC_SECRET").unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(*read, used);
    let scanner = credentials.scanner(Duration::ZERO).current().await;
    // The value as it is used, without the whitespace it was stored with.
    let found = scanner
        .find(format!("token={used}&x=1").as_bytes())
        .unwrap();
    assert_eq!(found.name, "OIDC_SECRET");
}

#[tokio::test]
async fn a_missing_credential_names_its_key_and_source_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = secret_store(dir.path()).await;
    let loaded = config("env:PATH");
    let mut credentials = Credentials::new(&loaded, &secrets);
    let unset = credentials
        .resolve(
            "storage.s3.secret_access_key",
            &SecretRef::Env("HARDSHELL_TEST_SURELY_UNSET".into()),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        unset.contains("environment variable HARDSHELL_TEST_SURELY_UNSET is not set"),
        "{unset}"
    );
    let absent = credentials
        .resolve(
            "storage.s3.secret_access_key",
            &SecretRef::Secret(SecretName::parse("ABSENT").unwrap()),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(absent.contains("hardshell secret put ABSENT"), "{absent}");
    assert!(credentials.from_env.is_empty());
}

#[tokio::test]
async fn a_providers_key_is_in_the_leak_scan_under_its_placeholder_name() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = secret_store(dir.path()).await;
    let state = Store::open(
        &Location::Local(LocalOptions {
            objects: dir.path().join("state"),
            locks: dir.path().join("state-locks"),
        }),
        Sealing::Plaintext,
    )
    .await
    .unwrap();
    let name = SecretName::parse("CLOUD_KEY").unwrap();
    let key = "sk-cloud-key-0123456789";
    let value = SecretValue::new(Zeroizing::new(key.as_bytes().to_vec())).unwrap();
    secrets.put(&name, &value).await.unwrap();
    let loaded = config("secret:CLOUD_KEY");
    let mut credentials = Credentials::new(&loaded, &secrets);
    crate::gateway(&loaded, &mut credentials, &state)
        .await
        .unwrap();
    // Removed from the store since: the scan still has it as the key.
    secrets.remove(&name).await.unwrap();
    let scanner = credentials.scanner(Duration::ZERO).current().await;
    assert_eq!(scanner.find(key.as_bytes()).unwrap().name, "LLM_CLOUD");
}

#[tokio::test]
async fn a_providers_key_from_the_environment_is_found_as_its_placeholder_name() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = secret_store(dir.path()).await;
    let state = Store::open(
        &Location::Local(LocalOptions {
            objects: dir.path().join("state"),
            locks: dir.path().join("state-locks"),
        }),
        Sealing::Plaintext,
    )
    .await
    .unwrap();
    let loaded = config("env:PATH");
    let mut credentials = Credentials::new(&loaded, &secrets);
    crate::gateway(&loaded, &mut credentials, &state)
        .await
        .unwrap();
    // Held under its config key too; found under the name the agent knows.
    assert_eq!(
        credentials.from_env[0].name(),
        "LLM_PROVIDERS_CLOUD_API_KEY"
    );
    let scanner = credentials.scanner(Duration::ZERO).current().await;
    assert_eq!(scanner.find(path().as_bytes()).unwrap().name, "LLM_CLOUD");
}
