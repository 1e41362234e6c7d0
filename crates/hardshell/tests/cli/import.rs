use hardshell_testkit::instance::Instance;

const HARDENED: &str =
    include_str!("../../../hardshell-import/tests/fixtures/moltworker-hardened.toml");
const DEFAULT: &str =
    include_str!("../../../hardshell-import/tests/fixtures/moltworker-default.toml");

#[test]
fn import_writes_a_config_that_checks_and_prints_the_secret_lines() {
    let hs = Instance::empty(crate::HARDSHELL);
    std::fs::write(hs.path("wrangler.toml"), HARDENED).unwrap();
    let run = hs
        .run(&["import", "wrangler.toml", "--secret", "TELEGRAM_BOT_TOKEN"])
        .ok();
    for expected in [
        "hardshell secret put ANTHROPIC_API_KEY",
        "hardshell secret put TELEGRAM_BOT_TOKEN",
        "vars.MOLTHUB_ALLOWLIST: NOT enforced",
        "openclaw.json: OpenClaw's own config",
    ] {
        assert!(run.stdout.contains(expected), "{expected}\n{}", run.stdout);
    }
    let written = std::fs::read_to_string(hs.path("hardshell.toml")).unwrap();
    let loaded =
        hardshell_config::LoadedConfig::parse(&written, &hs.path("hardshell.toml")).unwrap();
    // OpenClaw's config beside it, named by the state's seed.
    let seed = &loaded.config.workload.unwrap().seed;
    let openclaw =
        std::fs::read_to_string(hs.path(seed["openclaw.json"].to_str().unwrap())).unwrap();
    let openclaw: serde_json::Value = serde_json::from_str(&openclaw).unwrap();
    assert_eq!(
        openclaw["agents"]["defaults"]["model"]["primary"],
        "anthropic/claude-sonnet-4-20250514"
    );
}

#[test]
fn import_never_overwrites_without_force() {
    let hs = Instance::empty(crate::HARDSHELL);
    std::fs::write(hs.path("wrangler.toml"), HARDENED).unwrap();
    std::fs::write(hs.path("hardshell.toml"), "# mine\n").unwrap();
    let line = hs.run(&["import", "wrangler.toml"]).failed_with_one_line();
    assert!(line.contains("already exists"), "{line}");
    assert_eq!(
        std::fs::read_to_string(hs.path("hardshell.toml")).unwrap(),
        "# mine\n"
    );
    // Nor over OpenClaw's config: and then nothing at all is written.
    std::fs::remove_file(hs.path("hardshell.toml")).unwrap();
    std::fs::write(hs.path("openclaw.json"), "{}\n").unwrap();
    let line = hs.run(&["import", "wrangler.toml"]).failed_with_one_line();
    assert!(line.contains("openclaw.json already exists"), "{line}");
    assert!(!hs.path("hardshell.toml").exists());
    assert_eq!(
        std::fs::read_to_string(hs.path("openclaw.json")).unwrap(),
        "{}\n"
    );
    hs.run(&["import", "wrangler.toml", "--force"]).ok();
    assert!(
        std::fs::read_to_string(hs.path("hardshell.toml"))
            .unwrap()
            .contains("[workload]")
    );
}

#[test]
fn import_refuses_an_unpinned_image_and_writes_nothing() {
    let hs = Instance::empty(crate::HARDSHELL);
    std::fs::write(hs.path("wrangler.toml"), DEFAULT).unwrap();
    let line = hs.run(&["import", "wrangler.toml"]).failed_with_one_line();
    assert!(line.contains("not pinned by digest"), "{line}");
    assert!(line.contains("skopeo inspect"), "{line}");
    assert!(!hs.path("hardshell.toml").exists());
    let run = hs
        .run(&["import", "wrangler.toml", "--allow-unpinned"])
        .ok();
    assert!(run.stdout.contains("NOT pinned"), "{}", run.stdout);
    assert!(
        std::fs::read_to_string(hs.path("hardshell.toml"))
            .unwrap()
            .contains("unpinned_images = true")
    );
}

#[test]
fn config_check_shows_the_imported_workload_and_its_danger() {
    let hs = Instance::initialised(crate::HARDSHELL);
    std::fs::write(hs.path("wrangler.toml"), DEFAULT).unwrap();
    hs.run(&["import", "wrangler.toml", "--allow-unpinned", "--force"])
        .ok();
    let run = hs.run(&["config", "check"]).ok();
    for expected in [
        "warning: dangerous.unpinned_images is on",
        "workload    image ghcr.io/openclaw/openclaw:latest (NOT pinned",
        "workload    host openclaw.localhost, port 8080",
        "workload    its tag names no OpenClaw release",
        "workload    env OPENCLAW_GATEWAY_PORT=8080",
        "workload    env OPENCLAW_MODE=production",
    ] {
        assert!(run.stdout.contains(expected), "{expected}\n{}", run.stdout);
    }
}
