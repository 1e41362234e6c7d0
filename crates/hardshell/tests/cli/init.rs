use std::os::unix::fs::PermissionsExt;

use hardshell_testkit::instance::Instance;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_writes_config_private_data_dir_and_0600_key() {
    let hs = Instance::empty(crate::HARDSHELL);
    let run = hs.run(&["init"]).ok();
    assert!(
        run.stdout.contains("generated master key"),
        "{}",
        run.stdout
    );
    let config = std::fs::read_to_string(hs.path("hardshell.toml")).unwrap();
    assert_eq!(config, hardshell_config::TEMPLATE);
    assert_eq!(mode(&hs.path("data")), 0o700);
    assert_eq!(mode(&hs.path("data/master.key")), 0o600);
    let key = std::fs::read_to_string(hs.path("data/master.key")).unwrap();
    assert_eq!(key.trim().len(), 64);
    assert!(key.trim().bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!run.stdout.contains(key.trim()), "init printed the key");
}

#[test]
fn init_into_a_directory() {
    let hs = Instance::empty(crate::HARDSHELL);
    hs.run(&["init", "site"]).ok();
    assert!(hs.path("site/hardshell.toml").exists());
    assert!(hs.path("site/data/master.key").exists());
    hs.run(&["--config", "site/hardshell.toml", "config", "check"])
        .ok();
}

#[test]
fn init_refuses_to_overwrite_and_changes_nothing() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let key_before = std::fs::read(hs.path("data/master.key")).unwrap();
    hs.edit_config(|text| text.replace("level = \"info\"", "level = \"debug\""));
    let line = hs.run(&["init"]).failed_with_one_line();
    assert!(line.contains("already exists"), "{line}");
    assert_eq!(
        std::fs::read(hs.path("data/master.key")).unwrap(),
        key_before
    );
    assert!(
        std::fs::read_to_string(hs.path("hardshell.toml"))
            .unwrap()
            .contains("level = \"debug\"")
    );
}

#[test]
fn init_uses_a_master_key_from_the_environment_without_writing_one() {
    let hs = Instance::empty(crate::HARDSHELL);
    let key = "ab".repeat(32);
    let output = hs
        .command(&["init"])
        .env("HARDSHELL_MASTER_KEY", &key)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!hs.path("data/master.key").exists());
    // Without the variable, the key is missing: a clear error, not a new key.
    let line = hs.run(&["config", "check"]).failed_with_one_line();
    assert!(
        line.contains("no master key") && line.contains("HARDSHELL_MASTER_KEY"),
        "{line}"
    );
    let output = hs
        .command(&["config", "check"])
        .env("HARDSHELL_MASTER_KEY", &key)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn init_keeps_an_existing_key_file() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let key_before = std::fs::read(hs.path("data/master.key")).unwrap();
    std::fs::remove_file(hs.path("hardshell.toml")).unwrap();
    let run = hs.run(&["init"]).ok();
    assert!(
        run.stdout.contains("using the existing master key"),
        "{}",
        run.stdout
    );
    assert_eq!(
        std::fs::read(hs.path("data/master.key")).unwrap(),
        key_before
    );
}
