//! `[browser]` and `[dangerous] browser_internal`: every allow with its deny.

use std::time::Duration;

use super::{invalid, parse};
use crate::HostPattern;

/// A browser that may load one host, with `extra` keys after it.
fn enabled(extra: &str) -> String {
    format!("[browser]\nenabled = true\nallow = [\"example.com\"]\n{extra}")
}

#[test]
fn the_browser_is_off_by_default_and_runs_only_when_enabled() {
    let config = parse("").unwrap().config;
    assert!(!config.browser_runs());
    assert!(config.browser.warnings().is_empty());
    let config = parse(&enabled("")).unwrap().config;
    assert!(config.browser_runs());
    assert_eq!(
        config.browser.allow,
        [HostPattern::parse("example.com").unwrap()]
    );
    assert_eq!(config.browser.idle_timeout(), Duration::from_secs(300));
    assert_eq!(config.browser.max_lifetime(), Duration::from_secs(1800));
}

#[test]
fn an_enabled_browser_that_could_load_nothing_is_refused() {
    let (line, _, key, message) = invalid(parse("[browser]\nenabled = true\n"));
    // `allow` is not written: the error points at its table.
    assert_eq!((line, key.as_deref()), (1, Some("browser.allow")));
    assert!(message.contains("could load nothing"), "{message}");
    assert!(message.contains("allow_public"), "{message}");
    // Disabled, an empty list is the default and fine.
    parse("[browser]\nenabled = false\n").unwrap();
}

#[test]
fn any_public_host_is_allowed_only_when_asked_and_is_warned_about() {
    let loaded = parse("[browser]\nenabled = true\nallow_public = true\n").unwrap();
    assert!(loaded.config.browser_runs());
    let warned: Vec<_> = loaded
        .config
        .browser
        .warnings()
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(warned, ["browser.allow_public"]);
    // Listed hosts only: no warning.
    assert!(
        parse(&enabled(""))
            .unwrap()
            .config
            .browser
            .warnings()
            .is_empty()
    );
}

#[test]
fn listed_hosts_and_any_public_host_together_are_refused() {
    let (line, _, key, message) = invalid(parse(&enabled("allow_public = true\n")));
    assert_eq!((line, key.as_deref()), (4, Some("browser.allow_public")));
    assert!(message.contains("unclear"), "{message}");
    // Refused even while the browser is off: `config check` finds it now.
    let off = "[browser]\nallow = [\"example.com\"]\nallow_public = true\n";
    assert_eq!(key_of(off), "browser.allow_public");
}

#[test]
fn a_bad_host_pattern_is_refused_with_its_line() {
    for bad in ["*.com", "exa mple.com", "a.*.test", "http://example.com"] {
        let text = format!("[browser]\nenabled = true\nallow = [\"ok.example\", \"{bad}\"]\n");
        let (line, _, key, _) = invalid(parse(&text));
        assert_eq!((line, key.as_deref()), (3, Some("browser.allow")), "{bad}");
    }
    let wildcard = parse("[browser]\nenabled = true\nallow = [\"*.example.org\"]\n").unwrap();
    let host = hardshell_vocabulary::Host::parse("docs.example.org").unwrap();
    assert!(wildcard.config.browser.allow[0].matches(&host));
}

#[test]
fn chromium_must_be_a_plain_absolute_path() {
    for bad in [
        "chromium",
        "bin/chromium",
        "/",
        "/usr/lib/../bin/chromium",
        "/usr/lib/./chromium",
        "/usr//chromium",
        "/usr/lib/chromium\\n",
        "",
    ] {
        let text = format!("[browser]\nchromium = \"{bad}\"\n");
        let (line, _, key, message) = invalid(parse(&text));
        assert_eq!(
            (line, key.as_deref()),
            (2, Some("browser.chromium")),
            "{bad}"
        );
        assert!(message.contains("absolute path"), "{message}");
    }
    let loaded = parse("[browser]\nchromium = \"/opt/Chrome Beta/chrome\"\n").unwrap();
    assert_eq!(
        loaded.config.browser.chromium,
        std::path::Path::new("/opt/Chrome Beta/chrome")
    );
}

#[test]
fn counts_and_sizes_outside_their_ranges_are_refused() {
    for (key, value, range) in [
        ("max_instances", 0, "1 to 16"),
        ("max_instances", 17, "1 to 16"),
        ("memory_mb", 255, "256 to 65536"),
        ("memory_mb", 65_537, "256 to 65536"),
        ("max_pages", 0, "1 to 100"),
        ("max_pages", 101, "1 to 100"),
        ("cpu_percent", 0, "1 to 6400"),
        ("cpu_percent", 6_401, "1 to 6400"),
    ] {
        let (line, _, found, message) = invalid(parse(&format!("[browser]\n{key} = {value}\n")));
        assert_eq!(
            (line, found.as_deref()),
            (2, Some(format!("browser.{key}").as_str()))
        );
        assert!(message.contains(range), "{key} = {value}: {message}");
    }
    for (key, value) in [
        ("max_instances", 1),
        ("max_instances", 16),
        ("memory_mb", 256),
        ("max_pages", 1),
        ("max_pages", 100),
        ("cpu_percent", 1),
        ("cpu_percent", 6_400),
    ] {
        parse(&format!("[browser]\n{key} = {value}\n")).unwrap();
    }
}

#[test]
fn timeouts_are_positive_and_a_session_lives_at_least_its_idle_timeout() {
    for key in ["idle_timeout_secs", "max_lifetime_secs"] {
        let text = format!("[browser]\n{key} = 0\n");
        assert_eq!(key_of(&text), format!("browser.{key}"));
    }
    let (_, _, key, message) = invalid(parse(
        "[browser]\nidle_timeout_secs = 600\nmax_lifetime_secs = 599\n",
    ));
    assert_eq!(key.as_deref(), Some("browser.max_lifetime_secs"));
    assert!(message.contains("600"), "{message}");
    parse("[browser]\nidle_timeout_secs = 600\nmax_lifetime_secs = 600\n").unwrap();
}

#[test]
fn unknown_browser_keys_are_refused() {
    let (line, _, key, _) = invalid(parse("[browser]\nproxy_server = \"direct://\"\n"));
    assert_eq!((line, key.as_deref()), (2, Some("browser.proxy_server")));
}

#[test]
fn internal_addresses_open_to_the_browser_and_to_exec_shells_separately() {
    let browser = parse("[dangerous]\nbrowser_internal = [\"10.0.0.0/24\"]\n").unwrap();
    let dangerous = &browser.config.dangerous;
    assert!(dangerous.egress_internal.is_empty());
    assert_eq!(dangerous.browser_internal.len(), 1);
    let on: Vec<_> = dangerous
        .enabled()
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(on, ["dangerous.browser_internal"]);
    let exec = parse("[dangerous]\negress_internal = [\"10.0.0.0/24\"]\n").unwrap();
    assert!(exec.config.dangerous.browser_internal.is_empty());
    let on: Vec<_> = exec
        .config
        .dangerous
        .enabled()
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(on, ["dangerous.egress_internal"]);
    let (line, _, key, _) = invalid(parse("[dangerous]\nbrowser_internal = [\"10.0.0.0/33\"]\n"));
    assert_eq!(
        (line, key.as_deref()),
        (2, Some("dangerous.browser_internal"))
    );
}

fn key_of(text: &str) -> String {
    invalid(parse(text)).2.unwrap_or_default()
}
