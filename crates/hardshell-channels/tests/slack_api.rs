//! The Slack Web API client against crabline (the platform's local
//! emulator) where it emulates Slack (`auth.test`, `chat.postMessage`), and
//! against a fake that answers as api.slack.com documents where it does not
//! (`chat.update`, 429 with `Retry-After`, `apps.connections.open`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "slack/fake.rs"]
mod fake;
#[path = "slack/setup.rs"]
mod setup;

use std::time::Duration;

use hardshell_channels::outbox::{Outbox, OutboxError};
use hardshell_channels::slack::SlackOutbox;
use hardshell_channels::slack::api::{SlackApi, SlackError};
use hardshell_testkit::crabline::Crabline;
use serde_json::json;
use setup::secret;

fn crabline_client(crabline: &Crabline) -> SlackApi {
    let root = url::Url::parse(&format!("{}/api", crabline.base_url())).unwrap();
    SlackApi::new(root, secret(crabline.bot_token()), None).unwrap()
}

#[tokio::test]
async fn auth_test_names_the_bot_and_its_workspace() {
    let crabline = Crabline::start("slack");
    let bot = crabline_client(&crabline).auth_test().await.unwrap();
    assert_eq!(bot.user_id, "UCRABBOT");
    assert_eq!(bot.team_id, "TCRABLINE");
    assert_eq!(bot.bot_id.as_deref(), Some("BCRABLINE"));
}

#[tokio::test]
async fn a_reply_is_posted_in_the_thread_of_the_message() {
    let crabline = Crabline::start("slack");
    let api = crabline_client(&crabline);
    let said = crabline.inject(json!({"channel": "C0123ABCD", "user": "U0123ABCD", "text": "hi"}));
    let thread = said["message"]["ts"].as_str().unwrap().to_owned();
    let ts = api
        .post_message("C0123ABCD", "an answer", Some(&thread))
        .await
        .unwrap();
    let sent = crabline.sent("chat.postMessage");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["channel"], "C0123ABCD");
    assert_eq!(sent[0]["text"], "an answer");
    assert_eq!(sent[0]["thread_ts"], thread.as_str());
    assert_ne!(ts, thread, "the answer is a new message");
    // Unthreaded, no thread_ts is sent.
    api.post_message("C0123ABCD", "top level", None)
        .await
        .unwrap();
    assert!(
        crabline.sent("chat.postMessage")[1]
            .get("thread_ts")
            .is_none()
    );
}

#[tokio::test]
async fn a_refusal_keeps_slacks_error_code() {
    let crabline = Crabline::start("slack");
    let api = crabline_client(&crabline);
    let refused = api
        .post_message("not a channel", "x", None)
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        SlackError::Refused {
            method: "chat.postMessage",
            error: "channel_not_found".into()
        }
    );
    let missing_thread = api
        .post_message("C0123ABCD", "x", Some("1700000000.999999"))
        .await
        .unwrap_err();
    assert!(
        matches!(missing_thread, SlackError::Refused { ref error, .. } if error == "thread_not_found")
    );
    assert!(crabline.sent("chat.postMessage").is_empty());
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized_and_never_repeated() {
    let crabline = Crabline::start("slack");
    let root = url::Url::parse(&format!("{}/api", crabline.base_url())).unwrap();
    let wrong = "xoxb-9999-WRONGSECRETVALUE";
    let api = SlackApi::new(root, secret(wrong), None).unwrap();
    let refused = api.auth_test().await.unwrap_err();
    assert!(
        matches!(refused, SlackError::Unauthorized { ref error, .. } if error == "invalid_auth"),
        "{refused:?}"
    );
    for shown in [
        refused.to_string(),
        format!("{refused:?}"),
        format!("{api:?}"),
    ] {
        assert!(!shown.contains("WRONGSECRETVALUE"), "{shown}");
    }
}

#[tokio::test]
async fn chat_update_replaces_the_bots_message() {
    let fake = fake::FakeSlack::start().await;
    let api = SlackApi::new(fake.api_root(), secret(fake::BOT_TOKEN), None).unwrap();
    let ts = api.post_message("C0GROUP", "draft", None).await.unwrap();
    api.update("C0GROUP", &ts, "final").await.unwrap();
    let updates = fake.calls("chat.update");
    assert_eq!(
        updates,
        [json!({"channel": "C0GROUP", "ts": ts, "text": "final"})]
    );
    let unknown = api
        .update("C0GROUP", "1700000000.424242", "x")
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, SlackError::Refused { ref error, .. } if error == "message_not_found")
    );
}

#[tokio::test]
async fn a_429_is_retry_after_its_header_for_the_dispatch() {
    let fake = fake::FakeSlack::start().await;
    let api =
        std::sync::Arc::new(SlackApi::new(fake.api_root(), secret(fake::BOT_TOKEN), None).unwrap());
    fake.rate_limit(1, 7);
    let limited = api.post_message("C0GROUP", "x", None).await.unwrap_err();
    assert_eq!(
        limited,
        SlackError::RetryAfter {
            method: "chat.postMessage",
            secs: 7
        }
    );
    assert!(limited.is_retryable());
    fake.rate_limit(1, 3);
    let outbox = SlackOutbox::new(api.clone());
    match outbox.send("C0GROUP", "x", None).await {
        Err(OutboxError::RetryAfter(wait)) => assert_eq!(wait, Duration::from_secs(3)),
        other => panic!("{other:?}"),
    }
    // Once the limit is over the same call goes through.
    assert!(outbox.send("C0GROUP", "x", None).await.unwrap().is_some());
}

#[tokio::test]
async fn the_agents_text_cannot_notify_the_channel_or_ping_a_person() {
    let fake = fake::FakeSlack::start().await;
    let api = SlackApi::new(fake.api_root(), secret(fake::BOT_TOKEN), None).unwrap();
    let outbox = SlackOutbox::new(std::sync::Arc::new(api));
    let ts = outbox
        .send("C0GROUP", "<!channel> see <@U0BOSS>", None)
        .await
        .unwrap()
        .unwrap();
    outbox.edit("C0GROUP", &ts, "<!here> & more").await.unwrap();
    assert_eq!(
        fake.calls("chat.postMessage")[0]["text"],
        "&lt;!channel&gt; see &lt;@U0BOSS&gt;"
    );
    assert_eq!(
        fake.calls("chat.update")[0]["text"],
        "&lt;!here&gt; &amp; more"
    );
}

#[tokio::test]
async fn socket_mode_urls_come_only_with_the_app_token() {
    let fake = fake::FakeSlack::start().await;
    let bot_only = SlackApi::new(fake.api_root(), secret(fake::BOT_TOKEN), None).unwrap();
    assert!(matches!(
        bot_only.open_connection().await,
        Err(SlackError::NoAppToken(_))
    ));
    let both = SlackApi::new(
        fake.api_root(),
        secret(fake::BOT_TOKEN),
        Some(secret(fake::APP_TOKEN)),
    )
    .unwrap();
    let url = both.open_connection().await.unwrap();
    assert_eq!(url.scheme(), "ws");
    assert!(url.query().unwrap().starts_with("ticket="));
}

#[tokio::test]
async fn tokens_of_the_wrong_form_and_insecure_roots_are_refused() {
    let https = url::Url::parse("https://slack.com/api").unwrap();
    let app_as_bot = SlackApi::new(https.clone(), secret(fake::APP_TOKEN), None).unwrap_err();
    assert!(matches!(app_as_bot, SlackError::Token(..)));
    let header_break =
        SlackApi::new(https.clone(), secret("xoxb-1\r\nX-Evil: 1"), None).unwrap_err();
    assert!(matches!(header_break, SlackError::Token(..)));
    let bot_as_app = SlackApi::new(
        https,
        secret(fake::BOT_TOKEN),
        Some(secret(fake::BOT_TOKEN)),
    );
    assert!(matches!(bot_as_app, Err(SlackError::Token(..))));
    let plain = url::Url::parse("http://slack.example/api").unwrap();
    let refused = SlackApi::new(plain, secret(fake::BOT_TOKEN), None).unwrap_err();
    assert!(matches!(refused, SlackError::Root(_)));
}

#[tokio::test]
async fn an_unreachable_slack_is_reported_without_a_token() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let root = url::Url::parse(&format!("http://127.0.0.1:{port}/api")).unwrap();
    let api = SlackApi::new(root, secret(fake::BOT_TOKEN), Some(secret(fake::APP_TOKEN))).unwrap();
    let failed = api.auth_test().await.unwrap_err();
    assert!(matches!(failed, SlackError::Transport(_)), "{failed:?}");
    let shown = format!("{failed} {failed:?} {api:?}");
    assert!(
        !shown.contains("FAKEBOTSECRET") && !shown.contains("FAKEAPPSECRET"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_question_is_posted_as_block_kit_with_its_buttons() {
    let crabline = Crabline::start("slack");
    let outbox = SlackOutbox::new(std::sync::Arc::new(crabline_client(&crabline)));
    let ts = outbox
        .ask("C0123ABCD", "Run `rm -r build` <now>?", "q-1", None)
        .await
        .unwrap();
    assert!(ts.is_some());
    let sent = crabline.sent("chat.postMessage");
    assert_eq!(sent.len(), 1);
    let blocks = &sent[0]["blocks"];
    assert_eq!(blocks[0]["text"]["text"], "Run `rm -r build` &lt;now&gt;?");
    let values: Vec<_> = blocks[1]["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["x:q-1:1", "x:q-1:0"]);
}
