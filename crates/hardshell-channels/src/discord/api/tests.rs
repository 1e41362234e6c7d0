#![allow(clippy::unwrap_used)]

use zeroize::Zeroizing;

use super::*;

fn secret(text: &str) -> SecretValue {
    SecretValue::new(Zeroizing::new(text.as_bytes().to_vec())).unwrap()
}

const TOKEN: &str = "MTM1MDAwMDAwMDAwMDAwMDAx.crabline.discord";

#[test]
fn https_root_is_accepted_and_plain_http_only_on_loopback() {
    let api = |root: &str| DiscordApi::new(Url::parse(root).unwrap(), &secret(TOKEN));
    assert!(api("https://discord.com/api/v10").is_ok());
    assert!(api("http://127.0.0.1:1/api/v10").is_ok());
    for bad in [
        "http://discord.com/api/v10",
        "ftp://127.0.0.1",
        "https://u@discord.com/api",
        "https://discord.com/api?x=1",
    ] {
        assert_eq!(api(bad).unwrap_err(), DiscordError::Root, "{bad}");
    }
}

#[test]
fn malformed_token_is_refused_without_showing_it() {
    for token in [
        "short",
        "abc def ghi jkl mno pqr",
        "a\r\nX-Evil: 1aaaaaaaaaaaaaaaaa",
    ] {
        let error = DiscordApi::new(
            Url::parse("https://discord.com/api").unwrap(),
            &secret(token),
        )
        .unwrap_err();
        assert_eq!(error, DiscordError::Token);
        assert!(!format!("{error} {error:?}").contains(token));
    }
}

#[test]
fn debug_never_shows_the_token() {
    let api = DiscordApi::new(
        Url::parse("https://discord.com/api/v10").unwrap(),
        &secret(TOKEN),
    )
    .unwrap();
    let shown = format!("{api:?}");
    assert!(!shown.contains("crabline"), "{shown}");
    assert!(shown.contains("discord.com"), "{shown}");
}

#[test]
fn snowflakes_are_digits_only() {
    assert!(is_snowflake("135000000000000010"));
    for bad in ["", "12a", "../x", "1".repeat(21).as_str(), "-1"] {
        assert!(!is_snowflake(bad), "{bad}");
    }
}
