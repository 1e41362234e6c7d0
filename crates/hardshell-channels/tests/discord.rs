//! The Discord channel against crabline's Discord server (REST v10 and the
//! JSON gateway: a real WebSocket, identify and heartbeats by twilight), and
//! against a fake of Discord's rate limits, which crabline does not emulate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "discord/fake.rs"]
mod fake;
// Shared with tests/discord_interactions.rs, which injects events too.
#[allow(dead_code)]
#[path = "discord/relay.rs"]
mod relay;
#[path = "discord/setup.rs"]
mod setup;

use std::sync::Arc;
use std::time::Duration;

use hardshell_channels::discord::DiscordChannel;
use hardshell_channels::discord::api::{DiscordApi, DiscordError};
use hardshell_channels::discord::outbox::DiscordOutbox;
use hardshell_channels::{Handled, Inbound, Place};
use serde_json::{Value, json};
use url::Url;

use fake::FakeDiscord;
use setup::{Bot, DM, GUILD, GUILD_CHANNEL, PERSON};

const WAIT: Duration = Duration::from_secs(30);

fn direct(text: &str) -> Value {
    json!({"channelId": DM, "senderId": PERSON, "senderName": "person", "content": text})
}

fn in_guild(text: &str) -> Value {
    json!({"channelId": GUILD_CHANNEL, "guildId": GUILD, "senderId": PERSON, "content": text})
}

/// The id crabline gave an injected message.
fn id(injected: &Value) -> String {
    injected["message"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_strangers_direct_message_gets_a_pairing_code_and_no_turn() {
    let bot = Bot::start("never said").await;
    let asked = bot.crabline.inject(direct("hello"));
    let sent = bot.crabline.wait_sent("messages", 1, WAIT).await;
    let content = sent[0]["content"].as_str().unwrap();
    assert!(content.contains("pairing code"), "{content}");
    assert_eq!(sent[0]["message_reference"]["message_id"], id(&asked));
    assert_eq!(sent[0]["allowed_mentions"], json!({"parse": []}));
    assert_eq!(bot.turns(), 0);
    bot.stop().await;
}

#[tokio::test]
async fn a_paired_sender_is_answered_and_the_bots_own_echo_is_ignored() {
    let bot = Bot::start("hello from the agent @everyone").await;
    bot.pair().await;
    let first = bot.crabline.inject(direct("hello"));
    bot.crabline.wait_sent("messages", 1, WAIT).await;
    // crabline sends the bot's answer back over the gateway as a
    // MESSAGE_CREATE; handled in order, it comes before this message.
    let second = bot.crabline.inject(direct("and again"));
    let sent = bot.crabline.wait_sent("messages", 2, WAIT).await;
    for (message, asked) in sent.iter().zip([&first, &second]) {
        assert_eq!(message["content"], "hello from the agent @everyone");
        assert_eq!(message["message_reference"]["message_id"], id(asked));
        assert_eq!(message["allowed_mentions"], json!({"parse": []}));
    }
    assert_eq!(bot.crabline.sent("messages").len(), 2);
    assert_eq!(bot.turns(), 2);
    bot.stop().await;
}

#[tokio::test]
async fn a_long_turn_holds_up_its_own_channel_only_and_a_channel_keeps_its_order() {
    let bot = Bot::start("answered").await;
    bot.pair().await;
    let slow = bot.crabline.inject(direct("slow one"));
    let until = std::time::Instant::now() + WAIT;
    while bot.turns() < 1 {
        assert!(std::time::Instant::now() < until, "the slow turn started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let next = bot.crabline.inject(direct("next"));
    let guild = bot
        .crabline
        .inject(in_guild("<@135000000000000001> meanwhile"));
    // The guild channel is answered while the direct chat's turn is held.
    let sent = bot.crabline.wait_sent("messages", 1, WAIT).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["message_reference"]["message_id"], id(&guild));
    assert_eq!(bot.turns(), 2, "the direct chat's next turn waits");

    bot.agent.open.send_replace(true);
    let sent = bot.crabline.wait_sent("messages", 3, WAIT).await;
    let answered: Vec<&Value> = sent[1..]
        .iter()
        .map(|m| &m["message_reference"]["message_id"])
        .collect();
    assert_eq!(answered, [&json!(id(&slow)), &json!(id(&next))]);
    bot.stop().await;
}

#[tokio::test]
async fn a_guild_message_is_answered_only_when_it_mentions_the_bot() {
    let bot = Bot::start("answered in the guild").await;
    bot.pair().await;
    bot.crabline.inject(in_guild("talking among ourselves"));
    let mentioned = bot
        .crabline
        .inject(in_guild("<@135000000000000001> a question"));
    let sent = bot.crabline.wait_sent("messages", 1, WAIT).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["content"], "answered in the guild");
    assert_eq!(sent[0]["message_reference"]["message_id"], id(&mentioned));
    assert_eq!(bot.turns(), 1);
    bot.stop().await;
}

#[tokio::test]
async fn a_long_answer_arrives_in_order_in_pieces_of_at_most_2000_characters() {
    let reply: String = (0..600).map(|n| format!("line {n:04}\n")).collect();
    let bot = Bot::start(&reply).await;
    bot.pair().await;
    bot.crabline.inject(direct("tell me everything"));
    let sent = bot.crabline.wait_sent("messages", 3, WAIT).await;
    let pieces: Vec<&str> = sent
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(pieces.len(), 3, "6000 characters in 2000-character pieces");
    assert!(pieces.iter().all(|p| p.chars().count() <= 2000));
    let lines: Vec<&str> = pieces.iter().flat_map(|p| p.lines()).collect();
    let expected: Vec<String> = (0..600).map(|n| format!("line {n:04}")).collect();
    assert_eq!(lines, expected);
    bot.stop().await;
}

#[tokio::test]
async fn a_refused_token_never_reaches_the_gateway() {
    let fake = FakeDiscord::start(vec![fake::unauthorized()]).await;
    let (_store, dispatcher, _, _) = setup::dispatcher("x").await;
    let config = hardshell_config::Discord {
        api_root: hardshell_config::ApiRoot::parse(&fake.root).unwrap(),
        ..Default::default()
    };
    let wrong = setup::secret("MTM1MDAwMDAwMDAwMDAwOTk5.wrong.token-value");
    let channel =
        DiscordChannel::new(&config, wrong, dispatcher, _store.scope("channels/discord")).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(channel.run(async move {
        let _ = stopped.await;
    }));
    let until = std::time::Instant::now() + WAIT;
    while fake.seen().is_empty() {
        assert!(
            std::time::Instant::now() < until,
            "the bot's identity was never asked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    running.await.unwrap();
    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path, "/api/v10/users/@me");
}

#[tokio::test]
async fn a_token_outside_the_portals_grammar_is_refused_before_anything_is_sent() {
    let config = hardshell_config::Discord::default();
    let (_store, dispatcher, _, _) = setup::dispatcher("x").await;
    let token = "not a token\r\nX: y";
    let error = DiscordChannel::new(
        &config,
        setup::secret(token),
        dispatcher,
        _store.scope("channels/discord"),
    )
    .unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("token refused"), "{shown}");
    assert!(!shown.contains("not a token"), "{shown}");
}

#[tokio::test]
async fn a_rate_limited_send_is_sent_again_after_the_wait() {
    let fake = FakeDiscord::start(vec![
        fake::rate_limited("0.05"),
        fake::created("135000000000000900"),
    ])
    .await;
    let token = "MTM1MDAwMDAwMDAwMDAwMDAx.fake.discord";
    let api = DiscordApi::new(Url::parse(&fake.root).unwrap(), &setup::secret(token)).unwrap();
    let outbox = DiscordOutbox::new(Arc::new(api));
    let (_store, dispatcher, agent, _) = setup::dispatcher("x").await;
    let stranger = Inbound {
        sender: setup::person(),
        chat: DM.to_owned(),
        place: Place::Direct,
        text: "hello".into(),
        message: Some("135000000000000800".into()),
        files: Vec::new(),
    };
    let handled = dispatcher.handle(stranger, &outbox).await.unwrap();
    assert_eq!(handled, Handled::CodeSent);
    let seen = fake.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for request in &seen {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, format!("/api/v10/channels/{DM}/messages"));
        assert_eq!(
            request.authorization.as_deref(),
            Some(format!("Bot {token}").as_str())
        );
    }
    assert_eq!(seen[0].body, seen[1].body);
    assert_eq!(agent.turns.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_rate_limit_is_reported_with_its_wait_and_no_token() {
    let fake = FakeDiscord::start(vec![fake::rate_limited("2.5")]).await;
    let token = "MTM1MDAwMDAwMDAwMDAwMDAx.fake.discord";
    let api = DiscordApi::new(Url::parse(&fake.root).unwrap(), &setup::secret(token)).unwrap();
    let error = api.create_message(DM, "hi", None).await.unwrap_err();
    assert_eq!(
        error,
        DiscordError::RetryAfter {
            wait: Duration::from_millis(2500)
        }
    );
    assert!(!format!("{error} {error:?}").contains("fake.discord"));
}

#[tokio::test]
async fn a_dropped_connection_resumes_the_session_and_loses_nothing() {
    let bot = Bot::start("answered").await;
    bot.pair().await;
    bot.crabline.inject(direct("before"));
    bot.crabline.wait_sent("messages", 1, WAIT).await;
    bot.relay.drop_connection();
    bot.relay.wait_dispatched("RESUMED", 1, WAIT).await.unwrap();
    let after = bot.crabline.inject(direct("after"));
    let sent = bot.crabline.wait_sent("messages", 2, WAIT).await;
    assert_eq!(sent[1]["message_reference"]["message_id"], id(&after));
    assert_eq!(bot.relay.channel_ops(2), 1, "resumed, not identified again");
    assert_eq!(bot.crabline.sent("messages").len(), 2);
    assert_eq!(bot.turns(), 2);
    bot.stop().await;
}

#[tokio::test]
async fn the_rest_client_edits_shows_typing_and_checks_ids_before_sending() {
    let crabline = hardshell_testkit::crabline::Crabline::start("discord");
    let root = format!("{}/api/v10", crabline.base_url());
    let token = setup::secret(crabline.bot_token());
    let api = DiscordApi::new(Url::parse(&root).unwrap(), &token).unwrap();
    let me = api.me().await.unwrap();
    assert_eq!(me.id, "135000000000000001");
    let id = api
        .create_message(GUILD_CHANNEL, "draft", None)
        .await
        .unwrap();
    api.edit_message(GUILD_CHANNEL, &id, "final @everyone")
        .await
        .unwrap();
    api.typing(GUILD_CHANNEL).await.unwrap();
    let recorded = crabline.recorded();
    let patch = recorded
        .iter()
        .find(|e| e["method"] == "PATCH")
        .expect("the edit");
    assert_eq!(
        patch["path"],
        format!("/api/v10/channels/{GUILD_CHANNEL}/messages/{id}")
    );
    assert_eq!(patch["body"]["content"], "final @everyone");
    assert_eq!(patch["body"]["allowed_mentions"], json!({"parse": []}));
    assert!(recorded.iter().any(|e| e["method"] == "POST"
        && e["path"] == format!("/api/v10/channels/{GUILD_CHANNEL}/typing")
        && e["accepted"] == true));
    let before = crabline.recorded().len();
    for bad in ["../1", "1/messages", ""] {
        let refused = api.create_message(bad, "x", None).await.unwrap_err();
        assert!(matches!(refused, DiscordError::Argument(_)), "{refused:?}");
        let refused = api.edit_message(GUILD_CHANNEL, bad, "x").await.unwrap_err();
        assert!(matches!(refused, DiscordError::Argument(_)), "{refused:?}");
    }
    assert_eq!(crabline.recorded().len(), before, "nothing was sent");
}

/// The messages of `channel`, as crabline gives them to the bot.
async fn messages_in(crabline: &hardshell_testkit::crabline::Crabline, channel: &str) -> Value {
    reqwest::Client::new()
        .get(format!(
            "{}/api/v10/channels/{channel}/messages",
            crabline.base_url()
        ))
        .header("authorization", format!("Bot {}", crabline.bot_token()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_file_is_uploaded_pinging_no_one_and_fetched_back_within_its_bound() {
    use hardshell_channels::{InboundFile, Outbox, OutboxError};
    let crabline = hardshell_testkit::crabline::Crabline::start("discord");
    let root = format!("{}/api/v10", crabline.base_url());
    let api = DiscordApi::new(
        Url::parse(&root).unwrap(),
        &setup::secret(crabline.bot_token()),
    )
    .unwrap();
    // crabline serves attachments from its own loopback address.
    let outbox = DiscordOutbox::with_cdn_hosts(Arc::new(api), vec!["127.0.0.1".into()]);
    let bytes = bytes::Bytes::from_static(b"line one\nline two\n");
    let id = outbox
        .send_file(GUILD_CHANNEL, "notes.txt", bytes.clone(), None)
        .await
        .unwrap()
        .unwrap();
    let posted = crabline.sent("messages");
    assert_eq!(posted[0]["allowed_mentions"], json!({"parse": []}));
    let listed = messages_in(&crabline, GUILD_CHANNEL).await;
    let message = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id.as_str())
        .unwrap();
    let attachment = &message["attachments"][0];
    assert_eq!(attachment["filename"], "notes.txt");
    assert_eq!(attachment["size"], bytes.len());
    let file = InboundFile {
        reference: attachment["url"].as_str().unwrap().to_owned(),
        name: Some("notes.txt".into()),
        size: Some(1),
    };
    let fetched = outbox.fetch(&file, 1024).await.unwrap();
    assert_eq!(fetched, bytes.to_vec());
    // The announced size is not trusted; the bound is.
    let refused = outbox.fetch(&file, 5).await.unwrap_err();
    assert!(
        matches!(refused, OutboxError::TooLarge { limit: 5 }),
        "{refused:?}"
    );
}

#[tokio::test]
async fn an_attachment_anywhere_but_the_cdn_hosts_is_not_fetched() {
    use hardshell_channels::{InboundFile, Outbox};
    let fake = FakeDiscord::start(vec![fake::created("1")]).await;
    let token = "MTM1MDAwMDAwMDAwMDAwMDAx.fake.discord";
    let api = DiscordApi::new(Url::parse(&fake.root).unwrap(), &setup::secret(token)).unwrap();
    let outbox = DiscordOutbox::new(Arc::new(api));
    let file = |url: &str| InboundFile {
        reference: url.to_owned(),
        name: None,
        size: None,
    };
    for url in [
        format!("{}/attachments/1/2/x.txt", fake.root),
        "http://cdn.discordapp.com/attachments/1/2/x.txt".to_owned(),
        "https://cdn.discordapp.com.evil.example/attachments/x".to_owned(),
        "https://user@cdn.discordapp.com/attachments/x".to_owned(),
        "https://evil.example/?cdn.discordapp.com".to_owned(),
        "file:///etc/passwd".to_owned(),
        "not a url".to_owned(),
    ] {
        let refused = outbox.fetch(&file(&url), 1024).await.unwrap_err();
        assert!(
            refused.to_string().contains("cdn_hosts"),
            "{url}: {refused}"
        );
    }
    assert!(fake.seen().is_empty(), "nothing was fetched");
}
