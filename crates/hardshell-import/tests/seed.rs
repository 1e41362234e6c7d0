//! The seed's own wrangler.toml examples, imported: what loads, what maps
//! where, and what is refused as weaker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use hardshell_config::{EnvValue, LoadedConfig, StorageBackend};
use hardshell_import::{ExtraSecret, ImportError, Imported, Options, Outcome, import};

const DEFAULT: &str = include_str!("fixtures/moltworker-default.toml");
const HARDENED: &str = include_str!("fixtures/moltworker-hardened.toml");
const SEED_DIGEST: &str = include_str!("fixtures/moltworker-seed-digest.toml");
const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn load(imported: &Imported) -> LoadedConfig {
    LoadedConfig::parse(&imported.config, Path::new("/tmp/hardshell.toml"))
        .unwrap_or_else(|e| panic!("{e}\n{}", imported.config))
}

fn note<'a>(imported: &'a Imported, from: &str) -> &'a hardshell_import::Note {
    imported
        .report
        .iter()
        .find(|note| note.from == from)
        .unwrap_or_else(|| panic!("no note for {from}: {:#?}", imported.report))
}

#[test]
fn the_seeds_hardened_file_imports_into_a_config_that_loads() {
    let imported = import(HARDENED, &Options::default()).unwrap();
    let loaded = load(&imported);
    let config = &loaded.config;
    let workload = config.workload.as_ref().unwrap();
    assert_eq!(
        workload.image.digest().unwrap().to_string(),
        format!("sha256:{HEX}")
    );
    assert_eq!(workload.port, Some(8080));
    assert_eq!(workload.memory_mb, 512);
    assert_eq!(workload.max_instances, 1);
    assert_eq!(
        note(&imported, "containers.max_instances").outcome,
        Outcome::Mapped
    );
    assert_eq!(workload.state_dir.as_deref(), Some("/home/node/.openclaw"));
    assert_eq!(
        workload.identity_header.as_deref(),
        Some("X-Forwarded-User")
    );
    // Provider keys are placeholders bound to their API's host, with a route.
    for (name, host) in [
        ("ANTHROPIC_API_KEY", "api.anthropic.com"),
        ("OPENAI_API_KEY", "api.openai.com"),
    ] {
        assert!(matches!(&workload.env[name], EnvValue::Secret(secret) if secret.as_str() == name));
        let binding = &config.egress.secrets[name];
        assert_eq!(binding.hosts[0].to_string(), host);
        assert!(
            config
                .egress
                .routes
                .iter()
                .any(|route| route.hosts.iter().any(|h| h.to_string() == host))
        );
    }
    assert_eq!(workload.env["OPENCLAW_GATEWAY_PORT"].inside(), "8080");
    assert_eq!(workload.env["OPENCLAW_MODE"].inside(), "production");
    assert_eq!(config.ratelimit.requests_per_minute, 60);
    assert_eq!(config.ratelimit.burst, 10);
    assert_eq!(config.storage.backend, StorageBackend::S3);
    assert_eq!(
        config.storage.s3.as_ref().unwrap().bucket,
        "openclaw-storage"
    );
    assert_eq!(config.audit.s3.as_ref().unwrap().bucket, "openclaw-logs");
    assert!(config.dangerous.enabled().is_empty());
    assert_eq!(
        imported.secret_lines(),
        [
            "hardshell secret put ANTHROPIC_API_KEY",
            "hardshell secret put OPENAI_API_KEY",
            "hardshell secret put R2_ACCESS_KEY_ID",
            "hardshell secret put R2_SECRET_ACCESS_KEY",
        ]
    );
}

#[test]
fn every_key_of_the_seed_is_mapped_or_reported() {
    let imported = import(HARDENED, &Options::default()).unwrap();
    for from in [
        "name",
        "main",
        "compatibility_date",
        "containers.config.image",
        "containers.config.port",
        "containers.max_instances",
        "vars.PAIRING_ROUTE",
        "vars.REQUIRE_AUTH",
        "vars.LLM_PROVIDER",
        "vars.LLM_MODEL",
        "vars.LLM_FALLBACK_PROVIDER",
        "vars.LLM_FALLBACK_MODEL",
        "vars.BROWSER_MODE",
        "vars.CDP_ENDPOINT",
        "vars.RATE_LIMIT_RPM",
        "vars.RATE_LIMIT_BURST",
        "vars.OPENCLAW_MODE",
        "r2_buckets[0]",
        "browser",
        "logpush",
        "(access)",
    ] {
        note(&imported, from);
    }
    // Not enforced yet, and saying so, never silently dropped.
    for from in ["vars.MOLTHUB_ALLOWLIST", "vars.MOLTHUB_ALLOW_UNOFFICIAL"] {
        let note = note(&imported, from);
        assert_eq!(note.outcome, Outcome::Warning);
        assert!(note.text.contains("NOT enforced"), "{}", note.text);
    }
    // 512 MB is too little for OpenClaw's gateway: said, not changed.
    assert_eq!(
        note(&imported, "containers.config.memory_mb").outcome,
        Outcome::Warning
    );
    // v2.4.1 names no OpenClaw release: whether it is affected is unknown.
    assert!(
        imported
            .report
            .iter()
            .any(|n| n.from == "containers.config.image"
                && n.outcome == Outcome::Warning
                && n.text.contains("2026.1.29 or later"))
    );
    // The models go to OpenClaw's own config, which the config seeds its
    // state with: the gateway behind the edge, its Control UI on its host.
    let json: serde_json::Value =
        serde_json::from_str(imported.openclaw_config.as_deref().unwrap()).unwrap();
    let model = &json["agents"]["defaults"]["model"];
    assert_eq!(
        model["primary"], "anthropic/claude-sonnet-4-20250514",
        "{json}"
    );
    assert_eq!(
        model["fallbacks"],
        serde_json::json!(["openai/gpt-4o"]),
        "{json}"
    );
    let gateway = &json["gateway"];
    assert_eq!(gateway["bind"], "loopback", "{json}");
    assert_eq!(gateway["auth"]["mode"], "trusted-proxy", "{json}");
    assert_eq!(
        gateway["auth"]["trustedProxy"]["userHeader"],
        "x-forwarded-user"
    );
    assert_eq!(
        gateway["auth"]["trustedProxy"]["requiredHeaders"],
        serde_json::json!(["x-hardshell-identity"])
    );
    let workload = &load(&imported).config.workload.unwrap();
    assert_eq!(
        gateway["controlUi"]["allowedOrigins"],
        serde_json::json!([format!("https://{}", workload.host)])
    );
    assert_eq!(
        workload.seed["openclaw.json"],
        std::path::PathBuf::from(hardshell_import::OPENCLAW_CONFIG_FILE)
    );
}

#[test]
fn the_seeds_default_tag_is_refused_with_how_to_pin_it() {
    let err = import(DEFAULT, &Options::default()).unwrap_err();
    assert!(matches!(err, ImportError::Unpinned { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("skopeo inspect"), "{text}");
    assert!(text.contains("hardshell image pull"), "{text}");
    assert!(text.contains("--allow-unpinned"), "{text}");
}

#[test]
fn allow_unpinned_writes_the_dangerous_switch_and_says_so() {
    let options = Options {
        allow_unpinned: true,
        ..Options::default()
    };
    let imported = import(DEFAULT, &options).unwrap();
    let loaded = load(&imported);
    assert!(loaded.config.dangerous.unpinned_images);
    let image = note(&imported, "containers.config.image");
    assert_eq!(image.outcome, Outcome::Warning);
    assert!(image.text.contains("NOT pinned"), "{}", image.text);
    // The default file has no provider: no secrets to put.
    assert!(imported.secret_lines().is_empty());
}

#[test]
fn the_seeds_placeholder_digest_is_refused_as_not_a_digest() {
    let err = import(SEED_DIGEST, &Options::default()).unwrap_err();
    assert!(matches!(err, ImportError::Image { .. }), "{err}");
    assert!(err.to_string().contains("64"), "{err}");
}

#[test]
fn require_auth_false_is_refused_as_weaker() {
    let text = HARDENED.replace("REQUIRE_AUTH = \"true\"", "REQUIRE_AUTH = \"false\"");
    let err = import(&text, &Options::default()).unwrap_err();
    let ImportError::Weaker { key, reason } = &err else {
        panic!("{err}")
    };
    assert_eq!(key, "vars.REQUIRE_AUTH");
    assert!(reason.contains("no unauthenticated mode"), "{reason}");
}

#[test]
fn a_known_vulnerable_openclaw_release_is_refused() {
    let text = HARDENED.replace(":v2.4.1@", ":2026.1.24@");
    let err = import(&text, &Options::default()).unwrap_err();
    assert!(matches!(err, ImportError::Vulnerable { .. }), "{err}");
    assert!(err.to_string().contains("CVE-2026-25253"), "{err}");
    let text = HARDENED.replace(":v2.4.1@", ":2026.9.6@");
    assert!(import(&text, &Options::default()).is_ok());
}

#[test]
fn channel_tokens_named_with_secret_are_bound_to_their_hosts() {
    let options = Options {
        extra_secrets: vec![
            "TELEGRAM_BOT_TOKEN".parse().unwrap(),
            "MY_API_KEY=api.example.com".parse().unwrap(),
        ],
        ..Options::default()
    };
    let imported = import(HARDENED, &options).unwrap();
    let loaded = load(&imported);
    let secrets = &loaded.config.egress.secrets;
    assert_eq!(
        secrets["TELEGRAM_BOT_TOKEN"].hosts[0].to_string(),
        "api.telegram.org"
    );
    assert_eq!(
        secrets["MY_API_KEY"].hosts[0].to_string(),
        "api.example.com"
    );
    assert!(
        imported
            .secret_lines()
            .contains(&"hardshell secret put TELEGRAM_BOT_TOKEN".to_owned())
    );
    // A name whose hosts are unknown must say where it goes.
    let options = Options {
        extra_secrets: vec!["MY_API_KEY".parse().unwrap()],
        ..Options::default()
    };
    assert!(matches!(
        import(HARDENED, &options),
        Err(ImportError::SecretHosts { .. })
    ));
    assert!("lower=x".parse::<ExtraSecret>().is_err());
}

#[test]
fn unknown_keys_and_credentials_in_vars_are_reported_not_copied() {
    let key = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOp";
    let text = format!("{HARDENED}\n[d1_databases]\nbinding = \"DB\"\n",)
        .replace(
            "OPENCLAW_MODE = \"production\"",
            &format!(
                "OPENCLAW_MODE = \"production\"\nLEAKED = \"{key}\"\nHTTPS_PROXY = \"http://x\""
            ),
        )
        // Even in a var whose value the report would otherwise show.
        .replace(
            "LLM_MODEL = \"claude-sonnet-4-20250514\"",
            &format!("LLM_MODEL = \"{key}\""),
        );
    let imported = import(&text, &Options::default()).unwrap();
    assert_eq!(note(&imported, "d1_databases").outcome, Outcome::Reported);
    assert_eq!(note(&imported, "vars.LEAKED").outcome, Outcome::Warning);
    assert_eq!(
        note(&imported, "vars.HTTPS_PROXY").outcome,
        Outcome::Reported
    );
    assert!(!imported.config.contains("AbCdEf"));
    assert!(!imported.report.iter().any(|n| n.text.contains("AbCdEf")));
    assert_eq!(note(&imported, "vars.LLM_MODEL").outcome, Outcome::Warning);
    assert!(
        !imported
            .openclaw_config
            .as_ref()
            .unwrap()
            .contains("AbCdEf")
    );
    load(&imported);
}

#[test]
fn a_hostile_value_cannot_break_out_of_its_line() {
    let text = HARDENED.replace(
        "OPENCLAW_MODE = \"production\"",
        "OPENCLAW_MODE = \"x\\\"\\n[dangerous]\\nunpinned_images = true\"",
    );
    let imported = import(&text, &Options::default()).unwrap();
    let loaded = load(&imported);
    assert!(!loaded.config.dangerous.unpinned_images);
    let workload = loaded.config.workload.unwrap();
    assert_eq!(
        workload.env["OPENCLAW_MODE"].inside(),
        "x\"\n[dangerous]\nunpinned_images = true"
    );
}

#[test]
fn more_than_one_container_is_refused() {
    let text = HARDENED.replace(
        "[[r2_buckets]]",
        "[[containers.config]]\nimage = \"ghcr.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n\n[[r2_buckets]]",
    );
    assert!(matches!(
        import(&text, &Options::default()),
        Err(ImportError::Containers)
    ));
}

#[test]
fn moltworkers_own_dockerfile_is_refused_with_how_to_build_and_pin_it() {
    let text =
        "[[containers]]\nclass_name = \"Sandbox\"\nimage = \"./Dockerfile\"\nmax_instances = 1\n";
    let err = import(text, &Options::default()).unwrap_err();
    assert!(matches!(err, ImportError::Dockerfile { .. }), "{err}");
    assert!(err.to_string().contains("@sha256:"), "{err}");
}

#[test]
fn wranglers_own_containers_list_and_route_are_read() {
    let text = format!(
        "routes = [{{ pattern = \"openclaw.example.com\", custom_domain = true }}]\n\
         [[containers]]\nclass_name = \"Sandbox\"\n\
         image = \"ghcr.io/openclaw/openclaw:2026.9.6@sha256:{HEX}\"\nmax_instances = 2\n"
    );
    let imported = import(&text, &Options::default()).unwrap();
    let loaded = load(&imported);
    let workload = loaded.config.workload.unwrap();
    assert_eq!(workload.host.as_str(), "openclaw.example.com");
    // One instance per machine: 2 is written as 1, and the report says why.
    assert_eq!(workload.max_instances, 1);
    assert!(imported.config.contains("max_instances = 1\n"));
    let instances = note(&imported, "containers.max_instances");
    assert_eq!(instances.outcome, Outcome::Warning);
    assert!(
        instances.text.contains("max_instances = 1, not 2"),
        "{}",
        instances.text
    );
    assert!(instances.text.contains("one owner"), "{}", instances.text);
    assert_eq!(workload.port, Some(18789));
    assert_eq!(
        note(&imported, "containers.class_name").outcome,
        Outcome::Reported
    );
    // --host wins over the route.
    let options = Options {
        host: Some("claw.example.net".into()),
        ..Options::default()
    };
    let imported = import(&text, &options).unwrap();
    assert!(imported.config.contains("host = \"claw.example.net\""));
}

/// Every prefix of the seed's file (cut anywhere, as a truncated download
/// would be): never a panic, and whatever is accepted loads.
#[test]
fn every_truncation_of_the_seed_is_refused_or_loads() {
    for (cut, _) in HARDENED.char_indices() {
        let text = &HARDENED[..cut];
        for allow_unpinned in [false, true] {
            let options = Options {
                allow_unpinned,
                ..Options::default()
            };
            if let Ok(imported) = import(text, &options) {
                load(&imported);
            }
        }
        let _ = hardshell_config::ImageRef::parse(text);
    }
}
