//! Slack in Socket Mode, end to end against a fake that speaks Slack's
//! documented Socket Mode protocol (crabline has none): the channel connects
//! out, acknowledges every envelope, answers through the Web API as the
//! dispatch decides, and keeps one connection at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "slack/fake.rs"]
mod fake;
#[path = "slack/running.rs"]
mod running;
#[path = "slack/setup.rs"]
mod setup;

use fake::{APP_TOKEN, BOT_ID, BOT_TOKEN, BOT_USER, FakeSlack, TEAM, callback, direct_message};
use hardshell_channels::slack::SlackChannel;
use hardshell_channels::slack::api::SlackApi;
use running::running;
use serde_json::json;
use setup::{AGENT_REPLY, Setup, secret};
use tokio::sync::oneshot;

#[tokio::test]
async fn a_stranger_gets_a_code_and_a_paired_sender_an_answer() {
    let run = running().await;
    let fake = &run.fake;
    fake.deliver(
        "env-1",
        callback(
            "Ev1",
            direct_message("U0STRANGER", "hi", "1700000000.000001"),
        ),
    );
    fake.wait_ack("env-1").await;
    let posted = fake.wait_calls("chat.postMessage", 1).await;
    assert_eq!(posted[0]["channel"], "DU0STRANGER");
    assert!(
        posted[0]["text"].as_str().unwrap().contains("pairing code"),
        "{posted:?}"
    );
    assert_eq!(run.setup.turns(), 0, "a stranger never reaches the agent");

    run.setup.pair(&format!("{TEAM}:U0OWNER")).await;
    fake.deliver(
        "env-2",
        callback(
            "Ev2",
            direct_message("U0OWNER", "hello", "1700000000.000002"),
        ),
    );
    let posted = fake.wait_calls("chat.postMessage", 2).await;
    assert_eq!(posted[1]["channel"], "DU0OWNER");
    assert_eq!(posted[1]["text"], AGENT_REPLY);
    assert!(
        posted[1].get("thread_ts").is_none(),
        "a top-level direct message is answered top-level"
    );
    assert_eq!(run.setup.turns(), 1);
    run.stop().await;
}

#[tokio::test]
async fn a_group_mention_is_answered_in_its_thread() {
    let run = running().await;
    run.setup.pair(&format!("{TEAM}:U0OWNER")).await;
    let mention = json!({
        "type": "app_mention", "user": "U0OWNER", "text": format!("<@{BOT_USER}> hi"),
        "ts": "1700000000.000009", "channel": "C0GROUP", "event_ts": "1700000000.000009",
        "team": TEAM,
    });
    run.fake.deliver("env-1", callback("Ev1", mention));
    let posted = run.fake.wait_calls("chat.postMessage", 1).await;
    assert_eq!(posted[0]["channel"], "C0GROUP");
    assert_eq!(posted[0]["thread_ts"], "1700000000.000009");
    assert_eq!(posted[0]["text"], AGENT_REPLY);
    run.stop().await;
}

#[tokio::test]
async fn bots_messages_and_duplicates_are_acknowledged_but_not_handled() {
    let run = running().await;
    let fake = &run.fake;
    run.setup.pair(&format!("{TEAM}:U0OWNER")).await;
    let mut from_bot = direct_message("U0OWNER", "a bot wrote this", "1700000000.000011");
    from_bot["bot_id"] = "B0OTHER".into();
    let mut own = direct_message(BOT_USER, "the bot's own words", "1700000000.000012");
    own["bot_id"] = BOT_ID.into();
    let first = callback(
        "Ev1",
        direct_message("U0OWNER", "once", "1700000000.000013"),
    );
    fake.deliver("env-1", callback("Ev0", from_bot));
    fake.deliver("env-2", callback("Ev9", own));
    fake.deliver("env-3", first.clone());
    // Slack's retry of an envelope comes with a new envelope id, the same event.
    fake.deliver("env-4", first);
    // A last message, handled after all the above (one at a time, in order).
    fake.deliver(
        "env-5",
        callback(
            "Ev2",
            direct_message("U0OWNER", "last", "1700000000.000014"),
        ),
    );
    for envelope in ["env-1", "env-2", "env-3", "env-4", "env-5"] {
        fake.wait_ack(envelope).await;
    }
    // `last` is answered only after everything before it was handled.
    let posted = fake.wait_calls("chat.postMessage", 2).await;
    while run.setup.texts().last().map(String::as_str) != Some("last") {
        fake.wait_calls("chat.postMessage", posted.len() + 1).await;
    }
    assert_eq!(run.setup.texts(), ["once", "last"]);
    assert_eq!(fake.calls("chat.postMessage").len(), 2);
    run.stop().await;
}

#[tokio::test]
async fn a_disconnect_reconnects_after_closing_the_old_connection() {
    let run = running().await;
    let fake = &run.fake;
    fake.disconnect("refresh_requested");
    fake.wait_connections(2).await;
    let (opened, most_at_once, closed_cleanly) = fake.connections();
    assert_eq!(opened, 2);
    assert_eq!(
        most_at_once, 1,
        "the old connection was gone before the new one opened"
    );
    assert_eq!(
        closed_cleanly, 1,
        "the old connection was closed with a close frame"
    );
    assert_eq!(
        fake.calls("apps.connections.open").len(),
        2,
        "a new URL for each connection"
    );
    // Events keep coming on the new connection.
    fake.deliver(
        "env-1",
        callback(
            "Ev1",
            direct_message("U0STRANGER", "hi", "1700000000.000021"),
        ),
    );
    fake.wait_ack("env-1").await;
    fake.wait_calls("chat.postMessage", 1).await;
    run.stop().await;
}

#[tokio::test]
async fn socket_mode_needs_the_app_token() {
    let fake = FakeSlack::start().await;
    let mut setup = Setup::new(&[]).await;
    let api = SlackApi::new(fake.api_root(), secret(BOT_TOKEN), None).unwrap();
    let refused = SlackChannel::socket(api, setup.dispatcher(), setup.state()).unwrap_err();
    assert!(refused.to_string().contains("app-level token"), "{refused}");
}

#[tokio::test]
async fn a_refused_identity_check_is_retried_after_its_wait() {
    let fake = FakeSlack::start().await;
    let mut setup = Setup::new(&[]).await;
    let api = SlackApi::new(fake.api_root(), secret(BOT_TOKEN), Some(secret(APP_TOKEN))).unwrap();
    let channel = SlackChannel::socket(api, setup.dispatcher(), setup.state()).unwrap();
    // Slack rate-limits the first auth.test: the run waits it out, then connects.
    fake.rate_limit(1, 1);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(channel.run(async move {
        let _ = stopped.await;
    }));
    fake.wait_connections(1).await;
    assert_eq!(
        fake.calls("auth.test").len(),
        1,
        "the refused call is not counted"
    );
    stop.send(()).unwrap();
    task.await.unwrap();
}
