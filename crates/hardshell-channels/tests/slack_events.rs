//! Slack's Events API route: every delivery's signature is checked before
//! its body is read; a `url_verification` gets its challenge back; an event
//! is taken once by its `event_id` and answered through the Web API (a fake
//! Slack here: crabline cannot post its signed deliveries to a URL we give).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "slack/fake.rs"]
mod fake;
#[path = "slack/setup.rs"]
mod setup;

use std::sync::Arc;

use aws_lc_rs::hmac;
use chrono::{DateTime, Utc};
use fake::{APP_TOKEN, BOT_TOKEN, FakeSlack, TEAM, callback, direct_message, press, slash};
use hardshell_channels::ChannelRole;
use hardshell_channels::slack::{SlackChannel, SlackSecrets};
use hardshell_channels::verify::VerifyError;
use hardshell_channels::webhook::{WebhookEndpoint, WebhookOutcome, WebhookRequest};
use hardshell_config::{ApiRoot, SlackMode};
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{Value, json};
use setup::{AGENT_REPLY, APPROVAL, RAN, Setup, secret};

const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

fn config(fake: &FakeSlack, mode: SlackMode) -> hardshell_config::Slack {
    hardshell_config::Slack {
        enabled: true,
        mode,
        api_root: ApiRoot::parse(fake.api_root().as_str()).unwrap(),
        ..Default::default()
    }
}

/// The route of an Events API channel whose run has started.
async fn endpoint(fake: &FakeSlack, setup: &mut Setup) -> Arc<dyn WebhookEndpoint> {
    let secrets = SlackSecrets {
        bot_token: secret(BOT_TOKEN),
        app_token: None,
        signing_secret: Some(secret(SIGNING_SECRET)),
    };
    let channel = SlackChannel::new(
        &config(fake, SlackMode::Events),
        secrets,
        setup.dispatcher(),
        setup.state(),
    )
    .unwrap();
    let route = channel.webhook().expect("events mode has a route");
    // Runs until the test's runtime ends.
    tokio::spawn(channel.run(std::future::pending()));
    route
}

/// Headers as Slack signs a delivery: `v0=` HMAC-SHA256 of `v0:{ts}:{body}`.
fn signed(body: &[u8], at: DateTime<Utc>, key: &str) -> HeaderMap {
    let stamp = at.timestamp().to_string();
    let key = hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(format!("v0:{stamp}:").as_bytes());
    context.update(body);
    let signature = format!("v0={}", hex::encode(context.sign().as_ref()));
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-slack-request-timestamp",
        HeaderValue::from_str(&stamp).unwrap(),
    );
    headers.insert(
        "x-slack-signature",
        HeaderValue::from_str(&signature).unwrap(),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers
}

fn deliver(
    endpoint: &Arc<dyn WebhookEndpoint>,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> WebhookOutcome {
    endpoint.receive(WebhookRequest {
        method: &Method::POST,
        headers,
        query: None,
        body,
        now,
    })
}

fn bytes(value: &Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

#[tokio::test]
async fn the_url_verification_challenge_is_answered_only_when_signed() {
    let fake = FakeSlack::start().await;
    let mut setup = Setup::new(&[]).await;
    let endpoint = endpoint(&fake, &mut setup).await;
    assert_eq!(endpoint.path(), "/hooks/slack");
    assert_eq!(endpoint.methods(), [Method::POST]);
    let now = Utc::now();
    let body = bytes(&json!({
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }));
    let answered = deliver(&endpoint, &signed(&body, now, SIGNING_SECRET), &body, now);
    assert_eq!(
        answered,
        WebhookOutcome::Accepted {
            body: b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".to_vec()
        }
    );
    let unsigned = deliver(&endpoint, &HeaderMap::new(), &body, now);
    assert_eq!(
        unsigned,
        WebhookOutcome::Rejected(VerifyError::MissingSignature)
    );
    let forged = deliver(&endpoint, &signed(&body, now, "not-the-secret"), &body, now);
    assert_eq!(forged, WebhookOutcome::Rejected(VerifyError::BadSignature));
    let old = now - chrono::Duration::seconds(301);
    let stale = deliver(&endpoint, &signed(&body, old, SIGNING_SECRET), &body, now);
    assert!(matches!(
        stale,
        WebhookOutcome::Rejected(VerifyError::StaleTimestamp { .. })
    ));
}

#[tokio::test]
async fn a_challenge_we_would_not_echo_is_malformed() {
    let fake = FakeSlack::start().await;
    let mut setup = Setup::new(&[]).await;
    let endpoint = endpoint(&fake, &mut setup).await;
    let now = Utc::now();
    for body in [
        bytes(&json!({"type": "url_verification", "challenge": "<script>alert(1)</script>"})),
        bytes(&json!({"type": "url_verification"})),
        b"{not json".to_vec(),
    ] {
        let outcome = deliver(&endpoint, &signed(&body, now, SIGNING_SECRET), &body, now);
        assert_eq!(outcome, WebhookOutcome::Malformed);
    }
}

#[tokio::test]
async fn an_event_is_handled_once_and_its_replay_is_a_duplicate() {
    let fake = FakeSlack::start().await;
    let mut setup = Setup::new(&[]).await;
    let endpoint = endpoint(&fake, &mut setup).await;
    let now = Utc::now();
    let body = bytes(&callback(
        "Ev1",
        direct_message("U0STRANGER", "hi", "1700000000.000001"),
    ));
    let first = deliver(&endpoint, &signed(&body, now, SIGNING_SECRET), &body, now);
    assert_eq!(first, WebhookOutcome::Accepted { body: Vec::new() });
    // Slack's retry (or an attacker's replay inside the window), signed anew.
    let later = now + chrono::Duration::seconds(60);
    let mut retry = signed(&body, later, SIGNING_SECRET);
    retry.insert("x-slack-retry-num", HeaderValue::from_static("1"));
    assert_eq!(
        deliver(&endpoint, &retry, &body, later),
        WebhookOutcome::Duplicate
    );
    // A forged delivery of a new event is refused and handled by nobody.
    let forged = bytes(&callback(
        "Ev2",
        direct_message("U0FORGER", "hi", "1700000000.000002"),
    ));
    let refused = deliver(&endpoint, &signed(&forged, now, "guess"), &forged, now);
    assert_eq!(refused, WebhookOutcome::Rejected(VerifyError::BadSignature));
    // A last event, in a chat of its own: once both are answered (chats
    // run side by side, so in either order), nothing else was.
    let last = bytes(&callback(
        "Ev3",
        direct_message("U0LAST", "hi", "1700000000.000003"),
    ));
    deliver(&endpoint, &signed(&last, now, SIGNING_SECRET), &last, now);
    let posted = fake.wait_calls("chat.postMessage", 2).await;
    let mut channels: Vec<_> = posted
        .iter()
        .map(|p| p["channel"].as_str().unwrap())
        .collect();
    channels.sort_unstable();
    assert_eq!(channels, ["DU0LAST", "DU0STRANGER"]);
    assert!(
        posted
            .iter()
            .all(|p| p["text"].as_str().unwrap().contains("pairing code"))
    );
    assert_eq!(setup.turns(), 0);
}

#[tokio::test]
async fn deliveries_answered_and_still_queued_at_shutdown_are_answered_after_a_restart_once() {
    let fake = FakeSlack::start().await;
    let mut setup = Setup::new(&[]).await;
    setup.pair(&format!("{TEAM}:U0ONE")).await;
    setup.pair(&format!("{TEAM}:U0TWO")).await;
    let secrets = || SlackSecrets {
        bot_token: secret(BOT_TOKEN),
        app_token: None,
        signing_secret: Some(secret(SIGNING_SECRET)),
    };
    let config = config(&fake, SlackMode::Events);
    let first = SlackChannel::new(&config, secrets(), setup.dispatcher(), setup.state()).unwrap();
    let route = first.webhook().unwrap();
    let now = Utc::now();
    for (event, user, ts) in [
        ("Ev1", "U0ONE", "1700000000.000001"),
        ("Ev2", "U0TWO", "1700000000.000002"),
    ] {
        let body = bytes(&callback(event, direct_message(user, "hi", ts)));
        let answered = deliver(&route, &signed(&body, now, SIGNING_SECRET), &body, now);
        assert_eq!(answered, WebhookOutcome::Accepted { body: Vec::new() });
    }
    // Slack was told both were taken; the channel stops before handling
    // them: they are spooled, not lost.
    first.run(async {}).await;
    assert!(fake.calls("chat.postMessage").is_empty());
    assert_eq!(setup.turns(), 0);
    assert_eq!(setup.spooled().await, 2);

    let dispatcher = setup.another_dispatcher(&[]).await;
    let second = SlackChannel::new(&config, secrets(), dispatcher, setup.state()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(second.run(async move {
        let _ = stopped.await;
    }));
    let posted = fake.wait_calls("chat.postMessage", 2).await;
    let mut channels: Vec<_> = posted
        .iter()
        .map(|p| p["channel"].as_str().unwrap())
        .collect();
    channels.sort_unstable();
    assert_eq!(channels, ["DU0ONE", "DU0TWO"]);
    assert!(posted.iter().all(|p| p["text"] == AGENT_REPLY));
    let _ = stop.send(());
    running.await.unwrap();
    assert_eq!(setup.turns(), 2);
    // Answered once: nothing is left for another start.
    assert_eq!(setup.spooled().await, 0);
}

#[tokio::test]
async fn deliveries_before_the_run_are_handled_once_it_runs() {
    let fake = FakeSlack::start().await;
    let mut setup = Setup::new(&[]).await;
    let secrets = SlackSecrets {
        bot_token: secret(BOT_TOKEN),
        app_token: None,
        signing_secret: Some(secret(SIGNING_SECRET)),
    };
    let channel = SlackChannel::new(
        &config(&fake, SlackMode::Events),
        secrets,
        setup.dispatcher(),
        setup.state(),
    )
    .unwrap();
    let route = channel.webhook().unwrap();
    let now = Utc::now();
    let body = bytes(&callback(
        "Ev1",
        direct_message("U0EARLY", "hi", "1700000000.000001"),
    ));
    let taken = deliver(&route, &signed(&body, now, SIGNING_SECRET), &body, now);
    assert_eq!(taken, WebhookOutcome::Accepted { body: Vec::new() });
    assert!(
        fake.calls("auth.test").is_empty(),
        "nothing is asked of Slack before the run"
    );
    tokio::spawn(channel.run(std::future::pending()));
    let posted = fake.wait_calls("chat.postMessage", 1).await;
    assert_eq!(posted[0]["channel"], "DU0EARLY");
}

#[tokio::test]
async fn the_config_picks_the_mode_and_its_secret() {
    let fake = FakeSlack::start().await;
    let mut setup = Setup::new(&[]).await;
    let no_secret = SlackSecrets {
        bot_token: secret(BOT_TOKEN),
        app_token: None,
        signing_secret: None,
    };
    let refused = SlackChannel::new(
        &config(&fake, SlackMode::Events),
        no_secret,
        setup.dispatcher(),
        setup.state(),
    )
    .unwrap_err();
    assert!(refused.to_string().contains("signing secret"), "{refused}");

    let mut setup = Setup::new(&[]).await;
    let socket = SlackSecrets {
        bot_token: secret(BOT_TOKEN),
        app_token: Some(secret(APP_TOKEN)),
        signing_secret: None,
    };
    let shown = format!("{socket:?}");
    assert!(
        !shown.contains("FAKEBOTSECRET") && !shown.contains("FAKEAPPSECRET"),
        "{shown}"
    );
    let channel = SlackChannel::new(
        &config(&fake, SlackMode::Socket),
        socket,
        setup.dispatcher(),
        setup.state(),
    )
    .unwrap();
    assert!(channel.webhook().is_none());
    let shown = format!("{channel:?}");
    assert!(
        !shown.contains("FAKEBOTSECRET") && !shown.contains("FAKEAPPSECRET"),
        "{shown}"
    );
}

#[tokio::test]
async fn an_event_of_another_kind_is_accepted_not_refused() {
    let fake = FakeSlack::start().await;
    let mut setup = Setup::new(&[]).await;
    let endpoint = endpoint(&fake, &mut setup).await;
    let now = Utc::now();
    let created = json!({
        "type": "channel_created",
        "channel": {"id": "C0NEW", "name": "new", "created": 1_700_000_000, "creator": "U0X"},
    });
    let body = bytes(&callback("Ev1", created));
    let outcome = deliver(&endpoint, &signed(&body, now, SIGNING_SECRET), &body, now);
    assert_eq!(outcome, WebhookOutcome::Accepted { body: Vec::new() });
}

/// A form as Slack posts interactions and slash commands, signed.
fn signed_form(body: &[u8], at: DateTime<Utc>, key: &str) -> HeaderMap {
    let mut headers = signed(body, at, key);
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    headers
}

/// `fields` form-encoded, as Slack encodes them.
fn form(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        form.append_pair(name, value);
    }
    form.finish().into_bytes()
}

#[tokio::test]
async fn a_signed_press_answers_the_question_and_a_forged_one_is_refused() {
    let fake = FakeSlack::start().await;
    let mut setup = Setup::new(&[]).await;
    setup
        .pair_as(&format!("{TEAM}:U0OWNER"), ChannelRole::Owner)
        .await;
    let endpoint = endpoint(&fake, &mut setup).await;
    let now = Utc::now();
    let asking = bytes(&callback(
        "Ev1",
        direct_message("U0OWNER", "clean up", "1700000000.000001"),
    ));
    deliver(
        &endpoint,
        &signed(&asking, now, SIGNING_SECRET),
        &asking,
        now,
    );
    let question = fake.wait_calls("chat.postMessage", 1).await[0].clone();
    let ts = fake.posted_ts()[0].clone();
    let text = question["text"].as_str().unwrap();
    let payload = press(
        "T1",
        "U0OWNER",
        "DU0OWNER",
        &ts,
        text,
        &format!("x:{APPROVAL}:1"),
    );
    let body = form(&[("payload", &payload.to_string())]);

    // Forged, unsigned, or signed as JSON of another body: refused before
    // a field of it is read.
    let forged = deliver(&endpoint, &signed_form(&body, now, "guess"), &body, now);
    assert_eq!(forged, WebhookOutcome::Rejected(VerifyError::BadSignature));
    let mut unsigned = HeaderMap::new();
    unsigned.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    assert_eq!(
        deliver(&endpoint, &unsigned, &body, now),
        WebhookOutcome::Rejected(VerifyError::MissingSignature)
    );
    let stale = now - chrono::Duration::seconds(301);
    assert!(matches!(
        deliver(
            &endpoint,
            &signed_form(&body, stale, SIGNING_SECRET),
            &body,
            now
        ),
        WebhookOutcome::Rejected(VerifyError::StaleTimestamp { .. })
    ));
    assert!(
        setup.answers().is_empty(),
        "no refused press answered anything"
    );

    let taken = deliver(
        &endpoint,
        &signed_form(&body, now, SIGNING_SECRET),
        &body,
        now,
    );
    assert_eq!(taken, WebhookOutcome::Accepted { body: Vec::new() });
    let posted = fake.wait_calls("chat.postMessage", 2).await;
    assert_eq!(posted[1]["text"], RAN, "the waiting turn went on");
    assert_eq!(setup.answers().len(), 1);
    let updated = fake.wait_calls("chat.update", 1).await;
    assert!(updated.iter().any(|u| u["ts"] == ts.as_str()
        && u["blocks"] == json!([])
        && u["text"].as_str().unwrap().ends_with("Running it.")));
    // The same press replayed within the window, signed anew: a duplicate.
    let later = now + chrono::Duration::seconds(30);
    assert_eq!(
        deliver(
            &endpoint,
            &signed_form(&body, later, SIGNING_SECRET),
            &body,
            later
        ),
        WebhookOutcome::Duplicate
    );
    // A form that is neither an interaction nor a command.
    for body in [form(&[("payload", "not json")]), form(&[("text", "hi")])] {
        assert_eq!(
            deliver(
                &endpoint,
                &signed_form(&body, now, SIGNING_SECRET),
                &body,
                now
            ),
            WebhookOutcome::Malformed
        );
    }
    assert_eq!(setup.answers().len(), 1);
}

#[tokio::test]
async fn a_signed_slash_command_is_a_message_and_a_forged_one_is_refused() {
    let fake = FakeSlack::start().await;
    let mut setup = Setup::new(&[]).await;
    setup.pair(&format!("{TEAM}:U0PAIRED")).await;
    let endpoint = endpoint(&fake, &mut setup).await;
    let now = Utc::now();
    let fields = |trigger: &str, user: &str, text: &str| -> Vec<u8> {
        let fields = slash(trigger, user, &format!("D{user}"), "/hardshell", text);
        let pairs: Vec<(String, String)> = fields
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        form(&pairs)
    };
    let forged = fields("1.1", "U0FORGER", "hello");
    assert_eq!(
        deliver(&endpoint, &signed_form(&forged, now, "guess"), &forged, now),
        WebhookOutcome::Rejected(VerifyError::BadSignature)
    );
    let asked = fields("1.2", "U0PAIRED", "hello there");
    let taken = deliver(
        &endpoint,
        &signed_form(&asked, now, SIGNING_SECRET),
        &asked,
        now,
    );
    assert_eq!(taken, WebhookOutcome::Accepted { body: Vec::new() });
    assert_eq!(
        deliver(
            &endpoint,
            &signed_form(&asked, now, SIGNING_SECRET),
            &asked,
            now
        ),
        WebhookOutcome::Duplicate
    );
    let posted = fake.wait_calls("chat.postMessage", 1).await;
    assert_eq!(posted[0]["channel"], "DU0PAIRED");
    assert_eq!(posted[0]["text"], AGENT_REPLY);
    assert_eq!(setup.texts(), ["hello there"]);
}

#[tokio::test]
async fn the_configured_slash_command_is_the_one_answered() {
    let fake = FakeSlack::start().await;
    let mut setup = Setup::new(&[]).await;
    setup.pair(&format!("{TEAM}:U0PAIRED")).await;
    let mut config = config(&fake, SlackMode::Events);
    config.command = hardshell_config::SlashCommand::parse("/assistant").unwrap();
    let secrets = SlackSecrets {
        bot_token: secret(BOT_TOKEN),
        app_token: None,
        signing_secret: Some(secret(SIGNING_SECRET)),
    };
    let channel = SlackChannel::new(&config, secrets, setup.dispatcher(), setup.state()).unwrap();
    let endpoint = channel.webhook().unwrap();
    tokio::spawn(channel.run(std::future::pending()));
    let now = Utc::now();
    let typed = |trigger: &str, command: &str, text: &str| {
        form(&[
            ("team_id", TEAM),
            ("channel_id", "DU0PAIRED"),
            ("user_id", "U0PAIRED"),
            ("command", command),
            ("text", text),
            ("trigger_id", trigger),
        ])
    };
    for body in [
        typed("1.1", "/hardshell", "the default, not configured"),
        typed("1.2", "/assistant", "the configured one"),
    ] {
        let taken = deliver(
            &endpoint,
            &signed_form(&body, now, SIGNING_SECRET),
            &body,
            now,
        );
        assert_eq!(taken, WebhookOutcome::Accepted { body: Vec::new() });
    }
    fake.wait_calls("chat.postMessage", 1).await;
    assert_eq!(setup.texts(), ["the configured one"]);
}
