//! Discord's interactions: the owner's question with its buttons, presses
//! and the slash command, over the gateway (crabline's, with the
//! INTERACTION_CREATE it cannot send injected by the relay) and over the
//! HTTP endpoint (signed with Ed25519 as Discord signs). crabline takes the
//! messages and the command's registration; the interaction endpoints,
//! which it does not emulate, are a fake in front of it (`front.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "discord/front.rs"]
mod front;
// Shared with tests/discord.rs, which drops connections too.
#[allow(dead_code)]
#[path = "discord/relay.rs"]
mod relay;
// Shared with tests/discord.rs.
#[allow(dead_code)]
#[path = "discord/setup.rs"]
mod setup;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use hardshell_channels::discord::DiscordChannel;
use hardshell_channels::webhook::{WebhookEndpoint, WebhookOutcome, WebhookRequest};
use hardshell_channels::{Agent, ChannelRole, Pairings, Platform, Sender};
use hardshell_protocol::chat::ChatEvent;
use hardshell_testkit::TestStore;
use hardshell_testkit::crabline::Crabline;
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use url::Url;

use front::{Called, Front};
use relay::Relay;
use setup::{DM, GUILD, GUILD_CHANNEL, PERSON};

const WAIT: Duration = Duration::from_secs(30);
const APPROVAL: &str = "00112233445566778899aabbccddeeff";
/// The application the interactions name.
const APPLICATION: &str = "135000000000000001";
const TOKEN: &str = "aW50ZXJhY3Rpb246MTM1MDAwMDAwMDAwMDAwNzAwOnNlY3JldA";
const OTHER: &str = "135000000000000556";

/// Asks the owner about a command and waits, as a real turn does, until
/// the question is answered; counts turns and keeps the answers.
#[derive(Default)]
struct AskingAgent {
    asks: bool,
    turns: AtomicU32,
    answered: Arc<Notify>,
    answers: Mutex<Vec<(String, String, bool)>>,
}

impl Agent for AskingAgent {
    fn new_session(&self, channel: &str, subject: &str) -> String {
        format!("{channel}-{}", subject.replace(':', "-"))
    }

    fn send(
        &self,
        _: &str,
        _: &str,
        _: String,
        _: String,
    ) -> BoxFuture<'_, Result<BoxStream<'static, ChatEvent>, String>> {
        self.turns.fetch_add(1, Ordering::SeqCst);
        let done = ChatEvent::Done {
            usage: Default::default(),
        };
        let events: BoxStream<'static, ChatEvent> = if self.asks {
            let answered = self.answered.clone();
            let question = ChatEvent::Approval {
                command: "make clean".into(),
                id: APPROVAL.into(),
                reason: None,
            };
            futures::StreamExt::boxed(futures::StreamExt::chain(
                futures::stream::iter([question]),
                futures::stream::once(async move {
                    answered.notified().await;
                    done
                }),
            ))
        } else {
            let reply = ChatEvent::Delta {
                text: "answered by the agent".into(),
            };
            futures::StreamExt::boxed(futures::stream::iter([reply, done]))
        };
        async move { Ok(events) }.boxed()
    }

    fn answer(&self, subject: &str, _: &str, approval: &str, approve: bool) -> Result<(), String> {
        self.answers
            .lock()
            .unwrap()
            .push((subject.into(), approval.into(), approve));
        self.answered.notify_one();
        Ok(())
    }
}

fn signer() -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[7; 32]).unwrap()
}

struct Bot {
    crabline: Crabline,
    front: Front,
    relay: Relay,
    agent: Arc<AskingAgent>,
    pairings: Pairings,
    webhook: Option<Arc<dyn WebhookEndpoint>>,
    _store: TestStore,
    stop: Option<oneshot::Sender<()>>,
    running: Option<JoinHandle<()>>,
}

impl Bot {
    /// The channel on crabline's gateway, behind the front; with the HTTP
    /// endpoint when `http`.
    async fn start(asks: bool, http: bool) -> Bot {
        let crabline = Crabline::start("discord");
        let front = Front::start(crabline.base_url()).await;
        let agent = Arc::new(AskingAgent {
            asks,
            ..AskingAgent::default()
        });
        let (store, dispatcher, pairings) = setup::dispatcher_with(agent.clone()).await;
        let mut config = hardshell_config::Discord {
            enabled: true,
            api_root: hardshell_config::ApiRoot::parse(&front.root).unwrap(),
            ..Default::default()
        };
        if http {
            let public = hex::encode(signer().public_key().as_ref());
            config.public_key = Some(hardshell_config::DiscordPublicKey::parse(&public).unwrap());
        }
        let gateway = crabline.manifest()["endpoints"]["gatewayUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        let relay = Relay::start(&gateway).await;
        let channel = DiscordChannel::new(
            &config,
            setup::secret(crabline.bot_token()),
            dispatcher,
            store.scope("channels/discord"),
        )
        .unwrap()
        .on_local_gateway(&relay.url)
        .unwrap();
        let webhook = channel.webhook();
        let (stop, stopped) = oneshot::channel();
        let running = tokio::spawn(channel.run(stopped.map(drop)));
        if let Err(e) = relay.wait_dispatched("READY", 1, WAIT).await {
            panic!(
                "the channel was not identified: {e}\ncrabline: {}",
                crabline.logs()
            );
        }
        Bot {
            crabline,
            front,
            relay,
            agent,
            pairings,
            webhook,
            _store: store,
            stop: Some(stop),
            running: Some(running),
        }
    }

    async fn pair(&self, id: &str, role: ChannelRole) {
        let sender = Sender::parse(Platform::Discord, id).unwrap();
        self.pairings
            .add(&sender, role, chrono::Utc::now())
            .await
            .unwrap();
    }

    /// A call of crabline's REST API as the bot.
    async fn rest(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = reqwest::Client::new()
            .request(
                method,
                format!("{}/api/v10/{path}", self.crabline.base_url()),
            )
            .header(
                "authorization",
                format!("Bot {}", self.crabline.bot_token()),
            );
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// Opens the bot's direct chat with `PERSON`, as Discord has it before
    /// a command is typed there; its id.
    async fn open_dm(&self) -> String {
        let dm = self
            .rest(
                reqwest::Method::POST,
                "users/@me/channels",
                Some(json!({"recipient_id": PERSON})),
            )
            .await;
        dm["id"].as_str().unwrap().to_owned()
    }

    fn answers(&self) -> Vec<(String, String, bool)> {
        self.agent.answers.lock().unwrap().clone()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(running) = self.running.take() {
            running.await.unwrap();
        }
    }
}

/// A press of the button carrying `data`, by `user`, in `channel`
/// (a guild's when `guild`), as Discord sends it.
fn press(id: u64, user: &str, channel: &str, guild: bool, data: &str) -> Value {
    let mut d = json!({
        "id": id.to_string(), "application_id": APPLICATION, "type": 3,
        "token": TOKEN, "channel_id": channel, "version": 1,
        "message": {"id": "135000000000000600", "channel_id": channel, "content": "Run `make clean`?"},
        "data": {"custom_id": data, "component_type": 2},
    });
    if guild {
        d["guild_id"] = json!(GUILD);
        d["member"] = json!({"user": {"id": user, "username": "u"}, "roles": []});
    } else {
        d["user"] = json!({"id": user, "username": "u"});
    }
    d
}

/// The slash command with `text` (none when `None`).
fn command(id: u64, user: &str, channel: &str, guild: bool, text: Option<&str>) -> Value {
    let options = match text {
        Some(text) => json!([{"name": "text", "type": 3, "value": text}]),
        None => json!([]),
    };
    let mut d = json!({
        "id": id.to_string(), "application_id": APPLICATION, "type": 2,
        "token": TOKEN, "channel_id": channel, "version": 1,
        "data": {"id": "135000000000000300", "name": "hardshell", "type": 1, "options": options},
    });
    if guild {
        d["guild_id"] = json!(GUILD);
        d["member"] = json!({"user": {"id": user, "username": "u"}, "roles": []});
    } else {
        d["user"] = json!({"id": user, "username": "u"});
    }
    d
}

fn approve() -> String {
    format!("x:{APPROVAL}:1")
}

fn callback_path(id: u64) -> String {
    format!("/api/v10/interactions/{id}/{TOKEN}/callback")
}

fn original_path() -> String {
    format!("/api/v10/webhooks/{APPLICATION}/{TOKEN}/messages/@original")
}

/// Asks the owner's question in their direct chat; the message sent.
async fn ask_the_owner(bot: &Bot) -> Value {
    bot.pair(PERSON, ChannelRole::Owner).await;
    bot.crabline
        .inject(json!({"channelId": DM, "senderId": PERSON, "content": "clean up"}));
    bot.crabline.wait_sent("messages", 1, WAIT).await[0].clone()
}

#[tokio::test]
async fn the_owners_question_carries_two_buttons_that_ping_no_one() {
    let bot = Bot::start(true, false).await;
    let asked = ask_the_owner(&bot).await;
    assert!(asked["content"].as_str().unwrap().contains("make clean"));
    assert_eq!(asked["allowed_mentions"], json!({"parse": []}));
    let row = &asked["components"][0];
    assert_eq!(row["type"], 1);
    let buttons = row["components"].as_array().unwrap();
    assert_eq!(buttons.len(), 2);
    assert_eq!(
        (
            &buttons[0]["label"],
            &buttons[0]["style"],
            &buttons[0]["type"]
        ),
        (&json!("Run it"), &json!(3), &json!(2))
    );
    assert_eq!(buttons[0]["custom_id"], approve());
    assert_eq!(
        (&buttons[1]["label"], &buttons[1]["style"]),
        (&json!("Don't run"), &json!(4))
    );
    assert_eq!(buttons[1]["custom_id"], format!("x:{APPROVAL}:0"));
    // The turn waits for the answer; this one never comes.
    bot.agent.answered.notify_one();
    bot.stop().await;
}

#[tokio::test]
async fn the_owners_press_over_the_gateway_is_answered_while_the_turn_waits() {
    let bot = Bot::start(true, false).await;
    ask_the_owner(&bot).await;
    // The turn that asked is still running: the press must not queue
    // behind it, or neither would ever end.
    bot.relay.dispatch(
        "INTERACTION_CREATE",
        press(700, PERSON, DM, false, &approve()),
    );
    let called = bot.front.wait_called(1).await;
    assert_eq!(
        bot.answers(),
        [("owner".to_owned(), APPROVAL.to_owned(), true)]
    );
    let Called {
        method,
        path,
        authorized,
        body,
    } = &called[0];
    assert_eq!((method.as_str(), path), ("POST", &callback_path(700)));
    assert!(
        !authorized,
        "the bot's token is not sent with an interaction's"
    );
    assert_eq!(body["type"], 7, "the question's message is updated");
    assert_eq!(body["data"]["content"], "Run `make clean`?\n\nRunning it.");
    assert_eq!(body["data"]["components"], json!([]));
    assert_eq!(bot.agent.turns.load(Ordering::SeqCst), 1);
    bot.stop().await;
}

#[tokio::test]
async fn presses_that_are_not_the_owners_in_their_own_chat_answer_nothing() {
    let bot = Bot::start(false, false).await;
    bot.pair(PERSON, ChannelRole::Owner).await;
    bot.pair(OTHER, ChannelRole::Guest).await;
    // The owner's conversation exists, so only the press decides.
    bot.crabline
        .inject(json!({"channelId": DM, "senderId": PERSON, "content": "hello"}));
    bot.crabline.wait_sent("messages", 1, WAIT).await;
    let cases = [
        (
            press(701, OTHER, DM, false, &approve()),
            "Only the owner answers, in their own chat.",
        ),
        (
            press(702, PERSON, GUILD_CHANNEL, true, &approve()),
            "Only the owner answers, in their own chat.",
        ),
        (
            press(703, PERSON, "135000000000000021", false, &approve()),
            "That question is no longer waiting.",
        ),
        (
            press(704, PERSON, DM, false, "x:../../etc:1"),
            "Nothing to answer.",
        ),
        (
            press(705, PERSON, DM, false, &format!("x:{APPROVAL}:2")),
            "Nothing to answer.",
        ),
        (
            press(706, "135000000000000999", DM, false, &approve()),
            "Only the owner answers, in their own chat.",
        ),
    ];
    let count = cases.len();
    for (press, _) in &cases {
        bot.relay.dispatch("INTERACTION_CREATE", press.clone());
    }
    let called = bot.front.wait_called(count).await;
    for ((press, notice), called) in cases.iter().zip(&called) {
        let id: u64 = press["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(called.path, callback_path(id));
        assert_eq!(called.body["type"], 4, "{press}");
        assert_eq!(called.body["data"]["flags"], 64, "only its presser sees it");
        assert_eq!(called.body["data"]["content"], *notice, "{press}");
    }
    assert!(bot.answers().is_empty(), "{:?}", bot.answers());
    bot.stop().await;
}

#[tokio::test]
async fn a_replayed_press_is_answered_once() {
    let bot = Bot::start(false, false).await;
    let event = press(707, OTHER, DM, false, &approve());
    bot.relay.dispatch("INTERACTION_CREATE", event.clone());
    bot.relay.dispatch("INTERACTION_CREATE", event);
    bot.relay.dispatch(
        "INTERACTION_CREATE",
        press(708, OTHER, DM, false, &approve()),
    );
    let called = bot.front.wait_called(2).await;
    assert_eq!(called[0].path, callback_path(707));
    assert_eq!(called[1].path, callback_path(708));
    bot.stop().await;
}

#[tokio::test]
async fn the_slash_command_is_registered_acknowledged_and_answered_in_the_channel() {
    let bot = Bot::start(false, false).await;
    let registered = bot
        .crabline
        .recorded()
        .into_iter()
        .find(|e| e["method"] == "PUT")
        .expect("the command's registration");
    assert_eq!(registered["accepted"], true);
    let path = registered["path"].as_str().unwrap();
    let application = path
        .strip_prefix("/api/v10/applications/")
        .and_then(|rest| rest.strip_suffix("/commands"))
        .unwrap();
    let commands = bot
        .rest(
            reqwest::Method::GET,
            &format!("applications/{application}/commands"),
            None,
        )
        .await;
    assert_eq!(commands.as_array().unwrap().len(), 1, "{commands}");
    let registered = &commands[0];
    assert_eq!(registered["name"], "hardshell");
    assert_eq!(registered["options"][0]["name"], "text");
    assert_eq!(registered["options"][0]["type"], 3);
    assert_eq!(registered["options"][0]["required"], false);

    bot.pair(PERSON, ChannelRole::Guest).await;
    let dm = bot.open_dm().await;
    bot.relay.dispatch(
        "INTERACTION_CREATE",
        command(710, PERSON, &dm, false, Some("hello there")),
    );
    let called = bot.front.wait_called(2).await;
    assert_eq!(called[0].path, callback_path(710));
    assert_eq!(called[0].body["type"], 5, "deferred");
    assert_eq!(called[0].body["data"]["flags"], 64);
    assert_eq!(
        (called[1].method.as_str(), &called[1].path),
        ("PATCH", &original_path())
    );
    assert_eq!(
        called[1].body["content"],
        "Taken: the answer follows in this channel."
    );
    let sent = bot.crabline.wait_sent("messages", 1, WAIT).await;
    assert_eq!(sent[0]["content"], "answered by the agent");
    assert_eq!(sent[0]["allowed_mentions"], json!({"parse": []}));
    assert!(sent[0]["message_reference"].is_null());
    assert_eq!(bot.agent.turns.load(Ordering::SeqCst), 1);
    bot.stop().await;
}

#[tokio::test]
async fn an_empty_command_or_new_starts_a_new_conversation() {
    let bot = Bot::start(false, false).await;
    bot.pair(PERSON, ChannelRole::Guest).await;
    let dm = bot.open_dm().await;
    bot.relay
        .dispatch("INTERACTION_CREATE", command(711, PERSON, &dm, false, None));
    bot.relay.dispatch(
        "INTERACTION_CREATE",
        command(712, PERSON, &dm, false, Some(" New ")),
    );
    let sent = bot.crabline.wait_sent("messages", 2, WAIT).await;
    for message in &sent {
        assert_eq!(message["content"], "Started a new conversation.");
    }
    assert_eq!(bot.agent.turns.load(Ordering::SeqCst), 0);
    bot.stop().await;
}

#[tokio::test]
async fn a_command_in_a_guild_counts_as_a_mention_and_a_strangers_gets_no_turn() {
    let bot = Bot::start(false, false).await;
    bot.pair(PERSON, ChannelRole::Guest).await;
    // crabline knows the guild channel once someone wrote in it.
    bot.crabline.inject(
        json!({"channelId": GUILD_CHANNEL, "guildId": GUILD, "senderId": OTHER, "content": "hi all"}),
    );
    bot.relay.dispatch(
        "INTERACTION_CREATE",
        command(713, PERSON, GUILD_CHANNEL, true, Some("a question")),
    );
    let sent = bot.crabline.wait_sent("messages", 1, WAIT).await;
    assert_eq!(sent[0]["content"], "answered by the agent");
    // A stranger's command in the guild: no code where others read it, no turn.
    bot.relay.dispatch(
        "INTERACTION_CREATE",
        command(714, OTHER, GUILD_CHANNEL, true, Some("let me in")),
    );
    bot.front.wait_called(4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bot.crabline.sent("messages").len(), 1);
    assert_eq!(bot.agent.turns.load(Ordering::SeqCst), 1);
    bot.stop().await;
}

#[tokio::test]
async fn another_applications_command_name_is_not_taken() {
    let bot = Bot::start(false, false).await;
    bot.pair(PERSON, ChannelRole::Guest).await;
    let mut other = command(715, PERSON, DM, false, Some("hello"));
    other["data"]["name"] = json!("other");
    bot.relay.dispatch("INTERACTION_CREATE", other);
    let called = bot.front.wait_called(2).await;
    assert_eq!(
        called[1].body["content"],
        "This assistant has no such command."
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bot.agent.turns.load(Ordering::SeqCst), 0);
    assert!(bot.crabline.sent("messages").is_empty());
    bot.stop().await;
}

/// `d` posted to the HTTP endpoint, signed now with `signer`.
fn post(endpoint: &dyn WebhookEndpoint, signer: &Ed25519KeyPair, d: &Value) -> WebhookOutcome {
    let body = d.to_string();
    let now = chrono::Utc::now();
    let stamp = now.timestamp().to_string();
    let signature = signer.sign(format!("{stamp}{body}").as_bytes());
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "x-signature-ed25519",
        hex::encode(signature.as_ref()).parse().unwrap(),
    );
    headers.insert("x-signature-timestamp", stamp.parse().unwrap());
    endpoint.receive(WebhookRequest {
        method: &http::Method::POST,
        headers: &headers,
        query: None,
        body: body.as_bytes(),
        now,
    })
}

fn accepted(outcome: WebhookOutcome) -> Value {
    let WebhookOutcome::Accepted { body } = outcome else {
        panic!("accepted: {outcome:?}");
    };
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn over_http_the_owners_press_is_deferred_then_the_question_edited() {
    let bot = Bot::start(true, true).await;
    let endpoint = bot
        .webhook
        .clone()
        .expect("the endpoint, with a public key");
    assert_eq!(endpoint.path(), "/hooks/discord");
    ask_the_owner(&bot).await;
    let answer = post(
        endpoint.as_ref(),
        &signer(),
        &press(720, PERSON, DM, false, &approve()),
    );
    assert_eq!(accepted(answer), json!({"type": 6}));
    let called = bot.front.wait_called(1).await;
    assert_eq!(
        (called[0].method.as_str(), &called[0].path),
        ("PATCH", &original_path())
    );
    assert!(!called[0].authorized);
    assert_eq!(
        called[0].body["content"],
        "Run `make clean`?\n\nRunning it."
    );
    assert_eq!(called[0].body["components"], json!([]));
    assert_eq!(
        bot.answers(),
        [("owner".to_owned(), APPROVAL.to_owned(), true)]
    );
    bot.stop().await;
}

#[tokio::test]
async fn over_http_a_refused_press_gets_a_follow_up_only_its_presser_sees() {
    let bot = Bot::start(false, true).await;
    let endpoint = bot.webhook.clone().unwrap();
    bot.pair(OTHER, ChannelRole::Guest).await;
    let answer = post(
        endpoint.as_ref(),
        &signer(),
        &press(721, OTHER, DM, false, &approve()),
    );
    assert_eq!(accepted(answer), json!({"type": 6}));
    let called = bot.front.wait_called(1).await;
    assert_eq!(
        (called[0].method.as_str(), called[0].path.as_str()),
        (
            "POST",
            format!("/api/v10/webhooks/{APPLICATION}/{TOKEN}").as_str()
        )
    );
    assert_eq!(called[0].body["flags"], 64);
    assert_eq!(
        called[0].body["content"],
        "Only the owner answers, in their own chat."
    );
    // Signed by another key: refused before anything is read or queued.
    let forged = post(
        endpoint.as_ref(),
        &Ed25519KeyPair::from_seed_unchecked(&[8; 32]).unwrap(),
        &press(722, PERSON, DM, false, &approve()),
    );
    assert!(matches!(forged, WebhookOutcome::Rejected(_)), "{forged:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bot.front.called().len(), 1);
    assert!(bot.answers().is_empty());
    bot.stop().await;
}

#[tokio::test]
async fn over_http_the_command_is_deferred_and_taken() {
    let bot = Bot::start(false, true).await;
    bot.pair(PERSON, ChannelRole::Guest).await;
    let dm = bot.open_dm().await;
    let endpoint = bot.webhook.clone().unwrap();
    let answer = post(
        endpoint.as_ref(),
        &signer(),
        &command(723, PERSON, &dm, false, Some("hello")),
    );
    let answer = accepted(answer);
    assert_eq!(
        (answer["type"].clone(), answer["data"]["flags"].clone()),
        (json!(5), json!(64))
    );
    let called = bot.front.wait_called(1).await;
    assert_eq!(called[0].path, original_path());
    assert_eq!(
        called[0].body["content"],
        "Taken: the answer follows in this channel."
    );
    let sent = bot.crabline.wait_sent("messages", 1, WAIT).await;
    assert_eq!(sent[0]["content"], "answered by the agent");
    bot.stop().await;
}

#[tokio::test]
async fn without_a_public_key_there_is_no_http_route() {
    let bot = Bot::start(false, false).await;
    assert!(bot.webhook.is_none());
    bot.stop().await;
}

#[tokio::test]
async fn the_interaction_token_is_in_no_error() {
    let url = Url::parse("http://127.0.0.1:9/api/v10").unwrap();
    let api = hardshell_channels::discord::api::DiscordApi::new(
        url,
        &setup::secret("MTM1MDAwMDAwMDAwMDAwMDAx.fake.discord"),
    )
    .unwrap();
    let interaction = hardshell_channels::discord::interaction::from_value(press(
        730,
        PERSON,
        DM,
        false,
        &approve(),
    ))
    .unwrap();
    let error = api
        .interaction_callback("730", &interaction.token, &json!({"type": 6}))
        .await
        .unwrap_err();
    let shown = format!("{error} {error:?} {interaction:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
}
