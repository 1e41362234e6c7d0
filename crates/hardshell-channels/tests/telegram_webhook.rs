//! Telegram's webhook mode against crabline: the channel sets its webhook
//! (after which Telegram refuses polling), and updates posted as Telegram
//! posts them are taken only with the secret, once, and answered in order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use hardshell_audit::{AuditLog, AuditOptions, LogId};
use hardshell_channels::conversations::Conversations;
use hardshell_channels::telegram::TelegramChannel;
use hardshell_channels::telegram::api::{TelegramApi, TelegramError};
use hardshell_channels::telegram::webhook::TelegramWebhook;
use hardshell_channels::verify::VerifyError;
use hardshell_channels::webhook::{WebhookEndpoint, WebhookOutcome, WebhookRequest};
use hardshell_channels::{
    Agent, ChannelRole, ChannelRules, Dispatcher, Pairings, Platform, Sender, Unpaired,
};
use hardshell_protocol::chat::ChatEvent;
use hardshell_secrets::SecretValue;
use hardshell_testkit::TestStore;
use hardshell_testkit::crabline::Crabline;
use serde_json::json;
use zeroize::Zeroizing;

const SECRET: &str = "hook-secret_0123456789";

fn secret(text: &str) -> SecretValue {
    SecretValue::new(Zeroizing::new(text.as_bytes().to_vec())).unwrap()
}

/// Answers every turn with "echo: <text>".
#[derive(Debug, Default)]
struct EchoAgent {
    turns: AtomicU32,
}

impl Agent for EchoAgent {
    fn new_session(&self, channel: &str, subject: &str) -> String {
        format!("{channel}-{}", subject.replace(':', "-"))
    }

    fn send(
        &self,
        _subject: &str,
        _session: &str,
        text: String,
        _request_id: String,
    ) -> BoxFuture<'_, Result<BoxStream<'static, ChatEvent>, String>> {
        self.turns.fetch_add(1, Ordering::SeqCst);
        let events = vec![
            ChatEvent::Delta {
                text: format!("echo: {text}"),
            },
            ChatEvent::Done {
                usage: Default::default(),
            },
        ];
        async move { Ok(futures::StreamExt::boxed(futures::stream::iter(events))) }.boxed()
    }
}

fn update(id: i64, from: i64, is_bot: bool, text: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "update_id": id,
        "message": {
            "message_id": id,
            "date": 1_800_000_000,
            "chat": {"id": from, "type": "private"},
            "from": {"id": from, "is_bot": is_bot, "first_name": "A"},
            "text": text,
        }
    }))
    .unwrap()
}

fn post(webhook: &TelegramWebhook, secret: Option<&str>, body: &[u8]) -> WebhookOutcome {
    let mut headers = http::HeaderMap::new();
    if let Some(secret) = secret {
        headers.insert(
            "x-telegram-bot-api-secret-token",
            http::HeaderValue::from_str(secret).unwrap(),
        );
    }
    webhook.receive(WebhookRequest {
        method: &http::Method::POST,
        headers: &headers,
        query: None,
        body,
        now: chrono::Utc::now(),
    })
}

/// The texts the bot sent to `chat`, in order.
fn texts(crabline: &Crabline, chat: i64) -> Vec<String> {
    crabline
        .sent("sendMessage")
        .into_iter()
        .filter(|body| body["chat_id"] == chat)
        .filter_map(|body| body["text"].as_str().map(str::to_owned))
        .collect()
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    // A bound on waiting, not an assertion about speed.
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(std::time::Instant::now() < until, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn webhook_updates_are_taken_only_with_the_secret_once_and_in_order() {
    let crabline = Crabline::start("telegram");
    let store = TestStore::new().await;
    let pairings = Pairings::new(store.scope("channels/pairing"));
    let agent = Arc::new(EchoAgent::default());
    let audit = Arc::new(
        AuditLog::open(
            &store.scope("audit"),
            &LogId::new("tg-webhook").unwrap(),
            AuditOptions::default(),
        )
        .await
        .unwrap(),
    );
    let dispatcher = Dispatcher::new(
        ChannelRules {
            platform: Platform::Telegram,
            allow: Vec::new(),
            groups: Vec::new(),
            unpaired: Unpaired::Code,
        },
        pairings.clone(),
        Conversations::new(store.scope("channels/conversations")),
        agent.clone(),
        audit,
    );
    let root = url::Url::parse(crabline.base_url()).unwrap();
    let api = TelegramApi::new(root.clone(), secret(crabline.bot_token())).unwrap();
    let channel = TelegramChannel::new(api, dispatcher, store.scope("channels/telegram"));
    let (webhook, taken) = TelegramWebhook::new(secret(SECRET));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let url = url::Url::parse("https://93.184.216.34/hooks/telegram").unwrap();
    let running = tokio::spawn(channel.run_webhook(url, secret(SECRET), taken, async {
        let _ = stopped.await;
    }));

    // Once the webhook is set, Telegram refuses polling with this token.
    let other = TelegramApi::new(root, secret(crabline.bot_token())).unwrap();
    let mut conflicted = false;
    for _ in 0..100 {
        if let Err(TelegramError::Conflict { .. }) = other.get_updates(None, 0).await {
            conflicted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(conflicted, "the webhook was never set");

    // Without the secret, or with another: refused, never handled.
    let stranger = update(1, 555, false, "hello");
    assert_eq!(
        post(&webhook, None, &stranger),
        WebhookOutcome::Rejected(VerifyError::MissingSecretToken)
    );
    assert_eq!(
        post(&webhook, Some("hook-secret_012345678"), &stranger),
        WebhookOutcome::Rejected(VerifyError::WrongSecretToken)
    );
    assert_eq!(
        post(&webhook, Some(SECRET), b"not json"),
        WebhookOutcome::Malformed
    );
    // With it: a stranger gets a code; Telegram's retry is a duplicate.
    assert!(matches!(
        post(&webhook, Some(SECRET), &stranger),
        WebhookOutcome::Accepted { .. }
    ));
    assert_eq!(
        post(&webhook, Some(SECRET), &stranger),
        WebhookOutcome::Duplicate
    );
    eventually("a code", || texts(&crabline, 555).len() == 1).await;
    assert!(texts(&crabline, 555)[0].contains("pairing code"));
    assert_eq!(agent.turns.load(Ordering::SeqCst), 0);

    // Paired: a bot's message is dropped, the person's answered, in order.
    pairings
        .add(
            &Sender::parse(Platform::Telegram, "555").unwrap(),
            ChannelRole::Guest,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    for (id, is_bot, text) in [
        (2, true, "from a bot"),
        (3, false, "one"),
        (4, false, "two"),
    ] {
        assert!(matches!(
            post(&webhook, Some(SECRET), &update(id, 555, is_bot, text)),
            WebhookOutcome::Accepted { .. }
        ));
    }
    eventually("both answers", || texts(&crabline, 555).len() == 3).await;
    assert_eq!(texts(&crabline, 555)[1..], ["echo: one", "echo: two"]);
    assert_eq!(agent.turns.load(Ordering::SeqCst), 2);

    let _ = stop.send(());
    running.await.unwrap();
}

/// Asks the owner about a command every turn; keeps the answers it gets.
#[derive(Debug, Default)]
struct AskingAgent {
    answers: std::sync::Mutex<Vec<(String, String, bool)>>,
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
        let events = vec![
            ChatEvent::Approval {
                command: "make clean".into(),
                id: "00112233445566778899aabbccddeeff".into(),
                reason: None,
            },
            ChatEvent::Done {
                usage: Default::default(),
            },
        ];
        async move { Ok(futures::StreamExt::boxed(futures::stream::iter(events))) }.boxed()
    }
    fn answer(&self, subject: &str, _: &str, approval: &str, approve: bool) -> Result<(), String> {
        self.answers
            .lock()
            .unwrap()
            .push((subject.into(), approval.into(), approve));
        Ok(())
    }
}

#[tokio::test]
async fn the_owner_answers_a_question_with_its_button_and_a_stranger_cannot() {
    let crabline = Crabline::start("telegram");
    let store = TestStore::new().await;
    let pairings = Pairings::new(store.scope("channels/pairing"));
    pairings
        .add(
            &Sender::parse(Platform::Telegram, "555").unwrap(),
            ChannelRole::Owner,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let agent = Arc::new(AskingAgent::default());
    let audit = Arc::new(
        AuditLog::open(
            &store.scope("audit"),
            &LogId::new("tg-buttons").unwrap(),
            AuditOptions::default(),
        )
        .await
        .unwrap(),
    );
    let dispatcher = Dispatcher::new(
        ChannelRules {
            platform: Platform::Telegram,
            allow: Vec::new(),
            groups: Vec::new(),
            unpaired: Unpaired::Code,
        },
        pairings,
        Conversations::new(store.scope("channels/conversations")),
        agent.clone(),
        audit,
    );
    let root = url::Url::parse(crabline.base_url()).unwrap();
    let api = TelegramApi::new(root, secret(crabline.bot_token())).unwrap();
    let channel = TelegramChannel::new(api, dispatcher, store.scope("channels/telegram"));
    let (webhook, taken) = TelegramWebhook::new(secret(SECRET));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let url = url::Url::parse("https://93.184.216.34/hooks/telegram").unwrap();
    let running = tokio::spawn(channel.run_webhook(url, secret(SECRET), taken, async {
        let _ = stopped.await;
    }));

    assert!(matches!(
        post(&webhook, Some(SECRET), &update(1, 555, false, "clean up")),
        WebhookOutcome::Accepted { .. }
    ));
    eventually("the question", || !crabline.sent("sendMessage").is_empty()).await;
    let asked = crabline.sent("sendMessage")[0].clone();
    let buttons = &asked["reply_markup"]["inline_keyboard"][0];
    assert_eq!(
        buttons[0]["callback_data"],
        "x:00112233445566778899aabbccddeeff:1"
    );
    assert_eq!(
        buttons[1]["callback_data"],
        "x:00112233445566778899aabbccddeeff:0"
    );

    let press = |id: i64, from: i64, data: &str| {
        serde_json::to_vec(&json!({
            "update_id": id,
            "callback_query": {
                "id": format!("cb{id}"),
                "from": {"id": from, "is_bot": false, "first_name": "A"},
                "message": {
                    "message_id": 2, "date": 1_800_000_000,
                    "chat": {"id": from, "type": "private"}, "text": "Run it?"
                },
                "data": data,
            }
        }))
        .unwrap()
    };
    // A stranger replaying the owner's button data in their own chat.
    post(
        &webhook,
        Some(SECRET),
        &press(2, 999, "x:00112233445566778899aabbccddeeff:1"),
    );
    // The owner's press.
    post(
        &webhook,
        Some(SECRET),
        &press(3, 555, "x:00112233445566778899aabbccddeeff:1"),
    );
    eventually("the owner's answer", || {
        !agent.answers.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(
        agent.answers.lock().unwrap().clone(),
        [(
            "owner".to_owned(),
            "00112233445566778899aabbccddeeff".to_owned(),
            true
        )]
    );
    // Each press is acknowledged, the stranger's too (with a refusal). The
    // two presses are handled side by side, and crabline's record of a
    // call can come after the answer the channel acted on: the stranger's
    // may be recorded after the owner's answer was seen.
    let acknowledged = || {
        crabline
            .recorded()
            .iter()
            .filter(|e| {
                e["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("/answerCallbackQuery"))
            })
            .count()
    };
    eventually("both presses acknowledged", || acknowledged() >= 2).await;
    assert_eq!(acknowledged(), 2);

    let _ = stop.send(());
    running.await.unwrap();
}
