//! WhatsApp's chats in lanes: one user's long turn does not hold up another
//! user's chat, and a delivery answered 200 but not yet answered when the
//! channel stops is answered after a restart, once.

use std::time::Duration;

use hardshell_channels::webhook::{WebhookEndpoint, WebhookOutcome, WebhookRequest};
use http::{HeaderMap, HeaderValue, Method};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::*;

/// A second user, in a chat of their own.
const OTHER: &str = "15557654321";

/// `user`'s message through crabline's admin inbound, delivered signed to
/// `webhook`: what the webhook answered.
fn writes(
    crabline: &Crabline,
    webhook: &WhatsappWebhook,
    user: &str,
    text: &str,
) -> WebhookOutcome {
    let jid = format!("{user}@s.whatsapp.net");
    let answer = crabline.inject(json!({"chatId": jid, "from": jid, "text": text}));
    let body = serde_json::to_vec(&answer["webhook"]).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert(
        "x-hub-signature-256",
        HeaderValue::from_str(&sign(&body, APP_SECRET)).unwrap(),
    );
    webhook.receive(WebhookRequest {
        method: &Method::POST,
        headers: &headers,
        query: None,
        body: &body,
        now: Utc::now(),
    })
}

/// The texts the bot sent to `user`, in order.
fn answers_to(crabline: &Crabline, user: &str) -> Vec<String> {
    texts_sent(crabline)
        .into_iter()
        .filter(|body| body["to"] == user)
        .filter_map(|body| body["text"]["body"].as_str().map(str::to_owned))
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

/// One run of the channel on `store`: its webhook, and its worker running
/// until `stop` is sent.
struct Run {
    webhook: Arc<WhatsappWebhook>,
    stop: oneshot::Sender<()>,
    running: JoinHandle<()>,
}

async fn run(crabline: &Crabline, store: &TestStore, agent: Arc<EchoAgent>) -> Run {
    let pairings = Pairings::new(store.scope("channels/pairing"));
    let dispatcher = dispatcher(store, Platform::Whatsapp, agent, &pairings).await;
    let config = hardshell_config::Whatsapp {
        enabled: true,
        phone_number_id: Some(phone_number_id(crabline)),
        api_root: api_root(crabline),
        ..Default::default()
    };
    let secrets = WhatsappSecrets {
        access_token: secret(access_token(crabline)),
        app_secret: secret(APP_SECRET),
        verify_token: secret(VERIFY_TOKEN),
    };
    let (webhook, worker) = whatsapp::channel(
        &config,
        secrets,
        dispatcher,
        store.scope("channels/whatsapp"),
    )
    .unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    Run {
        webhook,
        stop,
        running,
    }
}

async fn pair(store: &TestStore, users: &[&str]) {
    let pairings = Pairings::new(store.scope("channels/pairing"));
    for user in users {
        let sender = Sender::parse(Platform::Whatsapp, user).unwrap();
        pairings
            .add(&sender, ChannelRole::Guest, Utc::now())
            .await
            .unwrap();
    }
}

fn held_agent() -> (watch::Sender<bool>, Arc<EchoAgent>) {
    let (open, opened) = watch::channel(false);
    let agent = Arc::new(EchoAgent {
        hold: Some(opened),
        ..Default::default()
    });
    (open, agent)
}

const ACCEPTED: WebhookOutcome = WebhookOutcome::Accepted { body: Vec::new() };

#[tokio::test]
async fn a_long_turn_holds_up_its_own_chat_only_and_a_chat_keeps_its_order() {
    let crabline = Crabline::start("whatsapp");
    let store = TestStore::new().await;
    pair(&store, &[USER, OTHER]).await;
    let (open, agent) = held_agent();
    let channel = run(&crabline, &store, agent.clone()).await;

    assert_eq!(
        writes(&crabline, &channel.webhook, USER, "slow one"),
        ACCEPTED
    );
    eventually("the slow turn started", || {
        agent.turns.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(
        writes(&crabline, &channel.webhook, USER, "second"),
        ACCEPTED
    );
    assert_eq!(
        writes(&crabline, &channel.webhook, OTHER, "hello"),
        ACCEPTED
    );

    // The other chat is answered while the first chat's turn is held.
    eventually("the other chat answered", || {
        answers_to(&crabline, OTHER) == ["echo: hello"]
    })
    .await;
    // The held chat's next message waits behind its turn: no turn started
    // and nothing said to it yet.
    assert!(answers_to(&crabline, USER).is_empty());
    assert_eq!(agent.turns.load(Ordering::SeqCst), 2);

    let _ = open.send(true);
    eventually("the held chat answered in order", || {
        answers_to(&crabline, USER).len() == 2
    })
    .await;
    assert_eq!(
        answers_to(&crabline, USER),
        ["echo: slow one", "echo: second"]
    );
    let _ = channel.stop.send(());
    channel.running.await.unwrap();
}

/// How many messages the channel on `store` holds spooled.
async fn spooled(store: &TestStore) -> usize {
    store
        .scope("channels/whatsapp/spool")
        .list()
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn deliveries_taken_and_not_answered_when_killed_are_answered_after_a_restart_once() {
    let crabline = Crabline::start("whatsapp");
    let store = TestStore::new().await;
    pair(&store, &[USER]).await;
    let (open, agent) = held_agent();

    let first = run(&crabline, &store, agent.clone()).await;
    assert_eq!(
        writes(&crabline, &first.webhook, USER, "slow one"),
        ACCEPTED
    );
    // Meta is told both were taken; the second waits behind the first.
    assert_eq!(writes(&crabline, &first.webhook, USER, "waiting"), ACCEPTED);
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while spooled(&store).await < 2 || agent.turns.load(Ordering::SeqCst) < 1 {
        assert!(std::time::Instant::now() < until, "timed out: both spooled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Killed mid-turn: nothing answered.
    first.running.abort();
    let _ = first.running.await;
    assert!(answers_to(&crabline, USER).is_empty());

    let _ = open.send(true);
    let second = run(&crabline, &store, agent.clone()).await;
    eventually("both answered after the restart", || {
        answers_to(&crabline, USER).len() == 2
    })
    .await;
    let _ = second.stop.send(());
    second.running.await.unwrap();
    assert_eq!(spooled(&store).await, 0);
    // Once: a third start finds nothing left to answer.
    let third = run(&crabline, &store, agent.clone()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = third.stop.send(());
    third.running.await.unwrap();
    assert_eq!(
        answers_to(&crabline, USER),
        ["echo: slow one", "echo: waiting"]
    );
    drop(first.stop);
}

#[tokio::test]
async fn deliveries_still_queued_when_the_channel_stops_are_answered_after_a_restart() {
    let crabline = Crabline::start("whatsapp");
    let store = TestStore::new().await;
    pair(&store, &[USER, OTHER]).await;
    let agent = Arc::new(EchoAgent::default());

    let pairings = Pairings::new(store.scope("channels/pairing"));
    let dispatcher = dispatcher(&store, Platform::Whatsapp, agent.clone(), &pairings).await;
    let config = hardshell_config::Whatsapp {
        enabled: true,
        phone_number_id: Some(phone_number_id(&crabline)),
        api_root: api_root(&crabline),
        ..Default::default()
    };
    let secrets = WhatsappSecrets {
        access_token: secret(access_token(&crabline)),
        app_secret: secret(APP_SECRET),
        verify_token: secret(VERIFY_TOKEN),
    };
    let (webhook, worker) = whatsapp::channel(
        &config,
        secrets,
        dispatcher,
        store.scope("channels/whatsapp"),
    )
    .unwrap();
    // Taken (200) while the worker has not taken anything from its queue.
    assert_eq!(writes(&crabline, &webhook, USER, "first"), ACCEPTED);
    assert_eq!(writes(&crabline, &webhook, OTHER, "second"), ACCEPTED);
    // Stopped before it starts: what the queue holds is spooled, not lost.
    worker.run(async {}).await;
    assert_eq!(agent.turns.load(Ordering::SeqCst), 0);
    assert!(texts_sent(&crabline).is_empty());
    assert_eq!(spooled(&store).await, 2);
    // A delivery after the stop is refused for Meta to retry, not taken
    // and lost.
    assert_eq!(
        writes(&crabline, &webhook, USER, "too late"),
        WebhookOutcome::Busy
    );

    let restarted = run(&crabline, &store, agent.clone()).await;
    eventually("both answered after the restart", || {
        texts_sent(&crabline).len() == 2
    })
    .await;
    assert_eq!(answers_to(&crabline, USER), ["echo: first"]);
    assert_eq!(answers_to(&crabline, OTHER), ["echo: second"]);
    let _ = restarted.stop.send(());
    restarted.running.await.unwrap();
    assert_eq!(agent.turns.load(Ordering::SeqCst), 2);
    assert_eq!(spooled(&store).await, 0);
}
