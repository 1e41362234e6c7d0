//! `[workload]` and its `[dangerous]` doors: every allow with its deny.

use super::{invalid, parse};
use crate::{EnvValue, ImageRef, Workload};

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A `[workload]` with every key set, for the template test.
pub(super) fn full() -> Workload {
    let mut env = std::collections::BTreeMap::new();
    env.insert(
        "ANTHROPIC_API_KEY".to_owned(),
        EnvValue::Secret(hardshell_vocabulary::SecretName::parse("ANTHROPIC_API_KEY").unwrap()),
    );
    env.insert(
        "OPENCLAW_GATEWAY_PORT".to_owned(),
        EnvValue::Literal("18789".into()),
    );
    Workload {
        image: ImageRef::parse(&format!("ghcr.io/openclaw/openclaw:2026.9.6@sha256:{HEX}"))
            .unwrap(),
        registry_credential: Some(crate::SecretRef::parse("secret:GHCR_PULL").unwrap()),
        host: hardshell_vocabulary::Host::parse("openclaw.agent.example.com").unwrap(),
        port: Some(18789),
        entrypoint: Some(vec!["node".into()]),
        command: Some(vec!["gateway".into(), "run".into()]),
        working_dir: Some("/app".into()),
        memory_mb: 2048,
        cpu_percent: Some(200),
        max_instances: 1,
        health_path: Some("/readyz".into()),
        ready_timeout_secs: 120,
        stop_grace_secs: 30,
        state_dir: Some("/home/node/.openclaw".into()),
        state_mb: 1024,
        identity_header: Some("X-Forwarded-User".into()),
        browser: false,
        env,
        seed: std::collections::BTreeMap::from([(
            "openclaw.json".to_owned(),
            "openclaw.json".into(),
        )]),
    }
}

/// A config with the seed's workload and `extra` after its `[workload]` keys.
fn config(workload_keys: &str, rest: &str) -> String {
    format!(
        r#"
[edge]
public_url = "http://localhost:8787"

[workload]
host = "openclaw.localhost"
{workload_keys}

[workload.env]
ANTHROPIC_API_KEY = "secret:ANTHROPIC_API_KEY"
OPENCLAW_GATEWAY_PORT = "18789"

[[egress.routes]]
hosts = ["api.anthropic.com"]
ports = [443]

[egress.secrets.ANTHROPIC_API_KEY]
hosts = ["api.anthropic.com"]
{rest}
"#
    )
}

fn pinned(tag: &str) -> String {
    format!("image = \"ghcr.io/openclaw/openclaw:{tag}@sha256:{HEX}\"")
}

#[test]
fn a_pinned_openclaw_workload_loads_with_its_secret_as_a_placeholder() {
    let loaded = parse(&config(&pinned("2026.9.6"), "")).unwrap();
    let workload = loaded.config.workload.as_ref().unwrap();
    assert_eq!(
        workload.image.digest().unwrap().to_string(),
        format!("sha256:{HEX}")
    );
    assert_eq!(
        workload.env["ANTHROPIC_API_KEY"].inside(),
        "hs-secret:ANTHROPIC_API_KEY"
    );
    assert_eq!(workload.env["OPENCLAW_GATEWAY_PORT"].inside(), "18789");
    assert_eq!(workload.ready_timeout_secs, 120);
    // The workload, not the built-in agent, is what the edge serves.
    assert!(!loaded.config.agent_runs());
}

#[test]
fn the_workloads_browser_needs_hardshells_browser_on() {
    let keys = format!("{}\nbrowser = true", pinned("2026.9.6"));
    let (line, _, key, message) = invalid(parse(&config(&keys, "")));
    assert_eq!(key.as_deref(), Some("workload.browser"));
    assert!(line > 0, "{message}");
    assert!(message.contains("[browser] enabled"), "{message}");
    let on = config(
        &keys,
        "[browser]\nenabled = true\nallow = [\"example.com\"]\n",
    );
    assert!(parse(&on).unwrap().config.workload.unwrap().browser);
}

#[test]
fn an_unpinned_image_is_refused_with_how_to_find_its_digest() {
    let text = config(r#"image = "ghcr.io/openclaw/openclaw:2026.9.6""#, "");
    let (line, _, key, message) = invalid(parse(&text));
    assert_eq!(key.as_deref(), Some("workload.image"));
    assert_eq!(line, 7);
    assert!(message.contains("skopeo inspect"), "{message}");
    assert!(message.contains("hardshell image pull"), "{message}");
    assert!(message.contains("unpinned_images"), "{message}");
    // A local layout without a digest too.
    let text = config(r#"image = "oci:/srv/openclaw""#, "");
    let (_, _, _, message) = invalid(parse(&text));
    assert!(message.contains("index.json"), "{message}");
}

#[test]
fn dangerous_unpinned_images_lets_a_tag_through_and_warns() {
    let text = config(
        r#"image = "ghcr.io/openclaw/openclaw:2026.9.6""#,
        "[dangerous]\nunpinned_images = true",
    );
    let loaded = parse(&text).unwrap();
    let on: Vec<_> = loaded.config.dangerous.enabled();
    assert!(
        on.iter()
            .any(|(key, _)| *key == "dangerous.unpinned_images")
    );
}

#[test]
fn a_known_vulnerable_openclaw_release_is_refused_unless_the_door_is_open() {
    let (_, _, key, message) = invalid(parse(&config(&pinned("2026.1.28"), "")));
    assert_eq!(key.as_deref(), Some("workload.image"));
    assert!(message.contains("CVE-2026-25253"), "{message}");
    assert!(message.contains("known_vulnerable_images"), "{message}");
    let loaded = parse(&config(
        &pinned("2026.1.28"),
        "[dangerous]\nknown_vulnerable_images = true",
    ))
    .unwrap();
    assert!(
        loaded
            .config
            .dangerous
            .enabled()
            .iter()
            .any(|(key, _)| *key == "dangerous.known_vulnerable_images")
    );
    // The pinned-digest door does not open this one.
    assert!(
        parse(&config(
            &pinned("2026.1.28"),
            "[dangerous]\nunpinned_images = true"
        ))
        .is_err()
    );
}

#[test]
fn a_malformed_image_or_digest_is_refused_at_its_line() {
    for image in [
        r#"image = "ghcr.io/openclaw/openclaw:v2.4.1@sha256:abc123...""#,
        r#"image = "Ghcr.io/OpenClaw/openclaw""#,
        r#"image = "oci:relative/path""#,
    ] {
        let (line, _, key, _) = invalid(parse(&config(image, "")));
        assert_eq!(
            (line, key.as_deref()),
            (7, Some("workload.image")),
            "{image}"
        );
    }
}

#[test]
fn a_secret_not_bound_to_any_host_is_refused_by_name() {
    let text = config(&pinned("2026.9.6"), "").replace(
        "OPENCLAW_GATEWAY_PORT = \"18789\"",
        "OPENAI_API_KEY = \"secret:OPENAI_API_KEY\"",
    );
    let (_, _, key, message) = invalid(parse(&text));
    assert_eq!(key.as_deref(), Some("workload.env.OPENAI_API_KEY"));
    assert!(
        message.contains("[egress.secrets.OPENAI_API_KEY]"),
        "{message}"
    );
}

#[test]
fn variables_hardshell_sets_and_bad_names_are_refused() {
    for (name, value) in [
        ("HTTPS_PROXY", "\"http://evil\""),
        ("https_proxy", "\"http://evil\""),
        ("SSL_CERT_FILE", "\"/tmp/ca.pem\""),
        ("NODE_EXTRA_CA_CERTS", "\"/tmp/ca.pem\""),
        ("\"A=B\"", "\"x\""),
        ("\"A B\"", "\"x\""),
    ] {
        let text = config(&pinned("2026.9.6"), "").replace(
            "OPENCLAW_GATEWAY_PORT = \"18789\"",
            &format!("{name} = {value}"),
        );
        let (_, _, key, _) = invalid(parse(&text));
        assert!(key.unwrap().starts_with("workload.env."), "{name}");
    }
    // A bad secret name is refused as a type error.
    let text = config(&pinned("2026.9.6"), "")
        .replace("\"secret:ANTHROPIC_API_KEY\"", "\"secret:anthropic\"");
    let (_, _, key, _) = invalid(parse(&text));
    assert_eq!(key.as_deref(), Some("workload.env.ANTHROPIC_API_KEY"));
}

#[test]
fn an_inline_credential_in_the_environment_is_refused_without_echoing_it() {
    let key = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOp";
    let text = config(&pinned("2026.9.6"), "").replace(
        "OPENCLAW_GATEWAY_PORT = \"18789\"",
        &format!("OTHER = \"{key}\""),
    );
    let (_, _, path, message) = invalid(parse(&text));
    assert_eq!(path.as_deref(), Some("workload.env.OTHER"));
    assert!(!message.contains("AbCdEf"), "{message}");
}

#[test]
fn workload_and_upstream_exclude_each_other() {
    let text = config(
        &pinned("2026.9.6"),
        "[upstream]\nurl = \"http://127.0.0.1:9000\"",
    );
    let (_, _, key, _) = invalid(parse(&text));
    assert_eq!(key.as_deref(), Some("workload"));
}

#[test]
fn the_workload_needs_an_origin_of_its_own() {
    for host in ["localhost", "127.0.0.1", "*.example.com", "a b"] {
        let text = config(&pinned("2026.9.6"), "").replace(
            "host = \"openclaw.localhost\"",
            &format!("host = \"{host}\""),
        );
        let (_, _, key, _) = invalid(parse(&text));
        assert_eq!(key.as_deref(), Some("workload.host"), "{host}");
    }
    // The edge's own public host, whatever its case.
    let text = config(&pinned("2026.9.6"), "")
        .replace("http://localhost:8787", "https://agent.example.com")
        .replace("openclaw.localhost", "Agent.Example.com");
    let (_, _, key, message) = invalid(parse(&text));
    assert_eq!(key.as_deref(), Some("workload.host"));
    assert!(message.contains("origin of its own"), "{message}");
}

#[test]
fn the_identity_header_cannot_be_one_the_edge_owns() {
    for header in [
        "X-Hardshell-Identity",
        "authorization",
        "X-Forwarded-For",
        "Cookie",
        "X_Forwarded_User",
        "Sec-WebSocket-Key",
        "X Forwarded",
    ] {
        let keys = format!("{}\nidentity_header = \"{header}\"", pinned("2026.9.6"));
        let (_, _, key, _) = invalid(parse(&config(&keys, "")));
        assert_eq!(key.as_deref(), Some("workload.identity_header"), "{header}");
    }
    let keys = format!(
        "{}\nidentity_header = \"X-Forwarded-User\"",
        pinned("2026.9.6")
    );
    assert!(parse(&config(&keys, "")).is_ok());
}

#[test]
fn sizes_times_and_paths_are_bounded() {
    for extra in [
        "memory_mb = 0",
        "memory_mb = 1000000",
        "cpu_percent = 0",
        "cpu_percent = 6401",
        "max_instances = 0",
        "max_instances = 2",
        "max_instances = 17",
        "ready_timeout_secs = 0",
        "stop_grace_secs = 601",
        "state_mb = 15",
        "state_mb = 262145",
        "port = 0",
        "state_dir = \"relative\"",
        "state_dir = \"/home/../etc\"",
        "state_dir = \"/\"",
        "working_dir = \"app\"",
        "health_path = \"readyz\"",
        "entrypoint = []",
        "unknown = 1",
    ] {
        let keys = format!("{}\n{extra}", pinned("2026.9.6"));
        let (_, _, key, _) = invalid(parse(&config(&keys, "")));
        assert!(key.unwrap().starts_with("workload"), "{extra}");
    }
    let keys = format!(
        "{}\nmemory_mb = 64\ncpu_percent = 6400\nmax_instances = 1\nstop_grace_secs = 600\nstate_dir = \"/home/node/.openclaw\"\nentrypoint = [\"node\"]\ncommand = []",
        pinned("2026.9.6")
    );
    let loaded = parse(&config(&keys, "")).unwrap();
    let workload = loaded.config.workload.unwrap();
    assert_eq!(workload.cpu_percent, Some(6400));
    assert_eq!((workload.state_mb, workload.state_inodes()), (1024, 65536));
    let keys = format!("{}\nstate_mb = 16", pinned("2026.9.6"));
    let workload = parse(&config(&keys, "")).unwrap().config.workload.unwrap();
    assert_eq!((workload.state_mb, workload.state_inodes()), (16, 1024));
}

#[test]
fn one_instance_is_accepted_and_any_other_count_is_refused_saying_why() {
    let keys = format!("{}\nmax_instances = 1", pinned("2026.9.6"));
    let loaded = parse(&config(&keys, "")).unwrap();
    assert_eq!(loaded.config.workload.unwrap().max_instances, 1);
    for count in [0, 2, 16] {
        let keys = format!("{}\nmax_instances = {count}", pinned("2026.9.6"));
        let (line, _, key, message) = invalid(parse(&config(&keys, "")));
        assert_eq!(
            (line, key.as_deref()),
            (8, Some("workload.max_instances")),
            "{count}"
        );
        assert!(message.contains("one owner"), "{message}");
        assert!(message.contains("Write max_instances = 1"), "{message}");
        assert!(message.contains("bucket prefix"), "{message}");
    }
}

#[test]
fn the_summary_shows_secrets_only_as_placeholders() {
    let loaded = parse(&config(&pinned("2026.9.6"), "")).unwrap();
    let workload = loaded.config.workload.as_ref().unwrap();
    let lines = workload.summary(&loaded.config.egress);
    assert!(lines[0].ends_with("(pinned by digest)"), "{lines:?}");
    assert_eq!(
        lines[1],
        "host openclaw.localhost, port the image's exposed port"
    );
    assert!(lines.contains(
        &"env ANTHROPIC_API_KEY=hs-secret:ANTHROPIC_API_KEY (swapped in only for api.anthropic.com)"
            .to_owned()
    ));
    assert!(lines.contains(&"env OPENCLAW_GATEWAY_PORT=18789".to_owned()));
}

#[test]
fn the_summary_says_when_a_tag_cannot_be_judged() {
    let loaded = parse(&config(&pinned("latest"), "")).unwrap();
    let lines = loaded
        .config
        .workload
        .as_ref()
        .unwrap()
        .summary(&loaded.config.egress);
    assert!(
        lines[2].contains("names no OpenClaw release") && lines[2].contains("2026.1.29"),
        "{lines:?}"
    );
    let loaded = parse(&config(&pinned("2026.9.6"), "")).unwrap();
    let lines = loaded
        .config
        .workload
        .as_ref()
        .unwrap()
        .summary(&loaded.config.egress);
    assert!(
        !lines
            .iter()
            .any(|line| line.contains("names no OpenClaw release"))
    );
}

#[test]
fn the_registry_credential_is_a_reference_never_a_value() {
    let keys = format!(
        "{}\nregistry_credential = \"secret:GHCR_PULL\"",
        pinned("2026.9.6")
    );
    let loaded = parse(&config(&keys, "")).unwrap();
    let workload = loaded.config.workload.unwrap();
    assert_eq!(
        workload.registry_credential.unwrap().to_string(),
        "secret:GHCR_PULL"
    );
    for value in [
        "user:hunter2-password",
        "ghp_0123456789abcdefghijABCDEFGHIJ012345",
    ] {
        let keys = format!("{}\nregistry_credential = \"{value}\"", pinned("2026.9.6"));
        let (_, _, key, message) = invalid(parse(&config(&keys, "")));
        assert_eq!(key.as_deref(), Some("workload.registry_credential"));
        assert!(!message.contains(value), "{message}");
    }
}

#[test]
fn arguments_and_values_with_a_nul_byte_are_refused() {
    for extra in [
        "command = [\"gateway\", \"a\\u0000b\"]",
        "entrypoint = [\"node\\u0000\"]",
    ] {
        let keys = format!("{}\n{extra}", pinned("2026.9.6"));
        let (_, _, key, _) = invalid(parse(&config(&keys, "")));
        assert!(key.unwrap().starts_with("workload."), "{extra}");
    }
    let text = config(&pinned("2026.9.6"), "").replace(
        "OPENCLAW_GATEWAY_PORT = \"18789\"",
        "OPENCLAW_GATEWAY_PORT = \"187\\u000089\"",
    );
    let (_, _, key, _) = invalid(parse(&text));
    assert_eq!(key.as_deref(), Some("workload.env.OPENCLAW_GATEWAY_PORT"));
}

#[test]
fn the_state_is_seeded_from_files_named_by_a_plain_path_in_it() {
    let keys = format!(
        "{}\nstate_dir = \"/home/node/.openclaw\"\n[workload.seed]\n\"openclaw.json\" = \"openclaw.json\"\n\"agents/main/notes.md\" = \"/srv/notes.md\"",
        pinned("2026.9.6")
    );
    let loaded = parse(&config(&keys, "")).unwrap();
    let seed = loaded.config.workload.unwrap().seed;
    assert_eq!(
        seed["openclaw.json"],
        std::path::PathBuf::from("openclaw.json")
    );
    assert_eq!(
        seed["agents/main/notes.md"],
        std::path::PathBuf::from("/srv/notes.md")
    );
    for (state_dir, inside) in [
        ("state_dir = \"/home/node/.openclaw\"", "../escape.json"),
        ("state_dir = \"/home/node/.openclaw\"", "/etc/passwd"),
        ("state_dir = \"/home/node/.openclaw\"", "a/./b"),
        ("state_dir = \"/home/node/.openclaw\"", ""),
        ("", "openclaw.json"),
    ] {
        let keys = format!(
            "{}\n{state_dir}\n[workload.seed]\n{inside:?} = \"openclaw.json\"",
            pinned("2026.9.6")
        );
        let (_, _, key, message) = invalid(parse(&config(&keys, "")));
        assert_eq!(key.as_deref(), Some("workload.seed"), "{inside}: {message}");
    }
}
