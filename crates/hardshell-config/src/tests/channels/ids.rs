//! The ids, roots and keys `[channels]` names things by.

use hardshell_vocabulary::Platform;

use super::super::{invalid, parse};
use super::{PUBLIC_KEY, discord, sender, telegram};
use crate::{Config, DiscordCommand, DiscordPublicKey, MAX_CHANNEL_IDS, SlackChannel};

#[test]
fn lists_take_their_platforms_ids_as_strings() {
    let text = "[channels.telegram]\nallow = [\"42\", \"123456789\"]\ngroups = [\"-1001234567890\", \"-42\"]\n\
                [channels.slack]\nallow = [\"T0123ABCD:U0123ABCD\", \"E0123ABCD:W0123ABCD\"]\n\
                channels = [\"C0123ABCD\", \"G0123ABCD\"]\n\
                [channels.discord]\nallow = [\"80351110224678912\"]\nchannels = [\"41771983423143937\"]\n\
                [channels.whatsapp]\nallow = [\"15551234567\"]\n";
    let channels = parse(text).unwrap().config.channels;
    assert_eq!(
        channels.telegram.allow,
        [
            sender(Platform::Telegram, "42"),
            sender(Platform::Telegram, "123456789")
        ]
    );
    assert_eq!(channels.telegram.groups, [-1_001_234_567_890, -42]);
    assert_eq!(
        channels.allow(Platform::Slack)[1],
        sender(Platform::Slack, "E0123ABCD:W0123ABCD")
    );
    assert_eq!(channels.slack.channels[1].as_str(), "G0123ABCD");
    assert_eq!(channels.discord.channels, [41_771_983_423_143_937]);
    assert_eq!(
        channels.whatsapp.allow,
        [sender(Platform::Whatsapp, "15551234567")]
    );
}

#[test]
fn an_id_outside_its_platforms_grammar_is_refused() {
    for (table, key, bad) in [
        // Names anyone can take, in place of ids.
        ("telegram", "allow", "\"@alice\""),
        ("slack", "allow", "\"U0123ABCD\""),
        ("slack", "channels", "\"#general\""),
        ("discord", "allow", "\"alice#0001\""),
        ("whatsapp", "allow", "\"+15551234567\""),
        // A group where a user belongs, and the reverse.
        ("telegram", "allow", "\"-1001234567890\""),
        ("telegram", "groups", "\"1001234567890\""),
        ("telegram", "groups", "\"-01\""),
        // A direct-message conversation is not a channel.
        ("slack", "channels", "\"D0123ABCD\""),
        ("discord", "channels", "\"0\""),
        ("discord", "channels", "\"18446744073709551616\""),
        // Ids are strings: a number is refused with the string to write.
        ("telegram", "allow", "42"),
        ("telegram", "groups", "-1001234567890"),
        ("discord", "allow", "true"),
    ] {
        let text = format!("[channels.{table}]\n{key} = [{bad}]\n");
        let (line, _, got, message) = invalid(parse(&text));
        assert_eq!(
            (line, got.as_deref()),
            (2, Some(format!("channels.{table}.{key}").as_str())),
            "{text}: {message}"
        );
    }
    let (_, _, _, message) = invalid(parse("[channels.telegram]\nallow = [42]\n"));
    assert!(message.contains("\"42\""), "{message}");
}

#[test]
fn an_id_listed_twice_or_too_many_ids_are_refused() {
    let (_, _, key, message) = invalid(parse("[channels.discord]\nallow = [\"7\", \"7\"]\n"));
    assert_eq!(key.as_deref(), Some("channels.discord.allow"));
    assert!(message.contains("twice"), "{message}");
    let ids = |n: usize| {
        (1..=n)
            .map(|i| format!("\"{i}\""))
            .collect::<Vec<_>>()
            .join(",")
    };
    let at_most = format!("[channels.telegram]\nallow = [{}]\n", ids(MAX_CHANNEL_IDS));
    assert_eq!(
        parse(&at_most)
            .unwrap()
            .config
            .channels
            .telegram
            .allow
            .len(),
        MAX_CHANNEL_IDS
    );
    let over = format!(
        "[channels.telegram]\nallow = [{}]\n",
        ids(MAX_CHANNEL_IDS + 1)
    );
    let (_, _, key, _) = invalid(parse(&over));
    assert_eq!(key.as_deref(), Some("channels.telegram.allow"));
}

#[test]
fn an_api_root_is_https_or_http_to_a_loopback_address() {
    for good in [
        "https://api.telegram.org",
        "https://tg-proxy.example.com/telegram/",
        "http://127.0.0.1:8081",
        "http://[::1]:8081/api",
    ] {
        let config = parse(&format!("[channels.telegram]\napi_root = \"{good}\"\n")).unwrap();
        let root = config.config.channels.telegram.api_root;
        assert!(!root.as_str().ends_with('/'), "{root}");
    }
    for (bad, said) in [
        // The token would cross the network in clear.
        ("http://api.telegram.org", "https"),
        // A name, which could resolve anywhere.
        ("http://localhost:8081", "https"),
        ("ftp://api.telegram.org", "https"),
        ("api.telegram.org", "not a URL"),
        ("https://api.telegram.org/?x=1", "query"),
        ("https://bot@api.telegram.org", "credentials"),
        // Telegram's token sits in its URL path: pasted there, it is refused
        // and not repeated.
        (
            "https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxf",
            "path",
        ),
    ] {
        let text = format!("[channels.telegram]\napi_root = \"{bad}\"\n");
        let (line, _, key, message) = invalid(parse(&text));
        assert_eq!(
            (line, key.as_deref()),
            (2, Some("channels.telegram.api_root")),
            "{bad}"
        );
        assert!(message.contains(said), "{bad}: {message}");
        assert!(!message.contains("AAHdq"), "{message}");
    }
}

#[test]
fn a_token_sent_to_another_host_than_the_platforms_is_warned_about() {
    let warned = |text: &str| -> Vec<&'static str> {
        parse(text)
            .unwrap()
            .config
            .channels
            .warnings()
            .into_iter()
            .map(|(key, _)| key)
            .collect()
    };
    assert_eq!(
        warned(&telegram("api_root = \"http://127.0.0.1:8081\"\n")),
        ["channels.telegram.api_root"]
    );
    // Another API version on the platform's own host is not another host.
    assert!(warned(&discord("api_root = \"https://DISCORD.com/api/v9\"\n")).is_empty());
    // Off, it sends nothing anywhere.
    assert!(warned("[channels.telegram]\napi_root = \"http://127.0.0.1:8081\"\n").is_empty());
}

#[test]
fn a_discord_public_key_is_32_bytes_of_hex() {
    // 64 hex digits pass the pasted-credential check here only: it is public.
    let config = parse(&discord(&format!("public_key = \"{PUBLIC_KEY}\"\n"))).unwrap();
    let key = config.config.channels.discord.public_key.unwrap();
    assert_eq!(key.as_bytes()[..2], [0x01, 0x23]);
    assert_eq!(key.as_bytes()[31], 0xef);
    for bad in [
        &PUBLIC_KEY[1..],
        "zz",
        &format!("{PUBLIC_KEY}00"),
        &PUBLIC_KEY.replace('0', "g"),
    ] {
        let text = format!("[channels.discord]\npublic_key = \"{bad}\"\n");
        let (_, _, key, _) = invalid(parse(&text));
        assert_eq!(key.as_deref(), Some("channels.discord.public_key"), "{bad}");
    }
    assert!(DiscordPublicKey::parse("é".repeat(32).as_str()).is_err());
    // Elsewhere, the same 64 hex digits are taken for a pasted credential.
    let text = format!("[channels.whatsapp]\nphone_number_id = \"{PUBLIC_KEY}\"\n");
    assert!(invalid(parse(&text)).3.contains("looks like"));
}

#[test]
fn a_discord_command_name_is_lowercase_and_short() {
    let config = parse(&discord("")).unwrap();
    assert_eq!(config.config.channels.discord.command.as_str(), "hardshell");
    let config = parse(&discord("command = \"ask-me_2\"\n")).unwrap();
    assert_eq!(config.config.channels.discord.command.as_str(), "ask-me_2");
    for bad in ["", "Hardshell", "two words", "ask/me", &"a".repeat(33)] {
        let text = format!("[channels.discord]\ncommand = \"{bad}\"\n");
        let (_, _, key, _) = invalid(parse(&text));
        assert_eq!(key.as_deref(), Some("channels.discord.command"), "{bad}");
    }
    assert!(DiscordCommand::parse(&"a".repeat(32)).is_ok());
}

#[test]
fn discords_cdn_hosts_are_exact_hosts() {
    let config = parse(&discord("")).unwrap();
    assert_eq!(
        config.config.channels.discord.cdn_hosts,
        ["cdn.discordapp.com", "media.discordapp.net"]
    );
    let config = parse(&discord("cdn_hosts = [\"127.0.0.1\", \"cdn.example\"]\n")).unwrap();
    assert_eq!(
        config.config.channels.discord.cdn_hosts,
        ["127.0.0.1", "cdn.example"]
    );
    for bad in [
        "*",
        "*.discordapp.com",
        "CDN.discordapp.com",
        "https://cdn.discordapp.com",
        "",
    ] {
        let text = format!("[channels.discord]\ncdn_hosts = [\"{bad}\"]\n");
        let (_, _, key, _) = invalid(parse(&text));
        assert_eq!(key.as_deref(), Some("channels.discord.cdn_hosts"), "{bad}");
    }
}

#[test]
fn a_phone_number_id_is_digits() {
    for bad in ["+15551234567", "", "12 34", &"1".repeat(33)] {
        let text = format!("[channels.whatsapp]\nphone_number_id = \"{bad}\"\n");
        let (_, _, key, _) = invalid(parse(&text));
        assert_eq!(
            key.as_deref(),
            Some("channels.whatsapp.phone_number_id"),
            "{bad:?}"
        );
    }
}

#[test]
fn a_slash_command_is_named_as_slack_names_them() {
    let default = parse("[channels.slack]\n").unwrap().config.channels.slack;
    assert_eq!(default.command.as_str(), "/hardshell");
    let named = parse("[channels.slack]\ncommand = \"/ask-me_2\"\n").unwrap();
    assert_eq!(named.config.channels.slack.command.as_str(), "/ask-me_2");
    for bad in [
        "hardshell",
        "/",
        "/Hardshell",
        "/two words",
        "//x",
        &format!("/{}", "x".repeat(32)),
    ] {
        let text = format!("[channels.slack]\ncommand = \"{bad}\"\n");
        let (_, _, key, _) = invalid(parse(&text));
        assert_eq!(key.as_deref(), Some("channels.slack.command"), "{bad:?}");
    }
}

#[test]
fn channels_written_back_read_as_the_same_config() {
    let mut config = Config {
        channels: super::full(),
        ..Config::default()
    };
    config
        .channels
        .slack
        .channels
        .push(SlackChannel::parse("G0123").unwrap());
    let text = toml::to_string(&config).unwrap();
    assert!(text.contains("allow = [\"42\"]"), "{text}");
    assert!(text.contains("groups = [\"-100123\"]"), "{text}");
    assert!(text.contains(&PUBLIC_KEY.to_lowercase()), "{text}");
    let back: Config = toml::from_str(&text).unwrap();
    assert_eq!(back, config);
}
