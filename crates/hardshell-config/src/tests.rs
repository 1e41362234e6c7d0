use std::path::{Path, PathBuf};

use crate::{Config, ConfigError, LoadedConfig, S3, SecretRef, StorageBackend, TEMPLATE};

mod browser;
mod channels;
mod modules;
mod workload;

fn parse(text: &str) -> Result<LoadedConfig, ConfigError> {
    LoadedConfig::parse(text, Path::new("/etc/hardshell/hardshell.toml"))
}

/// (line, column, key, message) of an `Invalid` error.
fn invalid(result: Result<LoadedConfig, ConfigError>) -> (usize, usize, Option<String>, String) {
    match result {
        Err(ConfigError::Invalid {
            line,
            column,
            key,
            message,
            ..
        }) => (line, column, key, message),
        Err(other) => panic!("expected Invalid, got {other}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn the_template_is_the_default_config() {
    let loaded = parse(TEMPLATE).unwrap();
    assert_eq!(loaded.config, Config::default());
}

#[test]
fn the_template_documents_every_key() {
    let mut full = Config {
        master_key_file: Some(PathBuf::from("k")),
        ..Config::default()
    };
    full.edge.public_url = Some("https://x".into());
    full.edge.tls = Some(crate::Tls {
        cert: Some("c".into()),
        key: Some("k".into()),
        acme: Some(crate::Acme {
            email: "e".into(),
            domains: vec!["d".into()],
            directory: "https://d".into(),
            directory_ca: Some("c".into()),
            challenge: crate::AcmeChallenge::Http01,
            http_listen: Some("0.0.0.0:80".parse().unwrap()),
        }),
    });
    full.access.rules = vec![crate::Rule {
        role: crate::RuleRole::Admin,
        emails: vec!["e".into()],
        groups: vec!["g".into()],
        require_device: true,
    }];
    full.access.cloudflare = Some(crate::Cloudflare {
        team_domain: "t".into(),
        audience: "a".into(),
        only_from_trusted_proxies: true,
    });
    full.access.oidc = Some(crate::Oidc {
        issuer: "https://i".into(),
        client_id: "c".into(),
        client_secret: SecretRef::Secret(hardshell_vocabulary::SecretName::parse("S").unwrap()),
        scopes: vec![],
        groups_claim: "g".into(),
        provider_verifies_emails: true,
    });
    full.upstream = Some(crate::Upstream {
        url: "http://127.0.0.1:1".into(),
        timeout_secs: 1,
        host: Some("app.example.com".into()),
        identity_header: Some("X-Forwarded-User".into()),
    });
    full.workload = Some(workload::full());
    full.channels = channels::full();
    full.modules = crate::Modules {
        trusted_keys: vec![crate::TrustedKey {
            name: "k".into(),
            key: "RW".into(),
            official: true,
        }],
        allow: vec![crate::ModuleName::parse("m").unwrap()],
        allow_unofficial: true,
    };
    full.metrics = Some(crate::Metrics {
        listen: "127.0.0.1:1".parse().unwrap(),
    });
    full.llm.monthly_cap_usd = Some(1.0);
    full.llm.providers.insert(
        "openai".into(),
        crate::Provider {
            kind: crate::ProviderKind::OpenAi,
            base_url: "https://x".into(),
            api_key: Some(SecretRef::Secret(
                hardshell_vocabulary::SecretName::parse("K").unwrap(),
            )),
        },
    );
    full.llm.prices = vec![crate::Price {
        model: "p/m".into(),
        input_per_mtok: 1.0,
        output_per_mtok: 2.0,
    }];
    full.storage.backend = StorageBackend::S3;
    full.storage.s3 = Some(S3 {
        endpoint: Some("https://e".into()),
        bucket: "b".into(),
        region: "r".into(),
        path_style: true,
        prefix: Some("p".into()),
        access_key_id: SecretRef::Secret(hardshell_vocabulary::SecretName::parse("A").unwrap()),
        secret_access_key: SecretRef::Secret(hardshell_vocabulary::SecretName::parse("B").unwrap()),
        max_retries: 1,
        retry_timeout_secs: 1,
    });
    full.audit.s3 = full.storage.s3.clone();
    full.egress.routes = vec![crate::EgressRoute {
        hosts: vec![crate::HostPattern::parse("api.example.com").unwrap()],
        ports: vec![443],
        methods: Some(vec!["GET".into()]),
        paths: Some(vec!["/v1/".into()]),
        tls: true,
        inspect: Some(true),
    }];
    full.egress.secrets.insert(
        "GITHUB_TOKEN".into(),
        crate::SecretBinding {
            hosts: vec![crate::HostPattern::parse("api.example.com").unwrap()],
            header: Some("authorization".into()),
        },
    );
    let table = toml::Table::try_from(&full).unwrap();
    let mut missing = Vec::new();
    check_documented(&table, "", &mut missing);
    assert!(
        missing.is_empty(),
        "keys missing from template.toml: {missing:?}"
    );
}

fn check_documented(table: &toml::Table, section: &str, missing: &mut Vec<String>) {
    for (key, value) in table {
        let path = if section.is_empty() {
            key.clone()
        } else {
            format!("{section}.{key}")
        };
        if let toml::Value::Table(inner) = value {
            check_documented(inner, &path, missing);
            continue;
        }
        let section_text = if section.is_empty() {
            Some(TEMPLATE)
        } else {
            TEMPLATE
                .find(&format!("[{section}]\n"))
                .map(|at| &TEMPLATE[at..])
        };
        let documented = section_text.is_some_and(|text| {
            text.lines().any(|line| {
                let line = line.trim_start_matches('#').trim_start();
                // A key with a dot in it is written quoted.
                line.starts_with(&format!("{key} "))
                    || line.starts_with(&format!("{key}="))
                    || line.starts_with(&format!("\"{key}\" "))
            })
        });
        if !documented {
            missing.push(path);
        }
    }
}

#[test]
fn an_empty_file_is_the_default_config() {
    assert_eq!(parse("").unwrap().config, Config::default());
}

#[test]
fn unknown_keys_are_rejected_with_line_and_key() {
    let (line, _, key, message) = invalid(parse("[edge]\nlisen = \"127.0.0.1:1\"\n"));
    assert_eq!(line, 2);
    assert_eq!(key.as_deref(), Some("edge.lisen"));
    assert!(
        message.contains("unknown field `lisen`") && message.contains("listen"),
        "{message}"
    );

    let (line, _, key, _) = invalid(parse("data_dir = \"d\"\n\n[nonsense]\nx = 1\n"));
    assert_eq!(line, 3);
    assert_eq!(key.as_deref(), Some("nonsense"));
}

#[test]
fn wrong_types_are_rejected_with_line_and_key() {
    let (line, column, key, message) = invalid(parse("[log]\nformat = \"text\"\nlevel = 3\n"));
    assert_eq!((line, column), (3, 9));
    assert_eq!(key.as_deref(), Some("log.level"));
    assert!(!message.is_empty());

    let (line, _, key, _) = invalid(parse("[edge]\nlisten = \"not an address\"\n"));
    assert_eq!(line, 2);
    assert_eq!(key.as_deref(), Some("edge.listen"));
}

#[test]
fn syntax_errors_name_the_line() {
    let (line, _, _, _) = invalid(parse("[edge]\nlisten = \"127.0.0.1:1\n"));
    assert_eq!(line, 2);
}

#[test]
fn the_error_message_names_file_line_and_key() {
    let err = parse("[edge]\nlisen = 1\n").unwrap_err().to_string();
    assert!(
        err.starts_with("/etc/hardshell/hardshell.toml:2:1: `edge.lisen`: unknown field"),
        "{err}"
    );
}

#[test]
fn inline_credentials_are_rejected_without_echoing_them() {
    let key = "sk-ant-api03-Zm9vYmFyYmF6cXV4cXV1eHF1dXg0NTY3ODkw";
    let text = format!(
        "[storage]\nbackend = \"s3\"\n[storage.s3]\nbucket = \"bkt\"\naccess_key_id = \"{key}\"\nsecret_access_key = \"secret:S\"\n"
    );
    let err = parse(&text).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains(&key[10..]),
        "the error repeats the credential: {shown}"
    );
    let (line, _, path, message) = invalid(Err(err));
    assert_eq!(line, 5);
    assert_eq!(path.as_deref(), Some("storage.s3.access_key_id"));
    assert!(
        message.contains("Anthropic") && message.contains("hardshell secret put"),
        "{message}"
    );
}

#[test]
fn credentials_are_caught_in_any_key_even_unknown_ones() {
    let (_, _, key, message) = invalid(parse(
        "[log]\ntoken = \"ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\"\n",
    ));
    assert_eq!(key.as_deref(), Some("log.token"));
    assert!(message.contains("GitHub"), "{message}");
}

#[test]
fn non_loopback_listen_is_refused_without_tls() {
    for address in ["0.0.0.0:8787", "[::]:8787", "192.168.1.10:8787"] {
        let (line, _, key, message) = invalid(parse(&format!("[edge]\nlisten = \"{address}\"\n")));
        assert_eq!((line, key.as_deref()), (2, Some("edge.listen")));
        assert!(message.contains("refusing to listen"), "{message}");
    }
    for address in ["127.0.0.1:9000", "[::1]:9000", "127.0.0.2:9000"] {
        parse(&format!("[edge]\nlisten = \"{address}\"\n")).unwrap();
    }
}

#[test]
fn s3_backend_needs_its_table_and_the_table_needs_the_backend() {
    let (_, _, key, _) = invalid(parse("[storage]\nbackend = \"s3\"\n"));
    assert_eq!(key.as_deref(), Some("storage.backend"));

    let table = "[storage.s3]\nbucket = \"bkt\"\naccess_key_id = \"env:A\"\nsecret_access_key = \"env:B\"\n";
    let (_, _, key, _) = invalid(parse(table));
    assert_eq!(key.as_deref(), Some("storage.s3"));

    let loaded = parse(&format!("[storage]\nbackend = \"s3\"\n{table}")).unwrap();
    let s3 = loaded.config.storage.s3.unwrap();
    assert_eq!(s3.region, "us-east-1");
    assert_eq!(s3.max_retries, 5);
    assert_eq!(s3.access_key_id, SecretRef::Env("A".into()));
}

#[test]
fn s3_fields_are_checked() {
    let base = "[storage]\nbackend = \"s3\"\n[storage.s3]\naccess_key_id = \"env:A\"\nsecret_access_key = \"env:B\"\n";
    let (line, _, key, _) = invalid(parse(&format!("{base}bucket = \"No_Such\"\n")));
    assert_eq!((line, key.as_deref()), (6, Some("storage.s3.bucket")));
    let (_, _, key, _) = invalid(parse(&format!(
        "{base}bucket = \"bkt\"\nendpoint = \"ftp://x\"\n"
    )));
    assert_eq!(key.as_deref(), Some("storage.s3.endpoint"));
    let (_, _, key, message) = invalid(parse(&format!("{base}bucket = \"bkt\"\nregion = 5\n")));
    assert_eq!(key.as_deref(), Some("storage.s3.region"), "{message}");
    let (_, _, key, message) = invalid(parse(
        "[storage]\nbackend = \"s3\"\n[storage.s3]\nbucket = \"bkt\"\naccess_key_id = \"plain\"\nsecret_access_key = \"env:B\"\n",
    ));
    assert_eq!(key.as_deref(), Some("storage.s3.access_key_id"));
    assert!(message.contains("secret:NAME"), "{message}");
}

#[test]
fn relative_paths_resolve_against_the_config_directory() {
    let loaded = parse("data_dir = \"state\"\n").unwrap();
    assert_eq!(loaded.data_dir(), PathBuf::from("/etc/hardshell/state"));
    assert_eq!(
        loaded.master_key_file(),
        PathBuf::from("/etc/hardshell/state/master.key")
    );
    let loaded = parse("data_dir = \"/var/lib/hs\"\nmaster_key_file = \"/run/keys/hs\"\n").unwrap();
    assert_eq!(loaded.data_dir(), PathBuf::from("/var/lib/hs"));
    assert_eq!(loaded.master_key_file(), PathBuf::from("/run/keys/hs"));
}

#[test]
fn dangerous_settings_are_listed_when_on() {
    assert!(parse("").unwrap().config.dangerous.enabled().is_empty());
    let loaded = parse("[dangerous]\nunencrypted_storage = true\n").unwrap();
    let on = loaded.config.dangerous.enabled();
    assert_eq!(on.len(), 1);
    assert_eq!(on[0].0, "dangerous.unencrypted_storage");
}

#[test]
fn error_at_points_at_keys_and_missing_keys_at_their_table() {
    let loaded = parse("[log]\nformat = \"json\"\n").unwrap();
    match loaded.error_at("log.format", "x") {
        ConfigError::Invalid { line, .. } => assert_eq!(line, 2),
        other => panic!("{other}"),
    }
    match loaded.error_at("log.level", "x") {
        ConfigError::Invalid { line, .. } => assert_eq!(line, 1),
        other => panic!("{other}"),
    }
}

#[test]
fn a_missing_file_is_a_read_error() {
    let err = LoadedConfig::load(Path::new("/nonexistent/hardshell.toml")).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    assert!(
        err.to_string().contains("/nonexistent/hardshell.toml"),
        "{err}"
    );
}

fn key_of(result: Result<LoadedConfig, ConfigError>) -> String {
    invalid(result).2.unwrap_or_default()
}

const TLS: &str = "[edge.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n";

#[test]
fn acme_gets_the_certificate_for_dns_names_the_public_url_among_them() {
    let edge = "[edge]\nlisten = \"0.0.0.0:443\"\npublic_url = \"https://agent.example.com\"\n";
    let acme = |domains: &str, extra: &str| {
        format!(
            "{edge}[edge.tls]\n{extra}acme = {{ email = \"me@example.com\", domains = [{domains}] }}\n"
        )
    };
    let loaded = parse(&acme("\"agent.example.com\", \"www.example.com\"", "")).unwrap();
    let tls = loaded.config.edge.tls.unwrap();
    assert!(tls.files().is_none());
    assert_eq!(
        tls.acme.unwrap().directory,
        "https://acme-v02.api.letsencrypt.org/directory"
    );
    for (domains, extra, key, why) in [
        (
            "\"agent.example.com\"",
            "cert = \"c\"\nkey = \"k\"\n",
            "edge.tls.acme",
            "remove cert and key",
        ),
        (
            "\"*.example.com\", \"agent.example.com\"",
            "",
            "edge.tls.acme.domains[0]",
            "no wildcard",
        ),
        (
            "\"192.0.2.1\", \"agent.example.com\"",
            "",
            "edge.tls.acme.domains[0]",
            "no address",
        ),
        (
            "\"localhost\"",
            "",
            "edge.tls.acme.domains[0]",
            "not a lower-case DNS name",
        ),
        (
            "\"Agent.example.com\", \"agent.example.com\"",
            "",
            "edge.tls.acme.domains[0]",
            "not a lower-case DNS name",
        ),
        (
            "\"other.example.com\"",
            "",
            "edge.tls.acme.domains",
            "public URL's host",
        ),
        ("", "", "edge.tls.acme.domains", "one to 100"),
    ] {
        let refused = invalid(parse(&acme(domains, extra)));
        assert_eq!(refused.2.as_deref(), Some(key), "{domains}: {}", refused.3);
        assert!(refused.3.contains(why), "{domains}: {}", refused.3);
    }
    let plain_directory = format!(
        "{edge}[edge.tls]\nacme = {{ email = \"me@example.com\", domains = [\"agent.example.com\"], \
         directory = \"http://acme.example.com/dir\" }}\n"
    );
    assert_eq!(key_of(parse(&plain_directory)), "edge.tls.acme.directory");
    let no_email = format!(
        "{edge}[edge.tls]\nacme = {{ email = \"me at example\", domains = [\"agent.example.com\"] }}\n"
    );
    assert_eq!(key_of(parse(&no_email)), "edge.tls.acme.email");
    let half = format!("{edge}[edge.tls]\ncert = \"c\"\n");
    assert_eq!(key_of(parse(&half)), "edge.tls");
    let http = |extra: &str| {
        format!(
            "{edge}[edge.tls.acme]\nemail = \"me@example.com\"\ndomains = [\"agent.example.com\"]\n\
             challenge = \"http-01\"\n{extra}"
        )
    };
    parse(&http("http_listen = \"0.0.0.0:80\"\n")).unwrap();
    assert_eq!(key_of(parse(&http(""))), "edge.tls.acme.http_listen");
    assert_eq!(
        key_of(parse(&http("http_listen = \"0.0.0.0:443\"\n"))),
        "edge.tls.acme.http_listen"
    );
}

#[test]
fn listening_off_loopback_needs_tls_a_login_method_and_a_public_url() {
    let public = "[edge]\nlisten = \"0.0.0.0:443\"\npublic_url = \"https://agent.example.com\"\n";
    parse(&format!("{public}{TLS}")).unwrap();
    assert_eq!(key_of(parse(public)), "edge.listen");
    assert!(invalid(parse(public)).3.contains("without TLS"));
    let behind_proxy = "[edge]\nlisten = \"0.0.0.0:8080\"\npublic_url = \"https://a.example.com\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n";
    parse(behind_proxy).unwrap();
    let no_login = format!("{public}{TLS}[access.passkey]\nenabled = false\n");
    assert!(invalid(parse(&no_login)).3.contains("no access method"));
    let no_url = format!("[edge]\nlisten = \"0.0.0.0:443\"\n{TLS}");
    assert_eq!(key_of(parse(&no_url)), "edge.public_url");
}

#[test]
fn public_url_must_be_an_https_origin_unless_localhost() {
    assert_eq!(
        parse("[edge]\npublic_url = \"https://a.example.com\"\n")
            .unwrap()
            .public_url
            .as_str(),
        "https://a.example.com/"
    );
    parse("[edge]\npublic_url = \"http://localhost:8787\"\n").unwrap();
    for bad in [
        "http://a.example.com",
        "https://a.example.com/app",
        "ftp://x",
        "not a url",
    ] {
        assert_eq!(
            key_of(parse(&format!("[edge]\npublic_url = \"{bad}\"\n"))),
            "edge.public_url",
            "{bad}"
        );
    }
    assert_eq!(
        parse("").unwrap().public_url.as_str(),
        "http://localhost:8787/"
    );
    assert_eq!(
        parse(TLS).unwrap().public_url.as_str(),
        "https://localhost:8787/"
    );
}

#[test]
fn trusted_proxies_are_parsed_as_ranges() {
    let loaded =
        parse("[edge]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.168.1.7\", \"fd00::/8\"]\n")
            .unwrap();
    let proxies = &loaded.config.edge.trusted_proxies;
    assert!(proxies[0].contains("10.1.2.3".parse().unwrap()));
    assert!(proxies[0].contains("::ffff:10.1.2.3".parse().unwrap()));
    assert!(!proxies[0].contains("11.0.0.1".parse().unwrap()));
    assert!(proxies[1].contains("192.168.1.7".parse().unwrap()));
    assert!(!proxies[1].contains("192.168.1.8".parse().unwrap()));
    assert!(proxies[2].contains("fd12::1".parse().unwrap()));
    assert!(
        key_of(parse("[edge]\ntrusted_proxies = [\"10.0.0.0/33\"]\n"))
            .starts_with("edge.trusted_proxies")
    );
    let (_, _, key, message) = invalid(parse("[edge]\ntrusted_proxies = [\"everyone\"]\n"));
    assert!(key.unwrap_or_default().starts_with("edge.trusted_proxies"));
    assert!(
        message.contains("\"everyone\" is not an address"),
        "{message}"
    );
}

#[test]
fn access_rules_must_match_someone() {
    let ok = "[[access.rules]]\nrole = \"admin\"\nemails = [\"me@example.com\"]\n";
    let loaded = parse(ok).unwrap();
    assert_eq!(loaded.config.access.rules[0].role, crate::RuleRole::Admin);
    assert_eq!(
        key_of(parse("[[access.rules]]\nrole = \"admin\"\n")),
        "access.rules[0]"
    );
    assert_eq!(
        key_of(parse(
            "[[access.rules]]\nrole = \"root\"\nemails = [\"a@b.c\"]\n"
        )),
        "access.rules[0].role"
    );
}

#[test]
fn access_rule_emails_must_be_printable_ascii() {
    for bad in ["\\u212Aaren@example.com", "me @example.com", ""] {
        let text = format!("[[access.rules]]\nrole = \"admin\"\nemails = [\"{bad}\"]\n");
        assert_eq!(key_of(parse(&text)), "access.rules[0].emails", "{bad:?}");
    }
}

#[test]
fn device_requirements_need_the_ca_and_the_ca_needs_tls() {
    parse(&format!(
        "{TLS}[access]\nrequire_device = true\n[access.devices]\nenabled = true\n"
    ))
    .unwrap();
    assert_eq!(
        key_of(parse("[access.devices]\nenabled = true\n")),
        "access.devices.enabled"
    );
    assert_eq!(
        key_of(parse(&format!("{TLS}[access]\nrequire_device = true\n"))),
        "access.require_device"
    );
    let rule = "[[access.rules]]\nrole = \"chat\"\nemails = [\"a@b.c\"]\nrequire_device = true\n";
    assert_eq!(key_of(parse(&format!("{TLS}{rule}"))), "access.rules");
}

#[test]
fn cloudflare_and_oidc_settings_are_checked() {
    parse("[access.cloudflare]\nteam_domain = \"t.cloudflareaccess.com\"\naudience = \"abc\"\n")
        .unwrap();
    assert_eq!(
        key_of(parse(
            "[access.cloudflare]\nteam_domain = \"https://t.cloudflareaccess.com\"\naudience = \"abc\"\n"
        )),
        "access.cloudflare.team_domain"
    );
    assert_eq!(
        key_of(parse(
            "[access.cloudflare]\nteam_domain = \"t.cloudflareaccess.com\"\naudience = \" \"\n"
        )),
        "access.cloudflare.audience"
    );
    let only_proxied = "[access.cloudflare]\nteam_domain = \"t.cloudflareaccess.com\"\naudience = \"abc\"\nonly_from_trusted_proxies = true\n";
    assert_eq!(
        key_of(parse(only_proxied)),
        "access.cloudflare.only_from_trusted_proxies"
    );
    parse(&format!(
        "[edge]\ntrusted_proxies = [\"173.245.48.0/20\"]\n{only_proxied}"
    ))
    .unwrap();
    let oidc = |issuer: &str| {
        format!(
            "[access.oidc]\nissuer = \"{issuer}\"\nclient_id = \"c\"\nclient_secret = \"secret:OIDC\"\n"
        )
    };
    parse(&oidc("https://accounts.example.com")).unwrap();
    parse(&oidc("http://127.0.0.1:9400")).unwrap();
    assert_eq!(
        key_of(parse(&oidc("http://accounts.example.com"))),
        "access.oidc.issuer"
    );
    assert_eq!(
        key_of(parse(
            "[access.oidc]\nissuer = \"https://i\"\nclient_id = \"c\"\nclient_secret = \"hunter2\"\n"
        )),
        "access.oidc.client_secret"
    );
}

#[test]
fn the_upstream_must_be_on_this_machine() {
    for ok in [
        "http://127.0.0.1:9000",
        "http://[::1]:9000",
        "unix:/run/hardshell/agent.sock",
    ] {
        parse(&format!("[upstream]\nurl = \"{ok}\"\n")).unwrap();
    }
    for bad in [
        "http://10.0.0.5:9000",
        "https://127.0.0.1:9000",
        "http://example.com:80",
        "unix:relative.sock",
        "http://127.0.0.1",
    ] {
        assert_eq!(
            key_of(parse(&format!("[upstream]\nurl = \"{bad}\"\n"))),
            "upstream.url",
            "{bad}"
        );
    }
}

#[test]
fn metrics_listener_and_limits_are_checked() {
    parse("[metrics]\nlisten = \"127.0.0.1:9187\"\n").unwrap();
    assert_eq!(
        key_of(parse("[metrics]\nlisten = \"0.0.0.0:9187\"\n")),
        "metrics.listen"
    );
    assert_eq!(key_of(parse("[ratelimit]\nburst = 0\n")), "ratelimit.burst");
    assert_eq!(
        key_of(parse("[edge]\nmax_header_bytes = 10\n")),
        "edge.max_header_bytes"
    );
    assert_eq!(
        key_of(parse("[audit]\nflush_interval_ms = 0\n")),
        "audit.flush_interval_ms"
    );
}

#[test]
fn connection_caps_are_checked() {
    parse("[edge]\nmax_connections = 100\nmax_connections_per_address = 100\n").unwrap();
    assert_eq!(
        key_of(parse("[edge]\nmax_connections = 0\n")),
        "edge.max_connections"
    );
    assert_eq!(
        key_of(parse("[edge]\nmax_connections_per_address = 0\n")),
        "edge.max_connections_per_address"
    );
    assert_eq!(
        key_of(parse(
            "[edge]\nmax_connections = 10\nmax_connections_per_address = 11\n"
        )),
        "edge.max_connections_per_address"
    );
}

#[test]
fn a_cloudflare_aud_tag_is_an_identifier_only_where_it_belongs() {
    let aud = "32eafc7626e974616deaf0dc3ce63d7bcbed58a2731e84d06bc3cdf1b53c4228";
    parse(&format!(
        "[access.cloudflare]\nteam_domain = \"t.cloudflareaccess.com\"\naudience = \"{aud}\"\n"
    ))
    .unwrap();
    let (_, _, key, _) = invalid(parse(&format!("[log]\naudience = \"{aud}\"\n")));
    assert_eq!(key.as_deref(), Some("log.audience"));
}

#[test]
fn a_tls_listener_needs_an_https_public_url() {
    let tls = "[edge.tls]\ncert = \"c\"\nkey = \"k\"\n";
    parse(&format!(
        "[edge]\npublic_url = \"https://localhost:8787\"\n{tls}"
    ))
    .unwrap();
    assert_eq!(
        key_of(parse(&format!(
            "[edge]\npublic_url = \"http://localhost:8787\"\n{tls}"
        ))),
        "edge.public_url"
    );
}

#[test]
fn the_llm_chain_names_configured_providers_over_safe_urls() {
    let provider =
        "[llm.providers.local]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:8080/v1\"\n";
    let loaded = parse(&format!(
        "[llm]\nchain = [\"local/smollm2\"]\nmonthly_cap_usd = 5.0\n{provider}"
    ))
    .unwrap();
    assert_eq!(loaded.config.llm.chain, ["local/smollm2"]);
    assert_eq!(
        key_of(parse(&format!("[llm]\nchain = [\"cloud/x\"]\n{provider}"))),
        "llm.chain[0]"
    );
    for entry in ["no-slash", "local/has space", "Local/smollm2", "local/"] {
        assert_eq!(
            key_of(parse(&format!("[llm]\nchain = [\"{entry}\"]\n{provider}"))),
            "llm.chain[0]",
            "{entry}"
        );
    }
    let remote_http =
        "[llm.providers.lan]\nkind = \"openai\"\nbase_url = \"http://192.168.1.9:11434/v1\"\n";
    assert_eq!(key_of(parse(remote_http)), "llm.providers.lan.base_url");
    parse(&format!(
        "[dangerous]\nllm_allow_http = true\n{remote_http}"
    ))
    .unwrap();
    let keyed = "[llm.providers.a]\nkind = \"anthropic\"\nbase_url = \"https://api.anthropic.com\"\napi_key = \"sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n";
    let (_, _, key, message) = invalid(parse(keyed));
    assert_eq!(key.as_deref(), Some("llm.providers.a.api_key"));
    assert!(message.contains("secret put"), "{message}");
    assert_eq!(
        key_of(parse("[llm]\nmonthly_cap_usd = -1.0\n")),
        "llm.monthly_cap_usd"
    );
    assert_eq!(
        key_of(parse(
            "[[llm.prices]]\nmodel = \"a/b\"\ninput_per_mtok = -3.0\noutput_per_mtok = 1.0\n"
        )),
        "llm.prices[0]"
    );
    assert_eq!(
        key_of(parse(
            "[[llm.prices]]\nmodel = \"a/b c\"\ninput_per_mtok = 3.0\noutput_per_mtok = 1.0\n"
        )),
        "llm.prices[0]"
    );
    assert_eq!(key_of(parse("[agent]\nmax_steps = 0\n")), "agent.max_steps");
}

#[test]
fn exec_allows_only_plain_program_names_and_positive_limits() {
    let config = parse(
        "[exec]\napproval = \"allowlist\"\nallow = [\"ls\", \"python3\", \"/usr/bin/git\", \"g++\"]\n",
    )
    .unwrap();
    assert_eq!(config.config.exec.approval, crate::Approval::Allowlist);
    for bad in [
        "ls;rm",
        "$(id)",
        "ls -la",
        "",
        "..",
        "-x",
        "usr/bin/ls",
        "/usr/../bin/sh",
        "/usr//ls",
        "`id`",
    ] {
        let text = format!("[exec]\nallow = [\"ok\", {}]\n", toml_string(bad));
        assert_eq!(key_of(parse(&text)), "exec.allow[1]", "{bad:?}");
    }
    assert_eq!(
        key_of(parse("[exec]\ntimeout_secs = 0\n")),
        "exec.timeout_secs"
    );
    assert_eq!(config.config.exec.max_file_mb, 20);
    parse("[exec]\nmax_file_mb = 1024\n").unwrap();
    for text in ["[exec]\nmax_file_mb = 0\n", "[exec]\nmax_file_mb = 1025\n"] {
        assert_eq!(key_of(parse(text)), "exec.max_file_mb", "{text}");
    }
    let (_, _, key, message) = invalid(parse("[exec]\napproval = \"yes\"\n"));
    assert_eq!(key.as_deref(), Some("exec.approval"), "{message}");
}

#[test]
fn a_turn_outlasts_the_exec_commands_it_may_wait_for() {
    // ask: 180 s for the answer + 60 s to run must fit in the turn.
    let (_, _, key, message) = invalid(parse("[agent]\nturn_timeout_secs = 240\n"));
    assert_eq!(key.as_deref(), Some("agent.turn_timeout_secs"), "{message}");
    assert!(message.contains("240 s"), "{message}");
    parse("[agent]\nturn_timeout_secs = 241\n").unwrap();
    // allowlist: only the run counts; deny: nothing does.
    parse("[agent]\nturn_timeout_secs = 61\n[exec]\napproval = \"allowlist\"\n").unwrap();
    assert_eq!(
        key_of(parse(
            "[agent]\nturn_timeout_secs = 60\n[exec]\napproval = \"allowlist\"\n"
        )),
        "agent.turn_timeout_secs"
    );
    parse("[agent]\nturn_timeout_secs = 5\n[exec]\napproval = \"deny\"\n").unwrap();
}

#[test]
fn shell_limits_must_be_positive() {
    let config = parse("[shell]\nmax_instances = 2\nmemory_mb = 256\n").unwrap();
    assert_eq!(config.config.shell.max_instances, 2);
    assert_eq!(config.config.shell.memory_mb, 256);
    for key in [
        "max_instances",
        "memory_mb",
        "max_pids",
        "cpu_percent",
        "tmp_mb",
    ] {
        let text = format!("[shell]\n{key} = 0\n");
        assert_eq!(key_of(parse(&text)), format!("shell.{key}"));
    }
    assert_eq!(config.config.shell.workspace_mb, 1024);
    assert_eq!(config.config.shell.workspace_inodes, 65536);
    // The exec pool: on by default, off at 0, bounded.
    assert_eq!(config.config.shell.pool, 2);
    assert_eq!(parse("[shell]\npool = 0\n").unwrap().config.shell.pool, 0);
    assert_eq!(parse("[shell]\npool = 8\n").unwrap().config.shell.pool, 8);
    assert_eq!(key_of(parse("[shell]\npool = 9\n")), "shell.pool");
    parse("[shell]\nworkspace_mb = 16\nworkspace_inodes = 16384\n").unwrap();
    for text in [
        "[shell]\nworkspace_mb = 15\n",
        "[shell]\nworkspace_mb = 0\n",
    ] {
        assert_eq!(key_of(parse(text)), "shell.workspace_mb", "{text}");
    }
    for text in [
        "[shell]\nworkspace_inodes = 127\n",
        "[shell]\nworkspace_mb = 16\nworkspace_inodes = 16385\n",
    ] {
        assert_eq!(key_of(parse(text)), "shell.workspace_inodes", "{text}");
    }
    assert_eq!(
        key_of(parse("[shell]\nswap = true\n")),
        "shell.swap",
        "unknown keys are refused"
    );
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

#[test]
fn egress_routes_and_bindings_the_broker_could_not_use_are_refused() {
    let good = "[[egress.routes]]\nhosts = [\"api.github.com\"]\nports = [443]\ntls = true\n\
                methods = [\"GET\"]\npaths = [\"/repos/\"]\n\
                [egress.secrets.GITHUB_TOKEN]\nhosts = [\"api.github.com\"]\nheader = \"authorization\"\n";
    let config = parse(good).unwrap();
    assert!(config.config.egress.routes[0].tls);
    assert_eq!(config.config.egress.max_mb, 1024);
    for (text, key) in [
        ("[egress]\nmax_mb = 0\n", "egress.max_mb"),
        (
            "[[egress.routes]]\nhosts = []\nports = [443]\n",
            "egress.routes[0].hosts",
        ),
        (
            "[[egress.routes]]\nhosts = [\"a.test\"]\nports = []\n",
            "egress.routes[0].ports",
        ),
        (
            "[[egress.routes]]\nhosts = [\"a.test\"]\nports = [0]\n",
            "egress.routes[0].ports",
        ),
        (
            "[[egress.routes]]\nhosts = [\"a.test\"]\nports = [80]\ntls = true\n",
            "egress.routes[0].ports",
        ),
        (
            "[[egress.routes]]\nhosts = [\"a.test\"]\nports = [80]\nmethods = [\"GET /\"]\n",
            "egress.routes[0].methods",
        ),
        (
            "[[egress.routes]]\nhosts = [\"a.test\"]\nports = [80]\npaths = [\"v1\"]\n",
            "egress.routes[0].paths",
        ),
        (
            "[[egress.routes]]\nhosts = [\"a.test\"]\nports = [443]\npaths = [\"/v1\"]\ninspect = false\n",
            "egress.routes[0].inspect",
        ),
        (
            "[egress.secrets.github]\nhosts = [\"a.test\"]\n",
            "egress.secrets.github",
        ),
        (
            "[egress.secrets.EGRESS_CA]\nhosts = [\"a.test\"]\n",
            "egress.secrets.EGRESS_CA",
        ),
        (
            "[egress.secrets.TOKEN]\nhosts = []\n",
            "egress.secrets.TOKEN.hosts",
        ),
        (
            "[egress.secrets.TOKEN]\nhosts = [\"a.test\"]\nheader = \"x: y\"\n",
            "egress.secrets.TOKEN.header",
        ),
    ] {
        assert_eq!(key_of(parse(text)), key, "{text}");
    }
}

#[test]
fn a_route_is_inspected_where_the_broker_has_something_to_apply_or_https_leaves() {
    let config = parse(
        "[[egress.routes]]\nhosts = [\"api.bound.test\"]\nports = [8443]\n\
         [[egress.routes]]\nhosts = [\"ruled.test\"]\nports = [8443]\nmethods = [\"GET\"]\n\
         [[egress.routes]]\nhosts = [\"web.test\"]\nports = [443]\n\
         [[egress.routes]]\nhosts = [\"git.test\"]\nports = [22]\n\
         [[egress.routes]]\nhosts = [\"pinned.test\"]\nports = [443]\ninspect = false\n\
         [[egress.routes]]\nhosts = [\"other.test\"]\nports = [8443]\ninspect = true\n\
         [egress.secrets.TOKEN]\nhosts = [\"*.bound.test\"]\n",
    )
    .unwrap();
    let egress = &config.config.egress;
    let inspected: Vec<bool> = egress.routes.iter().map(|r| egress.inspects(r)).collect();
    assert_eq!(inspected, [true, true, true, false, false, true]);
}

#[test]
fn a_bad_host_pattern_is_refused_at_load_with_its_line_and_key() {
    for (text, line, key) in [
        (
            "[[egress.routes]]\nports = [443]\nhosts = [\"api.github.com\", \"*.com\"]\n",
            3,
            "egress.routes[0].hosts",
        ),
        (
            "[egress.secrets.TOKEN]\nheader = \"authorization\"\nhosts = [\"a.*.test\"]\n",
            3,
            "egress.secrets.TOKEN.hosts",
        ),
        (
            "[[egress.routes]]\nhosts = [\"exa mple.com\"]\nports = [443]\n",
            2,
            "egress.routes[0].hosts",
        ),
    ] {
        let (at, _, found, message) = invalid(parse(text));
        assert_eq!((at, found.as_deref()), (line, Some(key)), "{text}");
        // The key is the list; the message names the pattern that failed.
        assert!(
            message.contains("host name") || message.contains("wildcard"),
            "{message}"
        );
        assert!(
            text.lines()
                .nth(line - 1)
                .is_some_and(|l| l.starts_with("hosts"))
        );
        let shown = parse(text).unwrap_err().to_string();
        assert!(
            shown.starts_with(&format!("/etc/hardshell/hardshell.toml:{line}:")),
            "{shown}"
        );
    }
}

#[test]
fn good_host_patterns_are_parsed_at_load() {
    let text = "[[egress.routes]]\nhosts = [\"API.GitHub.com.\", \"*.githubusercontent.com\"]\n\
                ports = [443]\n[egress.secrets.TOKEN]\nhosts = [\"*.example.com\"]\n";
    let loaded = parse(text).unwrap();
    let route = &loaded.config.egress.routes[0];
    assert_eq!(
        route.hosts,
        [
            crate::HostPattern::parse("api.github.com").unwrap(),
            crate::HostPattern::parse("*.githubusercontent.com").unwrap(),
        ]
    );
    let github = hardshell_vocabulary::Host::parse("objects.githubusercontent.com").unwrap();
    assert!(route.hosts[1].matches(&github));
    let binding = &loaded.config.egress.secrets["TOKEN"];
    assert_eq!(binding.hosts[0].to_string(), "*.example.com");
}

#[test]
fn the_agent_and_its_exec_tool_run_only_when_the_config_says_so() {
    let runs = |text: &str| {
        let config = parse(text).unwrap().config;
        (config.agent_runs(), config.exec_runs())
    };
    assert_eq!(runs(""), (true, true), "the defaults run both");
    assert_eq!(runs("[exec]\napproval = \"allowlist\"\n"), (true, true));
    assert_eq!(runs("[exec]\napproval = \"deny\"\n"), (true, false));
    assert_eq!(runs("[agent]\nenabled = false\n"), (false, false));
    let upstream = "[upstream]\nurl = \"http://127.0.0.1:3000\"\n";
    assert_eq!(
        runs(upstream),
        (false, false),
        "an upstream replaces the agent"
    );
}
