//! The app's slash command over Socket Mode: acknowledged at once, then a
//! message like any other (the same allow list, pairing and groups), the
//! answer posted where it was typed; no text, or `new`, starts a new
//! conversation. Against the fake Slack (crabline has no Socket Mode).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "slack/fake.rs"]
mod fake;
#[path = "slack/running.rs"]
mod running;
#[path = "slack/setup.rs"]
mod setup;

use fake::{TEAM, slash};
use running::running;
use setup::AGENT_REPLY;

#[tokio::test]
async fn the_slash_command_is_a_message_and_without_text_starts_a_new_conversation() {
    let run = running().await;
    let fake = &run.fake;
    run.setup.pair(&format!("{TEAM}:U0PAIRED")).await;
    let commands = [
        ("1.1", "U0PAIRED", "DU0PAIRED", "/hardshell", ""),
        ("1.2", "U0PAIRED", "DU0PAIRED", "/hardshell", "what is up"),
        // In an allowed channel: addressed to the bot, though it names it not.
        ("1.3", "U0PAIRED", "C0GROUP", "/hardshell", "and here"),
        // Another app's command, and a channel the bot does not answer in.
        ("1.4", "U0PAIRED", "DU0PAIRED", "/other", "not ours"),
        ("1.5", "U0PAIRED", "C0ELSEWHERE", "/hardshell", "not here"),
        // Slack's retry of the second: taken once.
        ("1.2", "U0PAIRED", "DU0PAIRED", "/hardshell", "what is up"),
        // Someone nobody paired gets a code, whatever they typed.
        ("1.6", "U0STRANGER", "DU0STRANGER", "/hardshell", "new"),
    ];
    for (n, (trigger, user, channel, command, text)) in commands.iter().enumerate() {
        let envelope = format!("env-{n}");
        fake.slash_command(&envelope, slash(trigger, user, channel, command, text));
        fake.wait_ack(&envelope).await;
    }
    // The code, last of all: everything before it was handled, in order.
    let posted = fake.wait_calls("chat.postMessage", 4).await;
    let said: Vec<_> = posted
        .iter()
        .map(|p| (p["channel"].as_str().unwrap(), p["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        said[..3],
        [
            ("DU0PAIRED", "Started a new conversation."),
            ("DU0PAIRED", AGENT_REPLY),
            ("C0GROUP", AGENT_REPLY),
        ]
    );
    assert_eq!(said[3].0, "DU0STRANGER");
    assert!(said[3].1.contains("pairing code"), "{}", said[3].1);
    assert!(
        posted.iter().all(|p| p.get("thread_ts").is_none()),
        "a command is no message to thread under"
    );
    assert_eq!(run.setup.texts(), ["what is up", "and here"]);
    assert_eq!(fake.calls("chat.postMessage").len(), 4);
    run.stop().await;
}
