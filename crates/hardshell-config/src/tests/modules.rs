//! `[modules]`: trusted keys, the allowlist and `allow_unofficial`, each
//! accepted form with its refused neighbours.

use super::{invalid, parse};
use crate::{ModuleName, TrustedKey};

/// Two minisign public keys of the right form (`Ed`, key id, key).
const KEY_A: &str = "RWQBAgMEBQYHCCgpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZH";
const KEY_B: &str = "RWQCAwQFBgcICVBRUlNUVVZXWFlaW1xdXl9gYWJjZGVmZ2hpamtsbW5v";
/// Another key under KEY_A's key id: ids are chosen, not derived.
const KEY_A_ID_AGAIN: &str = "RWQBAgMEBQYHCFBRUlNUVVZXWFlaW1xdXl9gYWJjZGVmZ2hpamtsbW5v";

#[test]
fn trusted_keys_and_allowed_names_are_read_as_written() {
    let text = format!(
        "[modules]\ntrusted_keys = [\n  {{ name = \"hardshell\", key = \"{KEY_A}\", official = true }},\n  \
         {{ name = \"alice\", key = \"{KEY_B}\" }},\n]\nallow = [\"web-search\"]\n"
    );
    let modules = parse(&text).unwrap().config.modules;
    assert_eq!(
        modules.trusted_keys,
        [
            TrustedKey {
                name: "hardshell".into(),
                key: KEY_A.into(),
                official: true
            },
            TrustedKey {
                name: "alice".into(),
                key: KEY_B.into(),
                official: false
            },
        ]
    );
    assert_eq!(modules.allow, [ModuleName::parse("web-search").unwrap()]);
    assert!(!modules.allow_unofficial);
    assert!(modules.warnings().is_empty());
}

#[test]
fn unofficial_keys_are_warned_about_only_when_allowed_and_present() {
    let with = |allow: bool| {
        format!(
            "[modules]\nallow_unofficial = {allow}\ntrusted_keys = [{{ name = \"alice\", key = \"{KEY_B}\" }}]\n"
        )
    };
    assert!(
        parse(&with(false))
            .unwrap()
            .config
            .modules
            .warnings()
            .is_empty()
    );
    let warnings = parse(&with(true)).unwrap().config.modules.warnings();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].0, "modules.allow_unofficial");
}

#[test]
fn a_key_that_is_not_a_minisign_public_key_is_refused_at_its_entry() {
    let not_minisign = "not a minisign public key";
    for (bad, says) in [
        ("RW", not_minisign),
        ("not base64 at all", not_minisign),
        // A secret key's base64 (it starts `RWRTY0`) is longer: refused.
        (
            "RWRTY0IyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            not_minisign,
        ),
        // Right length, another algorithm's tag: not exempt from the
        // credential check, which refuses it first.
        (
            "RUQBAgMEBQYHCCgpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZH",
            "credentials do not belong",
        ),
    ] {
        let text = format!("[modules]\ntrusted_keys = [{{ name = \"a\", key = \"{bad}\" }}]\n");
        let (line, _, key, message) = invalid(parse(&text));
        assert_eq!(line, 2, "{bad}");
        assert_eq!(key.as_deref(), Some("modules.trusted_keys[0].key"), "{bad}");
        assert!(message.contains(says), "{bad}: {message}");
    }
}

#[test]
fn a_key_listed_twice_or_two_keys_under_one_name_are_refused() {
    let twice = format!(
        "[modules]\ntrusted_keys = [{{ name = \"a\", key = \"{KEY_A}\", official = true }}, \
         {{ name = \"b\", key = \"{KEY_A}\" }}]\n"
    );
    let (_, _, key, message) = invalid(parse(&twice));
    assert_eq!(key.as_deref(), Some("modules.trusted_keys[1].key"));
    assert!(message.contains("listed twice"), "{message}");
    let same_id = format!(
        "[modules]\ntrusted_keys = [{{ name = \"a\", key = \"{KEY_A}\", official = true }}, \
         {{ name = \"b\", key = \"{KEY_A_ID_AGAIN}\" }}]\n"
    );
    let (_, _, key, message) = invalid(parse(&same_id));
    assert_eq!(key.as_deref(), Some("modules.trusted_keys[1].key"));
    assert!(message.contains("same minisign key id"), "{message}");
    let one_name = format!(
        "[modules]\ntrusted_keys = [{{ name = \"a\", key = \"{KEY_A}\" }}, \
         {{ name = \"a\", key = \"{KEY_B}\" }}]\n"
    );
    let (_, _, key, _) = invalid(parse(&one_name));
    assert_eq!(key.as_deref(), Some("modules.trusted_keys[1].name"));
    for bad_name in ["", "Alice", "a b", "../x"] {
        let text =
            format!("[modules]\ntrusted_keys = [{{ name = \"{bad_name}\", key = \"{KEY_A}\" }}]\n");
        let (_, _, key, _) = invalid(parse(&text));
        assert_eq!(
            key.as_deref(),
            Some("modules.trusted_keys[0].name"),
            "{bad_name:?}"
        );
    }
}

#[test]
fn an_allowed_name_outside_the_module_name_rule_or_twice_is_refused() {
    let (line, _, key, _) = invalid(parse("[modules]\nallow = [\"Web_Search\"]\n"));
    // serde names the list, not its entry; the line is the entry's.
    assert_eq!((line, key.as_deref()), (2, Some("modules.allow")));
    let (_, _, key, message) = invalid(parse("[modules]\nallow = [\"fetch\", \"fetch\"]\n"));
    assert_eq!(key.as_deref(), Some("modules.allow[1]"));
    assert!(message.contains("twice"), "{message}");
}

#[test]
fn a_random_string_elsewhere_in_modules_is_still_a_credential() {
    // Only a key's own field is a public identifier.
    let text = format!("[modules]\ntrusted_keys = [{{ name = \"{KEY_A}\", key = \"{KEY_A}\" }}]\n");
    let (_, _, key, message) = invalid(parse(&text));
    assert_eq!(key.as_deref(), Some("modules.trusted_keys[0].name"));
    assert!(message.contains("credentials do not belong"), "{message}");
}
