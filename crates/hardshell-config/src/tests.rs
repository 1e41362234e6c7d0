use std::path::{Path, PathBuf};

use crate::{Config, ConfigError, LoadedConfig, S3, SecretRef, StorageBackend, TEMPLATE};

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
    full.storage.backend = StorageBackend::S3;
    full.storage.s3 = Some(S3 {
        endpoint: Some("https://e".into()),
        bucket: "b".into(),
        region: "r".into(),
        path_style: true,
        prefix: Some("p".into()),
        access_key_id: SecretRef::Secret("A".into()),
        secret_access_key: SecretRef::Secret("B".into()),
        max_retries: 1,
        retry_timeout_secs: 1,
    });
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
                line.starts_with(&format!("{key} ")) || line.starts_with(&format!("{key}="))
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
fn non_loopback_listen_is_refused_without_access_control() {
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
