//! `module.toml`'s rules, each refused with what to change.

use hardshell_modules::{Manifest, ModuleError, WorkspaceAccess};
use hardshell_testkit::modules::{PLAIN_BODY, WASM, manifest};

fn parse(body: &str) -> Result<Manifest, ModuleError> {
    Manifest::parse(manifest("web-search", "1.0.0", body, &[("module.wasm", WASM)]).as_bytes())
}

fn refused(body: &str) -> String {
    match parse(body) {
        Err(ModuleError::Manifest { detail }) => detail,
        other => panic!("expected a refused manifest, got {other:?}"),
    }
}

#[test]
fn the_plain_manifest_is_read_into_its_types() {
    let manifest = parse(PLAIN_BODY).unwrap();
    assert_eq!(manifest.version, semver::Version::new(1, 0, 0));
    assert_eq!(manifest.tools[0].name, "search");
    assert!(manifest.tools[0].parameters.is_object());
    let host = &manifest.capabilities.hosts[0];
    assert_eq!(host.port, 443);
    assert_eq!(
        host.to_string(),
        "https://api.search.example:443 paths under /v1/, methods GET"
    );
    assert_eq!(manifest.capabilities.workspace, WorkspaceAccess::None);
}

#[test]
fn parameters_may_be_a_json_string_but_must_be_an_object() {
    let json = PLAIN_BODY.replace(
        "parameters = { type = \"object\", properties = { query = { type = \"string\" } } }",
        "parameters = '{\"type\": \"object\"}'",
    );
    assert!(parse(&json).unwrap().tools[0].parameters.is_object());
    let list = PLAIN_BODY.replace(
        "parameters = { type = \"object\", properties = { query = { type = \"string\" } } }",
        "parameters = '[1, 2]'",
    );
    assert!(refused(&list).contains("parameters"), "{}", refused(&list));
}

#[test]
fn an_unknown_key_is_refused() {
    let detail = refused(&format!("{PLAIN_BODY}\nfilesystem = \"/\""));
    assert!(detail.contains("unknown field"), "{detail}");
}

#[test]
fn a_secret_for_a_host_the_module_does_not_declare_is_refused() {
    let body = PLAIN_BODY.replace(
        "{ name = \"SEARCH_API_KEY\", host = \"api.search.example\" }",
        "{ name = \"SEARCH_API_KEY\", host = \"evil.example\" }",
    );
    assert!(refused(&body).contains("not one of its hosts"));
}

#[test]
fn one_host_and_port_under_both_schemes_is_refused() {
    let body = PLAIN_BODY.replace(
        "hosts = [{ host = \"api.search.example\", methods = [\"GET\"], path_prefix = \"/v1/\" }]",
        "hosts = [{ host = \"api.search.example\", port = 443 }, \
         { host = \"api.search.example\", port = 443, scheme = \"http\" }]",
    );
    assert!(
        refused(&body).contains("declared twice"),
        "{}",
        refused(&body)
    );
    // The same host on another port is another route.
    let body = PLAIN_BODY.replace(
        "hosts = [{ host = \"api.search.example\", methods = [\"GET\"], path_prefix = \"/v1/\" }]",
        "hosts = [{ host = \"api.search.example\", port = 443 }, \
         { host = \"api.search.example\", port = 80, scheme = \"http\" }]",
    );
    assert!(parse(&body).is_ok(), "{:?}", parse(&body));
}

#[test]
fn limits_past_their_caps_and_wildcard_hosts_are_refused() {
    assert!(
        refused(&PLAIN_BODY.replace("memory_mb = 64", "memory_mb = 257")).contains("memory_mb")
    );
    assert!(
        refused(&PLAIN_BODY.replace("timeout_ms = 5000", "timeout_ms = 60001"))
            .contains("timeout_ms")
    );
    assert!(refused(&PLAIN_BODY.replace("memory_mb = 64", "memory_mb = 0")).contains("memory_mb"));
    let wildcard = PLAIN_BODY.replace(
        "host = \"api.search.example\", methods",
        "host = \"*.example\", methods",
    );
    assert!(
        refused(&wildcard).contains("wildcard"),
        "{}",
        refused(&wildcard)
    );
    let climbing = PLAIN_BODY.replace("/v1/", "/v1/../admin");
    assert!(refused(&climbing).contains("path_prefix"));
}

#[test]
fn text_that_could_rewrite_the_terminal_is_refused() {
    let text = manifest("web-search", "1.0.0", PLAIN_BODY, &[("module.wasm", WASM)])
        .replace("A module for tests.", "fine\u{1b}[2J\u{202e}");
    assert!(matches!(
        Manifest::parse(text.as_bytes()),
        Err(ModuleError::Manifest { .. })
    ));
}

#[test]
fn a_manifest_must_list_its_wasm_and_not_itself() {
    let no_wasm = manifest("web-search", "1.0.0", PLAIN_BODY, &[("other.wasm", WASM)]);
    assert!(matches!(
        Manifest::parse(no_wasm.as_bytes()),
        Err(ModuleError::Manifest { .. })
    ));
    let itself = manifest(
        "web-search",
        "1.0.0",
        PLAIN_BODY,
        &[("module.wasm", WASM), ("module.toml", b"x")],
    );
    assert!(matches!(
        Manifest::parse(itself.as_bytes()),
        Err(ModuleError::Manifest { .. })
    ));
    let bad_name = manifest("Web_Search", "1.0.0", PLAIN_BODY, &[("module.wasm", WASM)]);
    assert!(matches!(
        Manifest::parse(bad_name.as_bytes()),
        Err(ModuleError::Manifest { .. })
    ));
}

#[test]
fn a_refusal_quoting_the_manifest_shows_its_controls_escaped() {
    // serde names an unknown key and an unknown variant as written.
    for body in [
        format!("{PLAIN_BODY}\n\"\\u001b]0;owned\\u0007\\u202e\" = 1"),
        PLAIN_BODY.replace("workspace = \"none\"", "workspace = \"\\u001b[2J\""),
    ] {
        let detail = refused(&body);
        assert!(detail.contains("\\u{1b}"), "{detail}");
        assert!(
            !detail.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{detail:?}"
        );
    }
}
