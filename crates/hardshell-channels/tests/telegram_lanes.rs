//! Telegram polling against crabline with an agent whose turns the test
//! holds: one chat's long turn does not hold up another chat, a chat's
//! messages are answered in order, and a message taken but not answered
//! when the process dies is answered after the restart, once.
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
use hardshell_channels::telegram::api::TelegramApi;
use hardshell_channels::{
    Agent, ChannelRole, ChannelRules, Dispatcher, Pairings, Platform, Sender, Unpaired,
};
use hardshell_protocol::chat::ChatEvent;
use hardshell_secrets::SecretValue;
use hardshell_testkit::TestStore;
use hardshell_testkit::crabline::Crabline;
use serde_json::json;
use tokio::sync::watch;
use zeroize::Zeroizing;

/// Echoes, except that a message starting with "slow" waits until `open`.
struct HeldAgent {
    open: watch::Receiver<bool>,
    turns: AtomicU32,
}

impl Agent for HeldAgent {
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
        let mut open = self.open.clone();
        async move {
            if text.starts_with("slow") {
                let _ = open.wait_for(|open| *open).await;
            }
            let events = vec![
                ChatEvent::Delta {
                    text: format!("echo: {text}"),
                },
                ChatEvent::Done {
                    usage: Default::default(),
                },
            ];
            Ok(futures::StreamExt::boxed(futures::stream::iter(events)))
        }
        .boxed()
    }
}

fn secret(text: &str) -> SecretValue {
    SecretValue::new(Zeroizing::new(text.as_bytes().to_vec())).unwrap()
}

async fn channel(crabline: &Crabline, store: &TestStore, agent: Arc<HeldAgent>) -> TelegramChannel {
    let audit = Arc::new(
        AuditLog::open(
            &store.scope("audit"),
            &LogId::new("tg-lanes").unwrap(),
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
        Pairings::new(store.scope("channels/pairing")),
        Conversations::new(store.scope("channels/conversations")),
        agent,
        audit,
    );
    let root = url::Url::parse(crabline.base_url()).unwrap();
    let api = TelegramApi::new(root, secret(crabline.bot_token())).unwrap();
    TelegramChannel::new(api, dispatcher, store.scope("channels/telegram"))
}

fn say(crabline: &Crabline, from: i64, text: &str) {
    crabline.inject(
        json!({"chatId": from.to_string(), "fromId": from, "text": text, "chatType": "private"}),
    );
}

fn answers(crabline: &Crabline, chat: i64) -> Vec<String> {
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

async fn pair(store: &TestStore, ids: &[i64]) {
    let pairings = Pairings::new(store.scope("channels/pairing"));
    for id in ids {
        pairings
            .add(
                &Sender::parse(Platform::Telegram, &id.to_string()).unwrap(),
                ChannelRole::Guest,
                chrono::Utc::now(),
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_long_turn_holds_up_its_own_chat_only_and_a_chat_keeps_its_order() {
    let crabline = Crabline::start("telegram");
    let store = TestStore::new().await;
    pair(&store, &[101, 202]).await;
    let (open, opened) = watch::channel(false);
    let agent = Arc::new(HeldAgent {
        open: opened,
        turns: AtomicU32::new(0),
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(channel(&crabline, &store, agent.clone()).await.run(async {
        let _ = stopped.await;
    }));

    say(&crabline, 101, "slow one");
    say(&crabline, 101, "two");
    say(&crabline, 202, "meanwhile");
    // Chat 202 is answered while chat 101's first turn is held.
    eventually("the other chat answered", || {
        answers(&crabline, 202) == ["echo: meanwhile"]
    })
    .await;
    assert!(answers(&crabline, 101).is_empty());
    let _ = open.send(true);
    eventually("the held chat answered", || {
        answers(&crabline, 101).len() == 2
    })
    .await;
    assert_eq!(answers(&crabline, 101), ["echo: slow one", "echo: two"]);

    let _ = stop.send(());
    running.await.unwrap();
}

#[tokio::test]
async fn a_message_taken_when_the_process_died_is_answered_after_the_restart_once() {
    let crabline = Crabline::start("telegram");
    let store = TestStore::new().await;
    pair(&store, &[101]).await;
    let (_never, held) = watch::channel(false);
    let first = Arc::new(HeldAgent {
        open: held,
        turns: AtomicU32::new(0),
    });
    let running = tokio::spawn(
        channel(&crabline, &store, first.clone())
            .await
            .run(std::future::pending()),
    );
    say(&crabline, 101, "slow but sure");
    eventually("the turn started", || {
        first.turns.load(Ordering::SeqCst) == 1
    })
    .await;
    // Killed mid-turn: nothing answered.
    running.abort();
    let _ = running.await;
    assert!(answers(&crabline, 101).is_empty());

    let (open, opened) = watch::channel(true);
    let second = Arc::new(HeldAgent {
        open: opened,
        turns: AtomicU32::new(0),
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(channel(&crabline, &store, second.clone()).await.run(async {
        let _ = stopped.await;
    }));
    eventually("the spooled message answered", || {
        !answers(&crabline, 101).is_empty()
    })
    .await;
    say(&crabline, 101, "and another");
    eventually("the next message answered", || {
        answers(&crabline, 101).len() == 2
    })
    .await;
    assert_eq!(
        answers(&crabline, 101),
        ["echo: slow but sure", "echo: and another"]
    );
    assert_eq!(second.turns.load(Ordering::SeqCst), 2);
    drop(open);
    let _ = stop.send(());
    running.await.unwrap();
}
