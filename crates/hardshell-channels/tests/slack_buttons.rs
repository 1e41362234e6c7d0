//! The owner's questions in Slack: asked with Block Kit buttons in the
//! owner's own direct chat, answered by a press that Socket Mode carries
//! while the turn that asked waits for it, and by nobody else, nowhere
//! else. Against the fake Slack (crabline has no Socket Mode, no
//! interactions and no `chat.update`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "slack/fake.rs"]
mod fake;
#[path = "slack/running.rs"]
mod running;
#[path = "slack/setup.rs"]
mod setup;

use fake::{TEAM, callback, direct_message, press};
use hardshell_channels::ChannelRole;
use running::{Running, running};
use serde_json::{Value, json};
use setup::{AGENT_REPLY, APPROVAL, RAN};

const OWNER_CHAT: &str = "DU0OWNER";

/// A running channel whose owner asked to clean up: the question, asked
/// with buttons, and its `ts`.
async fn asked() -> (Running, Value, String) {
    let run = running().await;
    let owner = format!("{TEAM}:U0OWNER");
    run.setup.pair_as(&owner, ChannelRole::Owner).await;
    run.setup.pair(&format!("{TEAM}:U0GUEST")).await;
    run.fake.deliver(
        "env-q",
        callback(
            "EvQ",
            direct_message("U0OWNER", "clean up", "1700000000.000001"),
        ),
    );
    let question = run.fake.wait_calls("chat.postMessage", 1).await[0].clone();
    let ts = run.fake.posted_ts()[0].clone();
    (run, question, ts)
}

fn value(approve: bool) -> String {
    format!("x:{APPROVAL}:{}", u8::from(approve))
}

#[tokio::test]
async fn a_question_is_asked_with_two_buttons_and_its_text_escaped() {
    let (run, question, _) = asked().await;
    assert_eq!(question["channel"], OWNER_CHAT);
    let blocks = question["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
    let shown = blocks[0]["text"]["text"].as_str().unwrap();
    assert!(shown.contains("make clean &lt;!channel&gt;"), "{shown}");
    assert!(
        !shown.contains("<!channel>"),
        "the agent's text notifies nobody"
    );
    assert_eq!(
        question["text"].as_str().unwrap(),
        shown,
        "the notification's text is the same, escaped"
    );
    assert_eq!(
        blocks[1],
        json!({"type": "actions", "elements": [
            {"type": "button", "action_id": "run", "style": "primary", "value": value(true),
             "text": {"type": "plain_text", "text": "Run it"}},
            {"type": "button", "action_id": "skip", "style": "danger", "value": value(false),
             "text": {"type": "plain_text", "text": "Don't run"}},
        ]})
    );
    answer(&run, "T-end", "U0OWNER", OWNER_CHAT, &question, false).await;
    run.stop().await;
}

/// Presses a question's button as `user` in `channel`, and waits for the
/// press to be acknowledged.
async fn answer(
    run: &Running,
    trigger: &str,
    user: &str,
    channel: &str,
    question: &Value,
    approve: bool,
) {
    press_with(run, trigger, user, channel, question, &value(approve)).await;
}

async fn press_with(
    run: &Running,
    trigger: &str,
    user: &str,
    channel: &str,
    question: &Value,
    value: &str,
) {
    let ts = run.fake.posted_ts()[0].clone();
    let text = question["text"].as_str().unwrap();
    let envelope = format!("env-{trigger}");
    run.fake
        .interact(&envelope, press(trigger, user, channel, &ts, text, value));
    run.fake.wait_ack(&envelope).await;
}

#[tokio::test]
async fn a_turn_waiting_for_its_answer_holds_up_its_own_chat_only() {
    let (run, question, _ts) = asked().await;
    let fake = &run.fake;
    // The owner's turn waits for a press; the guest's chat goes on.
    run.fake.deliver(
        "env-guest",
        callback(
            "EvGuest",
            direct_message("U0GUEST", "hello", "1700000000.000002"),
        ),
    );
    let posted = fake.wait_calls("chat.postMessage", 2).await;
    assert_eq!(posted[1]["channel"], "DU0GUEST");
    assert_eq!(posted[1]["text"], AGENT_REPLY);
    // The owner's next message waits behind the turn that asked.
    run.fake.deliver(
        "env-next",
        callback(
            "EvNext",
            direct_message("U0OWNER", "and then", "1700000000.000003"),
        ),
    );
    run.fake.wait_ack("env-next").await;
    assert!(run.setup.answers().is_empty(), "the question is unanswered");
    assert_eq!(
        run.setup.turns(),
        2,
        "the owner's next turn has not started"
    );
    assert_eq!(fake.calls("chat.postMessage").len(), 2);
    // Answered, the turn goes on, then the owner's next message.
    answer(&run, "T1", "U0OWNER", OWNER_CHAT, &question, true).await;
    let posted = fake.wait_calls("chat.postMessage", 4).await;
    let owners: Vec<&Value> = posted[2..].iter().collect();
    assert!(owners.iter().all(|p| p["channel"] == OWNER_CHAT));
    assert_eq!(owners[0]["text"], RAN);
    assert_eq!(owners[1]["text"], AGENT_REPLY);
    run.stop().await;
}

#[tokio::test]
async fn the_owners_press_answers_the_waiting_turn_and_settles_the_question() {
    let (run, question, ts) = asked().await;
    let fake = &run.fake;
    // The turn that asked is still running: the press cannot wait for it.
    answer(&run, "T1", "U0OWNER", OWNER_CHAT, &question, true).await;
    let posted = fake.wait_calls("chat.postMessage", 2).await;
    assert_eq!(posted[1]["text"], RAN, "the turn went on once answered");
    let answers = run.setup.answers();
    assert_eq!(answers.len(), 1);
    assert_eq!(
        (answers[0].0.as_str(), answers[0].2.as_str(), answers[0].3),
        ("owner", APPROVAL, true)
    );
    let updated = fake.wait_calls("chat.update", 1).await;
    let settled = updated.iter().find(|u| u["ts"] == ts.as_str()).unwrap();
    assert_eq!(settled["channel"], OWNER_CHAT);
    assert_eq!(settled["blocks"], json!([]), "the buttons are gone");
    let text = settled["text"].as_str().unwrap();
    assert!(text.ends_with("Running it."), "{text}");
    assert!(
        text.contains("make clean &lt;!channel&gt;"),
        "the question stays, escaped: {text}"
    );
    assert!(fake.calls("chat.postEphemeral").is_empty());
    run.stop().await;
}

#[tokio::test]
async fn a_press_answers_nothing_unless_the_owner_presses_in_their_own_chat() {
    let (run, question, ts) = asked().await;
    let fake = &run.fake;
    let yes = value(true);
    // (trigger, presser, where, value, what the presser is told)
    let denied = [
        // A guest, in their own direct chat.
        ("T1", "U0GUEST", "DU0GUEST", yes.as_str(), "Only the owner"),
        // Someone nobody paired, replaying the owner's button.
        (
            "T2",
            "U0STRANGER",
            "DU0STRANGER",
            yes.as_str(),
            "Only the owner",
        ),
        // The owner, in a channel others read.
        ("T3", "U0OWNER", "C0GROUP", yes.as_str(), "Only the owner"),
        // The owner, with data that is no question's.
        (
            "T4",
            "U0OWNER",
            OWNER_CHAT,
            "x:../../etc:1",
            "Nothing to answer",
        ),
        (
            "T5",
            "U0OWNER",
            OWNER_CHAT,
            "approve everything",
            "Nothing to answer",
        ),
        // The owner, in a direct chat whose session asked nothing.
        (
            "T6",
            "U0OWNER",
            "DU0ELSE",
            yes.as_str(),
            "no longer waiting",
        ),
    ];
    for (trigger, user, channel, value, _) in denied {
        press_with(&run, trigger, user, channel, &question, value).await;
    }
    let told = fake.wait_calls("chat.postEphemeral", denied.len()).await;
    for ((_, user, channel, _, notice), told) in denied.iter().zip(&told) {
        assert_eq!(told["user"], *user);
        assert_eq!(told["channel"], *channel);
        assert!(told["text"].as_str().unwrap().contains(notice), "{told}");
    }
    assert!(run.setup.answers().is_empty(), "nothing was answered");
    assert!(
        !fake
            .calls("chat.update")
            .iter()
            .any(|u| u["ts"] == ts.as_str()),
        "the question keeps its buttons"
    );

    // The owner's own press, then Slack's retry of it (same trigger), then
    // a second press: one answer; the retry does nothing, the second press
    // is told the question is gone.
    answer(&run, "T7", "U0OWNER", OWNER_CHAT, &question, false).await;
    answer(&run, "T7", "U0OWNER", OWNER_CHAT, &question, false).await;
    answer(&run, "T8", "U0OWNER", OWNER_CHAT, &question, true).await;
    let told = fake
        .wait_calls("chat.postEphemeral", denied.len() + 1)
        .await;
    assert!(
        told[denied.len()]["text"]
            .as_str()
            .unwrap()
            .contains("no longer waiting")
    );
    let answers = run.setup.answers();
    assert_eq!(answers.len(), 1);
    assert!(!answers[0].3, "the owner's answer was not to run it");
    let updated = fake.wait_calls("chat.update", 1).await;
    let settled: Vec<_> = updated.iter().filter(|u| u["ts"] == ts.as_str()).collect();
    assert_eq!(settled.len(), 1);
    assert!(
        settled[0]["text"]
            .as_str()
            .unwrap()
            .ends_with("Not running it.")
    );
    fake.wait_calls("chat.postMessage", 2).await;
    assert_eq!(
        fake.calls("chat.postEphemeral").len(),
        denied.len() + 1,
        "the retried press was taken once"
    );
    run.stop().await;
}
