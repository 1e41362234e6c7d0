//! The placeholder swap, the echo redactor and the leak scan's forms.

#![allow(clippy::unwrap_used)]
use super::*;

const KEY: &str = "sk-live-4f9a8b7c6d5e4f3a2b1c/d+e=f";

fn bindings() -> BTreeMap<String, Binding> {
    BTreeMap::from([
        (
            "GITHUB_TOKEN".to_owned(),
            Binding {
                hosts: vec![HostPattern::parse("api.github.com").unwrap()],
                header: Some("Authorization".into()),
            },
        ),
        (
            "WEATHER_KEY".to_owned(),
            Binding {
                hosts: vec![HostPattern::parse("*.weather.test").unwrap()],
                header: None,
            },
        ),
    ])
}

fn value(name: &str) -> Option<String> {
    Some(format!("value-of-{name}"))
}

#[test]
fn placeholders_are_swapped_only_where_bound() {
    let github = Host::parse("api.github.com").unwrap();
    let swapped = substitute(
        "Bearer hs-secret:GITHUB_TOKEN",
        &github,
        Place::Header("authorization"),
        &bindings(),
        value,
    )
    .unwrap();
    assert_eq!(swapped, "Bearer value-of-GITHUB_TOKEN");
    let weather = Host::parse("eu.weather.test").unwrap();
    let query = substitute(
        "q=x&key=hs-secret:WEATHER_KEY",
        &weather,
        Place::Query,
        &bindings(),
        value,
    )
    .unwrap();
    assert_eq!(query, "q=x&key=value-of-WEATHER_KEY");
    // Text without placeholders passes as it is.
    assert_eq!(
        substitute(
            "hs-secret: nothing",
            &github,
            Place::Body,
            &bindings(),
            value
        )
        .unwrap(),
        "hs-secret: nothing"
    );
}

#[test]
fn a_placeholder_anywhere_else_refuses_the_request() {
    let github = Host::parse("api.github.com").unwrap();
    let evil = Host::parse("api.github.com.evil.net").unwrap();
    for (text, host, place) in [
        (
            "Bearer hs-secret:GITHUB_TOKEN",
            &evil,
            Place::Header("authorization"),
        ),
        ("hs-secret:GITHUB_TOKEN", &github, Place::Body),
        ("hs-secret:GITHUB_TOKEN", &github, Place::Header("x-other")),
        ("key=hs-secret:WEATHER_KEY", &github, Place::Query),
        ("hs-secret:NOT_BOUND", &github, Place::Body),
    ] {
        let error = substitute(text, host, place, &bindings(), value).unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("hs-secret:"), "{shown}");
        assert!(!shown.contains("value-of"), "{shown}");
    }
}

#[test]
fn on_a_model_route_placeholders_are_text_but_its_own_key_in_its_key_header() {
    use crate::policy::KeyHeader;
    let host = Host::parse("api.openai.test").unwrap();
    let inert = Placeholders::Inert {
        key: Some(KeyHeader {
            header: "authorization".into(),
            secrets: vec!["LLM_OPENAI".into()],
        }),
    };
    let swap =
        |text: &str, place| swap_for_route(text, &host, place, &inert, &BTreeMap::new(), value);
    // The conversation quotes placeholders: bound or not, known or not,
    // they reach the model as the text they are.
    for (text, place) in [
        ("run with hs-secret:GITHUB_TOKEN", Place::Body),
        ("{\"content\":\"hs-secret:LLM_OPENAI\"}", Place::Body),
        ("hs-secret:NOT_BOUND", Place::Header("x-debug")),
        ("hs-secret:LLM_OPENAI", Place::Header("x-api-key")),
        ("q=hs-secret:WEATHER_KEY", Place::Query),
    ] {
        assert_eq!(swap(text, place).unwrap(), text, "{text}");
    }
    // The one swap: the provider's key in its key header.
    assert_eq!(
        swap(
            "Bearer hs-secret:LLM_OPENAI",
            Place::Header("Authorization")
        )
        .unwrap(),
        "Bearer value-of-LLM_OPENAI"
    );
    // Another key there is not this route's to send.
    assert!(swap("Bearer hs-secret:LLM_OTHER", Place::Header("authorization")).is_err());
    // A model route without a key swaps nothing and refuses nothing.
    let keyless = Placeholders::Inert { key: None };
    let text = "Bearer hs-secret:LLM_OPENAI";
    assert_eq!(
        swap_for_route(
            text,
            &host,
            Place::Header("authorization"),
            &keyless,
            &bindings(),
            value
        )
        .unwrap(),
        text
    );
    // A shell's own routes keep the bound rule.
    assert!(
        swap_for_route(
            "hs-secret:GITHUB_TOKEN",
            &host,
            Place::Body,
            &Placeholders::Bound,
            &bindings(),
            value
        )
        .is_err()
    );
}

#[test]
fn every_form_of_a_value_is_found_and_redacted() {
    let scanner = LeakScanner::new(&[NamedSecret::new("API_KEY", KEY.as_bytes().to_vec())]);
    let b64 = base64::engine::general_purpose::STANDARD.encode(KEY);
    let b64_shifted = base64::engine::general_purpose::STANDARD.encode(format!("x:{KEY}:y"));
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("ab{KEY}"));
    let hex_lower = hex::encode(KEY);
    let hex_upper = hex::encode_upper(KEY);
    let url = KEY
        .replace('/', "%2F")
        .replace('+', "%2B")
        .replace('=', "%3D");
    for (text, form) in [
        (format!("token={KEY}"), Form::Raw),
        (format!("data: {b64}"), Form::Base64),
        (format!("{{\"blob\":\"{b64_shifted}\"}}"), Form::Base64),
        (url_safe, Form::Base64),
        (hex_lower, Form::Hex),
        (hex_upper, Form::Hex),
        (format!("?k={url}"), Form::UrlEncoded),
        // Lower-case escapes (the key itself is lower case).
        (format!("?k={}", url.to_lowercase()), Form::UrlEncoded),
        // Base32 padded, and at each offset in a longer run, lower case.
        (data_encoding::BASE32.encode(KEY.as_bytes()), Form::Base32),
        (
            data_encoding::BASE32
                .encode(format!("ab{KEY}").as_bytes())
                .to_lowercase(),
            Form::Base32,
        ),
        (
            data_encoding::BASE32_NOPAD.encode(format!("abcd{KEY}xy").as_bytes()),
            Form::Base32,
        ),
    ] {
        let found = scanner
            .find(text.as_bytes())
            .unwrap_or_else(|| panic!("not found in {text}"));
        assert_eq!(
            found,
            Finding {
                name: "API_KEY".into(),
                form
            },
            "{text}"
        );
        let (redacted, findings) = scanner.redact(&text);
        assert!(redacted.contains("[redacted:API_KEY]"), "{redacted}");
        assert!(!findings.is_empty());
    }
    assert_eq!(scanner.find(b"nothing to see, sk-live-4f9a"), None);
    // Short values are not scanned; Debug shows names only.
    let short = LeakScanner::new(&[NamedSecret::new("PIN", b"1234".to_vec())]);
    assert_eq!(short.find(b"1234"), None);
    assert!(!format!("{scanner:?}").contains("sk-live"));
}

#[test]
fn wrapped_mixed_case_and_fully_escaped_forms_are_found_too() {
    let scanner = LeakScanner::new(&[NamedSecret::new("API_KEY", KEY.as_bytes().to_vec())]);
    let wrap = |text: &str, width: usize, with: &str| {
        text.as_bytes()
            .chunks(width)
            .map(|line| String::from_utf8(line.to_vec()).unwrap())
            .collect::<Vec<_>>()
            .join(with)
    };
    // `base64` wraps at 76 columns; the value is placed to straddle a
    // break.
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{}{KEY}", "x".repeat(40)));
    let hex = hex::encode(format!("{}{KEY}", "y".repeat(20)));
    let mixed: String = hex::encode(KEY)
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 3 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    let every: String = KEY.bytes().map(|b| format!("%{b:02X}")).collect();
    for (text, form) in [
        (wrap(&b64, 76, "\n"), Form::Base64),
        (wrap(&b64, 76, "\r\n"), Form::Base64),
        // As a JSON body carries a command's output.
        (
            format!("{{\"content\":\"{}\"}}", wrap(&b64, 76, "\\n")),
            Form::Base64,
        ),
        // `xxd -p` wraps at 60.
        (wrap(&hex, 60, "\n"), Form::Hex),
        (mixed, Form::Hex),
        (every.clone(), Form::UrlEncoded),
        (every.to_lowercase(), Form::UrlEncoded),
    ] {
        let found = scanner.find(text.as_bytes());
        assert_eq!(
            found,
            Some(Finding {
                name: "API_KEY".into(),
                form
            }),
            "{text}"
        );
    }
    // What a command prints wrapped is redacted over the lines it spans.
    let printed = format!("before\n{}\nafter", wrap(&b64, 76, "\n"));
    let (redacted, findings) = scanner.redact(&printed);
    assert_eq!(findings.len(), 1, "{redacted}");
    assert!(redacted.starts_with("before\n"), "{redacted}");
    assert!(redacted.ends_with("\nafter"), "{redacted}");
    assert!(redacted.contains("[redacted:API_KEY]"), "{redacted}");
    assert!(scanner.find(redacted.as_bytes()).is_none(), "{redacted}");
    // Line breaks alone are not a finding.
    assert_eq!(scanner.find(b"one\ntwo\r\nthree\\n"), None);
}

#[test]
fn reversed_spaced_and_split_between_streams_are_redacted_too() {
    let scanner = LeakScanner::new(&[NamedSecret::new("API_KEY", KEY.as_bytes().to_vec())]);
    let reversed: String = KEY.chars().rev().collect();
    let spaced: String = KEY.chars().map(|c| format!("{c} ")).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(KEY);
    // `base64 -w20`.
    let narrow = b64
        .as_bytes()
        .chunks(20)
        .map(|line| String::from_utf8(line.to_vec()).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    for (text, form) in [
        (format!("out: {reversed}\n"), Form::Reversed),
        (format!("out: {spaced}\n"), Form::Raw),
        (format!("{}\t{}", &KEY[..10], &KEY[10..]), Form::Raw),
        (narrow, Form::Base64),
    ] {
        assert_eq!(
            scanner.find(text.as_bytes()).map(|f| f.form),
            Some(form),
            "{text}"
        );
        let (redacted, _) = scanner.redact(&text);
        assert!(redacted.contains("[redacted:API_KEY]"), "{redacted}");
        assert_eq!(scanner.find(redacted.as_bytes()), None, "{redacted}");
    }
    // Half to stdout, half to stderr, in either order.
    let (head, tail) = (format!("{}\n", &KEY[..15]), format!("{}\n", &KEY[15..]));
    for (first, second) in [(&head, &tail), (&tail, &head)] {
        let (stdout, stderr, findings) = scanner.redact_streams(first, second);
        assert_eq!(findings.len(), 1, "{stdout} {stderr}");
        assert!(stdout.contains("[redacted:API_KEY]"), "{stdout}");
        assert_eq!(stderr, "");
    }
    // Output without a value passes as it was, each stream in its place.
    let (stdout, stderr, findings) = scanner.redact_streams("one two\n", "three\n");
    assert_eq!((stdout.as_str(), stderr.as_str()), ("one two\n", "three\n"));
    assert!(findings.is_empty());
}

#[test]
fn a_redactor_finds_values_split_across_pieces() {
    let secrets = [
        NamedSecret::new("TOKEN", b"ghp_0123456789".to_vec()),
        NamedSecret::new("KEY", b"sk-abcdef".to_vec()),
    ];
    let echoed = b"{\"auth\":\"Bearer ghp_0123456789\",\"k\":\"sk-abcdef\"}".to_vec();
    let expected = b"{\"auth\":\"Bearer hs-secret:TOKEN\",\"k\":\"hs-secret:KEY\"}".to_vec();
    // Every split point, and one byte at a time.
    for at in 0..echoed.len() {
        let mut redactor = Redactor::new(&secrets).unwrap();
        let mut out = redactor.push(&echoed[..at]);
        out.extend(redactor.push(&echoed[at..]));
        out.extend(redactor.finish());
        assert_eq!(out, expected, "split at {at}");
    }
    let mut redactor = Redactor::new(&secrets).unwrap();
    let mut out = Vec::new();
    for byte in &echoed {
        out.extend(redactor.push(std::slice::from_ref(byte)));
    }
    out.extend(redactor.finish());
    assert_eq!(out, expected);
    assert!(!format!("{redactor:?}").contains("ghp_"));
    assert_eq!(
        redactor
            .whole(b"token ghp_0123456789, again ghp_0123456789")
            .unwrap(),
        b"token hs-secret:TOKEN, again hs-secret:TOKEN"
    );
    assert_eq!(redactor.whole(b"nothing here"), None);
    assert!(Redactor::new(&[NamedSecret::new("EMPTY", Vec::new())]).is_none());
}

#[test]
fn a_redactor_holds_back_only_what_may_begin_a_value() {
    let secrets = [NamedSecret::new("TOKEN", b"ghp_0123456789".to_vec())];
    let mut redactor = Redactor::new(&secrets).unwrap();
    // An event that cannot begin a value passes whole, at once.
    assert_eq!(redactor.push(b"data: one\n\n"), b"data: one\n\n");
    // One whose end may: that end waits for the next piece.
    assert_eq!(redactor.push(b"data: GHP_01"), b"data: ");
    assert_eq!(redactor.push(b"23456789\n\n"), b"hs-secret:TOKEN\n\n");
    assert_eq!(redactor.push(b"x ghp"), b"x ");
    assert_eq!(redactor.push(b"!"), b"ghp!");
    assert_eq!(redactor.push(b"tail ghp_0"), b"tail ");
    assert_eq!(redactor.finish(), b"ghp_0");
}

#[test]
fn a_short_value_is_put_back_only_as_itself() {
    // "pin42" in base64 is "cGluNDI": its offset forms are a few characters
    // each, and text that happens to hold them must pass unchanged.
    let secrets = [NamedSecret::new("PIN", b"pin42".to_vec())];
    let mut redactor = Redactor::new(&secrets).unwrap();
    let mut out = redactor.push(b"pin42 cGluNDI 70696e3432 Gl uND");
    out.extend(redactor.finish());
    assert_eq!(out, b"hs-secret:PIN cGluNDI 70696e3432 Gl uND".to_vec());
}
