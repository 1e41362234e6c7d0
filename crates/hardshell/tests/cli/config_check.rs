use std::os::unix::fs::PermissionsExt;

use hardshell_testkit::instance::Instance;

#[test]
fn a_fresh_install_checks_ok() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let run = hs.run(&["config", "check"]).ok();
    assert!(run.stdout.contains("ok: hardshell.toml"), "{}", run.stdout);
    assert!(run.stdout.contains("(encrypted)"), "{}", run.stdout);
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let hs = Instance::initialised(crate::HARDSHELL);
    hs.edit_config(|text| text.replace("listen = ", "lisen = "));
    let line = hs.run(&["config", "check"]).failed_with_one_line();
    assert!(
        line.contains("hardshell.toml:18:1: `edge.lisen`: unknown field"),
        "{line}"
    );
}

#[test]
fn wrong_type_names_the_key() {
    let hs = Instance::initialised(crate::HARDSHELL);
    hs.edit_config(|text| {
        text.replace(
            "unencrypted_storage = false",
            "unencrypted_storage = \"no\"",
        )
    });
    let line = hs.run(&["config", "check"]).failed_with_one_line();
    assert!(line.contains("`dangerous.unencrypted_storage`"), "{line}");
}

#[test]
fn config_check_says_how_each_egress_route_leaves() {
    let hs = Instance::initialised(crate::HARDSHELL);
    hs.edit_config(|text| {
        format!(
            "{text}\n[[egress.routes]]\nhosts = [\"api.github.com\"]\nports = [443]\n\
             [[egress.routes]]\nhosts = [\"github.com\"]\nports = [22]\n\
             [[egress.routes]]\nhosts = [\"pinned.test\"]\nports = [443]\ninspect = false\n"
        )
    });
    let run = hs.run(&["config", "check"]).ok();
    for line in [
        "egress      api.github.com port 443: inspected",
        "egress      github.com port 22: raw tunnel",
        "egress      pinned.test port 443: raw tunnel",
    ] {
        assert!(run.stdout.contains(line), "{line}: {}", run.stdout);
    }
}

#[test]
fn a_bad_host_pattern_names_file_line_and_key() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let mut line_of_hosts = 0;
    hs.edit_config(|text| {
        let text = format!("{text}\n[[egress.routes]]\nports = [443]\n");
        line_of_hosts = text.lines().count() + 1;
        format!("{text}hosts = [\"api.github.com\", \"*.com\"]\n")
    });
    let line = hs.run(&["config", "check"]).failed_with_one_line();
    assert!(
        line.contains(&format!("hardshell.toml:{line_of_hosts}:"))
            && line.contains("`egress.routes[0].hosts`")
            && line.contains("\"*.com\""),
        "{line}"
    );
}

#[test]
fn an_inline_api_key_is_refused_with_a_hint() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let key = "sk-proj-T3BlbkFJ0123456789abcdefGHIJKLmnop";
    hs.edit_config(|text| {
        format!("{text}\n[storage.s3]\nbucket = \"b\"\naccess_key_id = \"{key}\"\n")
    });
    let line = hs.run(&["config", "check"]).failed_with_one_line();
    assert!(
        line.contains("storage.s3.access_key_id") && line.contains("hardshell secret put"),
        "{line}"
    );
    assert!(!line.contains("T3Blbk"), "{line}");
}

#[test]
fn a_missing_master_key_is_a_clear_error() {
    let hs = Instance::initialised(crate::HARDSHELL);
    std::fs::remove_file(hs.path("data/master.key")).unwrap();
    let line = hs.run(&["config", "check"]).failed_with_one_line();
    assert!(line.contains("no master key"), "{line}");
}

#[test]
fn a_wrong_master_key_is_named_and_the_data_survives() {
    let hs = Instance::initialised(crate::HARDSHELL);
    hs.run_with_stdin(&["secret", "put", "KEEP_ME"], b"value")
        .ok();
    let other = "cd".repeat(32);
    let output = hs
        .command(&["secret", "list"])
        .env("HARDSHELL_MASTER_KEY", &other)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("wrong master key"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let run = hs.run(&["secret", "list"]).ok();
    assert!(run.stdout.contains("KEEP_ME"), "{}", run.stdout);
}

#[test]
fn a_key_file_readable_by_others_is_refused() {
    let hs = Instance::initialised(crate::HARDSHELL);
    std::fs::set_permissions(
        hs.path("data/master.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let line = hs.run(&["config", "check"]).failed_with_one_line();
    assert!(line.contains("chmod 600"), "{line}");
}

#[test]
fn master_key_file_flag_and_env_are_honoured() {
    let hs = Instance::initialised(crate::HARDSHELL);
    std::fs::rename(hs.path("data/master.key"), hs.path("elsewhere.key")).unwrap();
    hs.run(&["--master-key-file", "elsewhere.key", "config", "check"])
        .ok();
    let output = hs
        .command(&["config", "check"])
        .env("HARDSHELL_MASTER_KEY_FILE", hs.path("elsewhere.key"))
        .output()
        .unwrap();
    assert!(output.status.success());
}

#[test]
fn a_missing_config_is_a_clear_error() {
    let hs = Instance::empty(crate::HARDSHELL);
    let line = hs.run(&["config", "check"]).failed_with_one_line();
    assert!(line.contains("cannot read hardshell.toml"), "{line}");
}

#[test]
fn dangerous_settings_are_reported() {
    let hs = Instance::initialised(crate::HARDSHELL);
    hs.edit_config(|text| {
        text.replace("unencrypted_storage = false", "unencrypted_storage = true")
    });
    let run = hs.run(&["config", "check"]).ok();
    assert!(
        run.stdout
            .contains("warning: dangerous.unencrypted_storage is on"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("NOT encrypted"), "{}", run.stdout);
}
