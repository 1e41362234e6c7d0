//! The capability diff an update is reviewed by: each kind of change, and
//! whether it widens what was accepted.

use hardshell_modules::{CapabilityDiff, Effect, LockedModule};
use hardshell_testkit::TestStore;
use hardshell_testkit::modules::{PLAIN_BODY, Publisher, WASM, manifest};

use crate::Fixture;

const HOST: &str =
    "hosts = [{ host = \"api.search.example\", methods = [\"GET\"], path_prefix = \"/v1/\" }]";

/// The plain module locked, then the diff to the same module with `body`.
async fn diff_to(body: &str) -> CapabilityDiff {
    let fixture = Fixture::official();
    let locked = lock(&fixture).await;
    let update = fixture
        .verify(fixture.package_with("web-search", "1.0.0", body))
        .unwrap();
    CapabilityDiff::between(&locked, &update)
}

async fn lock(fixture: &Fixture) -> LockedModule {
    let store = TestStore::new().await;
    let plain = fixture.package("web-search", "1.0.0");
    fixture.add(&fixture.modules(&store), plain).await
}

fn effects(diff: &CapabilityDiff) -> Vec<(Effect, String)> {
    diff.changes
        .iter()
        .map(|c| (c.effect, c.text.clone()))
        .collect()
}

#[tokio::test]
async fn fewer_methods_or_a_longer_path_prefix_narrow_and_the_reverse_widens() {
    let narrower = PLAIN_BODY.replace(HOST, "hosts = [{ host = \"api.search.example\", methods = [\"GET\"], path_prefix = \"/v1/search\" }]");
    assert_eq!(effects(&diff_to(&narrower).await)[0].0, Effect::Narrows);
    for wider in [
        "hosts = [{ host = \"api.search.example\", methods = [\"GET\", \"POST\"], path_prefix = \"/v1/\" }]",
        "hosts = [{ host = \"api.search.example\", path_prefix = \"/v1/\" }]",
        "hosts = [{ host = \"api.search.example\", methods = [\"GET\"], path_prefix = \"/\" }]",
        "hosts = [{ host = \"api.search.example\", methods = [\"GET\"] }]",
        "hosts = [{ host = \"api.search.example\", methods = [\"GET\"], path_prefix = \"/v2/\" }]",
    ] {
        let diff = diff_to(&PLAIN_BODY.replace(HOST, wider)).await;
        assert!(diff.widens(), "{wider}: {diff:?}");
    }
}

#[tokio::test]
async fn the_public_web_added_widens_and_says_so() {
    let body = PLAIN_BODY.replace(HOST, &format!("{HOST}\npublic_web = true"));
    let diff = diff_to(&body).await;
    assert_eq!(
        effects(&diff),
        [(
            Effect::Widens,
            "adds reading any public web page (GET and HEAD of any host)".to_owned()
        )]
    );
}

#[tokio::test]
async fn another_port_is_another_host_added_and_the_old_one_dropped() {
    let body = PLAIN_BODY.replace(
        HOST,
        "hosts = [{ host = \"api.search.example\", port = 8443, methods = [\"GET\"], path_prefix = \"/v1/\" }]",
    );
    // The secret must stay bound to a declared host: it is, by name.
    let diff = diff_to(&body).await;
    let texts: Vec<String> = diff.changes.iter().map(ToString::to_string).collect();
    assert!(
        texts.contains(
            &"+ adds host https://api.search.example:8443 paths under /v1/, methods GET".to_owned()
        ),
        "{texts:?}"
    );
    assert!(
        texts.contains(
            &"- drops host https://api.search.example:443 paths under /v1/, methods GET".to_owned()
        ),
        "{texts:?}"
    );
    assert!(diff.widens());
}

#[tokio::test]
async fn limits_workspace_secrets_and_tools_each_say_which_way_they_go() {
    let cases: Vec<(String, Effect)> = vec![
        (
            PLAIN_BODY.replace("memory_mb = 64", "memory_mb = 128"),
            Effect::Widens,
        ),
        (
            PLAIN_BODY.replace("memory_mb = 64", "memory_mb = 32"),
            Effect::Narrows,
        ),
        (
            PLAIN_BODY.replace("timeout_ms = 5000", "timeout_ms = 60000"),
            Effect::Widens,
        ),
        (
            PLAIN_BODY.replace("workspace = \"none\"", "workspace = \"write\""),
            Effect::Widens,
        ),
        (
            PLAIN_BODY.replace(
                "secrets = [{ name = \"SEARCH_API_KEY\", host = \"api.search.example\" }]",
                "secrets = []",
            ),
            Effect::Narrows,
        ),
        (
            PLAIN_BODY.replace(
                "secrets = [{ name = \"SEARCH_API_KEY\", host = \"api.search.example\" }]",
                "secrets = [{ name = \"SEARCH_API_KEY\", host = \"api.search.example\" }, \
                 { name = \"OTHER_KEY\", host = \"api.search.example\" }]",
            ),
            Effect::Widens,
        ),
        (
            PLAIN_BODY.replace("Search the web.", "Search the web and more."),
            Effect::Widens,
        ),
    ];
    for (body, effect) in cases {
        let diff = diff_to(&body).await;
        assert_eq!(diff.changes.len(), 1, "{diff:?}");
        assert_eq!(diff.changes[0].effect, effect, "{diff:?}");
    }
    assert!(diff_to(PLAIN_BODY).await.changes.is_empty());
}

#[tokio::test]
async fn a_package_signed_by_another_trusted_key_is_a_change_that_widens() {
    let mut fixture = Fixture::official();
    let other = Publisher::new();
    fixture
        .config
        .trusted_keys
        .push(hardshell_config::TrustedKey {
            name: "other".into(),
            key: other.public_key(),
            official: true,
        });
    let locked = lock(&fixture).await;
    let files: &[(&str, &[u8])] = &[("module.wasm", WASM)];
    let bytes = other.package(&manifest("web-search", "1.0.0", PLAIN_BODY, files), files);
    let update = fixture.verify(bytes).unwrap();
    let diff = CapabilityDiff::between(&locked, &update);
    assert!(diff.widens());
    assert!(
        diff.changes[0]
            .text
            .starts_with("is signed by another key: other ("),
        "{diff:?}"
    );
}

#[tokio::test]
async fn the_same_key_under_another_trusted_name_is_shown_as_another_key() {
    // The owner's name for a key is part of what was reviewed: the same
    // key under another name is shown as a change as well.
    let mut fixture = Fixture::official();
    let locked = lock(&fixture).await;
    fixture.config.trusted_keys[0].name = "replaced".into();
    let update = fixture
        .verify(fixture.package("web-search", "1.0.0"))
        .unwrap();
    let diff = CapabilityDiff::between(&locked, &update);
    assert!(diff.widens(), "{diff:?}");
    assert!(
        diff.changes[0]
            .text
            .starts_with("is signed by another key: replaced ("),
        "{diff:?}"
    );
}

#[tokio::test]
async fn a_key_replaced_under_the_same_id_and_name_is_shown_as_another_key() {
    // Whoever edits `[modules] trusted_keys` can put a key of their own
    // under the accepted key's id and name: only the key itself differs.
    let mut fixture = Fixture::official();
    let locked = lock(&fixture).await;
    let impostor = Publisher::claiming(&fixture.publisher);
    assert_eq!(impostor.key_id(), fixture.publisher.key_id());
    fixture.config.trusted_keys[0].key = impostor.public_key();
    let files: &[(&str, &[u8])] = &[("module.wasm", WASM)];
    let bytes = impostor.package(&manifest("web-search", "1.0.0", PLAIN_BODY, files), files);
    let update = fixture.verify(bytes).unwrap();
    assert_eq!(update.signer().key_id, locked.key_id);
    assert_eq!(update.signer().key_name, locked.key_name);
    let diff = CapabilityDiff::between(&locked, &update);
    assert!(diff.widens(), "{diff:?}");
    assert_eq!(diff.changes.len(), 1, "{diff:?}");
    assert_eq!(
        diff.changes[0].text,
        format!(
            "is signed by another key: example ({0}, {1}) instead of example ({0}, {2})",
            locked.key_id,
            update.signer().key,
            locked.key
        )
    );
}
