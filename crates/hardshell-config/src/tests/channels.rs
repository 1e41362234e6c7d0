//! `[channels]`: every allow with its deny.

use hardshell_vocabulary::{Platform, SecretName, Sender};

use super::{invalid, parse};
use crate::{
    ApiRoot, Channels, DiscordPublicKey, PhoneNumberId, SecretRef, SlackChannel, SlackMode,
    TelegramMode, Unpaired,
};

const PUBLIC_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ABCDEF";

fn secret(name: &str) -> Option<SecretRef> {
    Some(SecretRef::Secret(SecretName::parse(name).unwrap()))
}

fn sender(platform: Platform, id: &str) -> Sender {
    Sender::parse(platform, id).unwrap()
}

/// Each platform enabled with what its default transport needs, `extra` keys after.
fn telegram(extra: &str) -> String {
    format!("[channels.telegram]\nenabled = true\ntoken = \"secret:TG\"\n{extra}")
}
fn slack(extra: &str) -> String {
    format!(
        "[channels.slack]\nenabled = true\nbot_token = \"secret:SB\"\napp_token = \"secret:SA\"\n{extra}"
    )
}
fn discord(extra: &str) -> String {
    format!("[channels.discord]\nenabled = true\ntoken = \"secret:DT\"\n{extra}")
}
fn whatsapp(extra: &str) -> String {
    format!(
        "[channels.whatsapp]\nenabled = true\naccess_token = \"secret:WA\"\n\
         app_secret = \"secret:WS\"\nverify_token = \"env:WV\"\nphone_number_id = \"1234567890\"\n{extra}"
    )
}

/// `[channels]` with every key set, for the template test.
pub(super) fn full() -> Channels {
    let mut channels = Channels {
        unpaired: Unpaired::Silent,
        max_file_mb: 10,
        ..Channels::default()
    };
    channels.telegram.token = secret("TG");
    channels.telegram.webhook_secret = secret("TW");
    channels.telegram.allow = vec![sender(Platform::Telegram, "42")];
    channels.telegram.groups = vec![-100_123];
    channels.slack.bot_token = secret("SB");
    channels.slack.app_token = secret("SA");
    channels.slack.signing_secret = secret("SS");
    channels.slack.channels = vec![SlackChannel::parse("C0123ABCD").unwrap()];
    channels.slack.command = crate::SlashCommand::parse("/ask").unwrap();
    channels.discord.token = secret("DT");
    channels.discord.public_key = Some(DiscordPublicKey::parse(PUBLIC_KEY).unwrap());
    channels.whatsapp.access_token = secret("WA");
    channels.whatsapp.app_secret = secret("WS");
    channels.whatsapp.verify_token = secret("WV");
    channels.whatsapp.phone_number_id = Some(PhoneNumberId::parse("1").unwrap());
    channels
}

#[test]
fn channels_are_off_by_default_and_each_runs_only_when_enabled() {
    let config = parse("").unwrap().config;
    assert!(!config.channels_run());
    assert_eq!(config.channels.unpaired, Unpaired::Code);
    for platform in Platform::ALL {
        assert!(!config.channel_runs(platform), "{platform}");
        assert_eq!(
            config.channels.api_root(platform),
            &ApiRoot::official(platform)
        );
    }
    assert_eq!(
        config.channels.telegram.api_root.as_str(),
        "https://api.telegram.org"
    );
    assert!(config.channels.warnings().is_empty());

    let config = parse(&telegram("")).unwrap().config;
    assert!(config.channels_run());
    assert!(config.channel_runs(Platform::Telegram));
    assert!(!config.channel_runs(Platform::Slack));
    assert_eq!(config.channels.telegram.token, secret("TG"));
    // Polling: nothing inbound.
    assert!(config.channel_webhooks().is_empty());
    assert!(config.channels.warnings().is_empty());
}

#[test]
fn an_enabled_channel_without_the_built_in_agent_is_refused() {
    for other in [
        "[agent]\nenabled = false\n",
        "[upstream]\nurl = \"http://127.0.0.1:9000\"\n",
    ] {
        let text = format!("{other}{}", discord(""));
        let (_, _, key, message) = invalid(parse(&text));
        assert_eq!(key.as_deref(), Some("channels.discord.enabled"), "{other}");
        assert!(message.contains("built-in agent"), "{message}");
        // Off, the channel's table is no trouble.
        let off = format!("{other}[channels.discord]\nenabled = false\n");
        assert!(!parse(&off).unwrap().config.channels_run());
    }
    // A config built in code cannot run a channel without the agent either.
    let mut config = parse(&discord("")).unwrap().config;
    assert!(config.channel_runs(Platform::Discord));
    config.agent.enabled = false;
    assert!(!config.channel_runs(Platform::Discord));
    assert!(!config.channels_run());
}

#[test]
fn an_enabled_channel_needs_every_credential_its_transport_uses() {
    for (text, missing) in [
        (
            "[channels.telegram]\nenabled = true\n".to_owned(),
            "channels.telegram.token",
        ),
        (
            telegram("mode = \"webhook\"\n"),
            "channels.telegram.webhook_secret",
        ),
        (
            "[channels.slack]\nenabled = true\napp_token = \"secret:SA\"\n".to_owned(),
            "channels.slack.bot_token",
        ),
        (
            "[channels.slack]\nenabled = true\nbot_token = \"secret:SB\"\n".to_owned(),
            "channels.slack.app_token",
        ),
        (
            "[channels.slack]\nenabled = true\nbot_token = \"secret:SB\"\nmode = \"events\"\n"
                .to_owned(),
            "channels.slack.signing_secret",
        ),
        (
            "[channels.discord]\nenabled = true\n".to_owned(),
            "channels.discord.token",
        ),
        (
            whatsapp("").replace("access_token = \"secret:WA\"\n", ""),
            "channels.whatsapp.access_token",
        ),
        (
            whatsapp("").replace("app_secret = \"secret:WS\"\n", ""),
            "channels.whatsapp.app_secret",
        ),
        (
            whatsapp("").replace("verify_token = \"env:WV\"\n", ""),
            "channels.whatsapp.verify_token",
        ),
        (
            whatsapp("").replace("phone_number_id = \"1234567890\"\n", ""),
            "channels.whatsapp.phone_number_id",
        ),
    ] {
        let (line, _, key, message) = invalid(parse(&text));
        assert_eq!(key.as_deref(), Some(missing), "{text}");
        // Not written: the error points at the channel's table.
        assert_eq!(line, 1, "{text}");
        assert!(message.contains("needs"), "{message}");
    }
    // Each with what it needs, it loads; off, none is needed.
    for text in [
        telegram(""),
        telegram("mode = \"webhook\"\nwebhook_secret = \"secret:TW\"\n"),
        slack(""),
        "[channels.slack]\nenabled = true\nbot_token = \"secret:SB\"\nmode = \"events\"\n\
         signing_secret = \"secret:SS\"\n"
            .to_owned(),
        discord(""),
        whatsapp(""),
    ] {
        parse(&text).unwrap();
    }
    for platform in Platform::ALL {
        parse(&format!("[channels.{platform}]\nenabled = false\n")).unwrap();
    }
}

#[test]
fn a_credential_its_mode_would_not_use_is_refused_even_while_off() {
    for (text, refused) in [
        (
            "[channels.telegram]\nwebhook_secret = \"secret:TW\"\n",
            "channels.telegram.webhook_secret",
        ),
        (
            "[channels.telegram]\nmode = \"polling\"\nwebhook_secret = \"secret:TW\"\n",
            "channels.telegram.webhook_secret",
        ),
        (
            "[channels.slack]\nsigning_secret = \"secret:SS\"\n",
            "channels.slack.signing_secret",
        ),
        (
            "[channels.slack]\nmode = \"events\"\napp_token = \"secret:SA\"\n",
            "channels.slack.app_token",
        ),
    ] {
        let (line, _, key, message) = invalid(parse(text));
        let field = refused.rsplit('.').next().unwrap();
        let written = text.lines().position(|l| l.starts_with(field)).unwrap() + 1;
        assert_eq!((key.as_deref(), line), (Some(refused), written), "{text}");
        assert!(message.contains("drop it"), "{message}");
    }
}

#[test]
fn webhook_routes_are_served_only_for_the_modes_that_take_them() {
    let webhooks = |text: &str| parse(text).unwrap().config.channel_webhooks();
    assert_eq!(
        webhooks(&telegram(
            "mode = \"webhook\"\nwebhook_secret = \"secret:TW\"\n"
        )),
        [Platform::Telegram]
    );
    let events = "[channels.slack]\nenabled = true\nbot_token = \"secret:SB\"\n\
                  mode = \"events\"\nsigning_secret = \"secret:SS\"\n";
    let loaded = parse(events).unwrap().config;
    assert_eq!(loaded.channels.slack.mode, SlackMode::Events);
    assert_eq!(loaded.channel_webhooks(), [Platform::Slack]);
    assert!(webhooks(&slack("")).is_empty());
    assert!(webhooks(&discord("")).is_empty());
    let interactions = discord(&format!("public_key = \"{PUBLIC_KEY}\"\n"));
    assert_eq!(webhooks(&interactions), [Platform::Discord]);
    assert_eq!(webhooks(&whatsapp("")), [Platform::Whatsapp]);
    // A webhook mode on a channel that is off serves nothing.
    let off = "[channels.telegram]\nmode = \"webhook\"\n";
    let config = parse(off).unwrap().config;
    assert_eq!(config.channels.telegram.mode, TelegramMode::Webhook);
    assert!(config.channel_webhooks().is_empty());
}

#[test]
fn a_wildcard_never_turns_pairing_off() {
    for (table, key, wildcard) in [
        ("telegram", "allow", "*"),
        ("telegram", "groups", "*"),
        ("slack", "allow", "T0123ABCD:*"),
        ("slack", "channels", "*"),
        ("discord", "allow", "*"),
        ("discord", "channels", "*"),
        ("whatsapp", "allow", "*"),
    ] {
        let text = format!("[channels.{table}]\n{key} = [\"{wildcard}\"]\n");
        let (line, _, got, message) = invalid(parse(&text));
        assert_eq!(
            (line, got.as_deref()),
            (2, Some(format!("channels.{table}.{key}").as_str())),
            "{text}"
        );
        assert!(
            message.contains("pairing is never turned off by a wildcard"),
            "{message}"
        );
    }
}

#[test]
fn what_pairs_nobody_is_answered_with_a_code_or_nothing() {
    let silent = parse("[channels]\nunpaired = \"silent\"\n").unwrap();
    assert_eq!(silent.config.channels.unpaired, Unpaired::Silent);
    let (line, _, key, _) = invalid(parse("[channels]\nunpaired = \"branded\"\n"));
    assert_eq!((line, key.as_deref()), (2, Some("channels.unpaired")));
}

#[test]
fn the_largest_attachment_is_bounded_both_ways() {
    assert_eq!(
        parse("").unwrap().config.channels.max_file_bytes(),
        10 << 20
    );
    let set = parse("[channels]\nmax_file_mb = 20\n").unwrap();
    assert_eq!(set.config.channels.max_file_bytes(), 20 << 20);
    for refused in ["0", "21", "4096"] {
        let (line, _, key, message) =
            invalid(parse(&format!("[channels]\nmax_file_mb = {refused}\n")));
        assert_eq!((line, key.as_deref()), (2, Some("channels.max_file_mb")));
        assert!(message.contains("1 to 20 MiB"), "{message}");
    }
}

#[test]
fn an_unknown_channel_key_is_refused() {
    // OpenClaw's name for an allowlist, which takes "*".
    let (line, _, key, _) = invalid(parse(&telegram("allowFrom = [\"*\"]\n")));
    assert_eq!(
        (line, key.as_deref()),
        (4, Some("channels.telegram.allowFrom"))
    );
    let (_, _, key, _) = invalid(parse("[channels.irc]\nenabled = true\n"));
    assert_eq!(key.as_deref(), Some("channels.irc"));
}

#[test]
fn a_credential_pasted_in_place_of_its_reference_is_refused_unrepeated() {
    for (text, pasted) in [
        (
            "[channels.telegram]\ntoken = \"123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw\"\n",
            "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        ),
        (
            "[channels.slack]\nbot_token = \"xoxb-1234567890-abcdefghijklmnop\"\n",
            "abcdefghijklmnop",
        ),
        // Not random-looking, but still not a reference.
        (
            "[channels.whatsapp]\nverify_token = \"my-verify-token\"\n",
            "my-verify-token",
        ),
    ] {
        let (line, _, _, message) = invalid(parse(text));
        assert_eq!(line, 2, "{text}");
        assert!(!message.contains(pasted), "{message}");
        assert!(message.contains("secret put"), "{message}");
    }
}

mod ids;
