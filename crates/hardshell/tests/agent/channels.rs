//! The agent in Telegram, end to end: the real binary polling crabline's
//! Telegram Bot API emulator, the owner pairing from the command line, and
//! the real local model answering in the chat.

use std::time::Duration;

use std::sync::Arc;

use hardshell_testkit::crabline::Crabline;
use hardshell_testkit::front::{Front, Handler};
use hardshell_testkit::instance::Instance;

use crate::running::{Running, audit_records, eventually, instance, local_model};

const OWNER: i64 = 5550001;

fn telegram_instance(crab: &Crabline) -> Instance {
    let hs = instance(&local_model(&format!(
        "[channels.telegram]\nenabled = true\ntoken = \"secret:TELEGRAM_BOT_TOKEN\"\napi_root = \"{}\"\n",
        crab.base_url()
    )));
    hs.run_with_stdin(
        &["secret", "put", "TELEGRAM_BOT_TOKEN"],
        crab.bot_token().as_bytes(),
    )
    .ok();
    hs
}

fn say(crab: &Crabline, from: i64, text: &str) {
    crab.inject(serde_json::json!({
        "chatId": from.to_string(),
        "fromId": from,
        "text": text,
        "chatType": "private",
    }));
}

/// What the bot shows in `chat`, message by message: each sent message's
/// text, as its last edit left it.
fn shown(crab: &Crabline, chat: i64) -> Vec<String> {
    let mut messages: Vec<(i64, String)> = Vec::new();
    for event in crab.recorded() {
        if event["type"] != "api" || event["accepted"] != true || event["body"]["chat_id"] != chat {
            continue;
        }
        let path = event["path"].as_str().unwrap_or_default();
        let text = event["body"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if path.ends_with("/sendMessage") {
            messages.push((0, text));
            let id = i64::try_from(messages.len()).unwrap_or_default();
            if let Some(last) = messages.last_mut() {
                last.0 = id;
            }
        } else if path.ends_with("/editMessageText") {
            // Crabline numbers a chat's messages from 1, in order; so do we.
            let id = event["body"]["message_id"].as_i64().unwrap_or_default();
            if let Some(message) = messages.iter_mut().find(|(at, _)| *at == id) {
                message.1 = text;
            }
        }
    }
    messages.into_iter().map(|(_, text)| text).collect()
}

fn code_in(text: &str) -> String {
    let at = text.find("code: ").map(|at| at + "code: ".len()).unwrap();
    text[at..at + 9].to_owned()
}

fn turns_of(hs: &Instance, subject: &str) -> usize {
    audit_records(hs)
        .iter()
        .filter(|r| r["event"]["type"] == "turn_finished" && r["event"]["subject"] == subject)
        .count()
}

#[test]
fn a_stranger_gets_a_code_and_once_paired_chats_with_the_real_model() {
    let crab = Crabline::start("telegram");
    let hs = telegram_instance(&crab);
    let running = Running::start(&hs);

    say(&crab, OWNER, "hello?");
    eventually(60, "a pairing code", || !shown(&crab, OWNER).is_empty());
    let told = shown(&crab, OWNER);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].contains("pairing code"), "{told:?}");
    // Nothing of the stranger's reached the model.
    assert_eq!(turns_of(&hs, "owner"), 0);

    let code = code_in(&told[0]);
    let approved = hs.run(&["pair", "approve", &code, "--role", "owner"]).ok();
    assert!(
        approved.stdout.contains("telegram:5550001"),
        "{}",
        approved.stdout
    );
    let listed = hs.run(&["pair", "ls"]).ok().stdout;
    assert!(
        listed.contains("telegram:5550001") && listed.contains("owner"),
        "{listed}"
    );
    // The code is spent.
    assert!(
        !hs.run(&["pair", "approve", &code, "--role", "guest"])
            .status
            .success()
    );
    // What pairs nobody is refused with a reason, and changes nothing.
    for refused in [
        vec!["pair", "approve", "ZZZZ-ZZZZ", "--role", "owner"],
        vec!["pair", "add", "irc:5550002", "--role", "guest"],
        vec!["pair", "add", "telegram:-1001", "--role", "guest"],
        vec!["pair", "add", "telegram:alice", "--role", "owner"],
        vec!["pair", "revoke", "telegram:5550002"],
    ] {
        let run = hs.run(&refused);
        assert!(!run.status.success(), "{refused:?}");
        assert!(!run.stderr.trim().is_empty(), "{refused:?}");
    }
    let listed = hs.run(&["pair", "ls"]).ok().stdout;
    assert_eq!(listed.matches("paired ").count(), 1, "{listed}");

    say(&crab, OWNER, "Say hello in one short sentence.");
    eventually(240, "the model's answer", || {
        turns_of(&hs, "owner") == 1 && shown(&crab, OWNER).len() >= 2
    });
    let answer = shown(&crab, OWNER)[1].clone();
    assert!(!answer.trim().is_empty());
    assert!(!answer.contains("pairing code"), "{answer}");

    // Revoked, the sender is a stranger again: a code, no turn.
    hs.run(&["pair", "revoke", "telegram:5550001"]).ok();
    say(&crab, OWNER, "still there?");
    eventually(60, "a new code", || {
        shown(&crab, OWNER)
            .last()
            .is_some_and(|text| text.contains("pairing code"))
    });
    assert_eq!(turns_of(&hs, "owner"), 1);

    // The edge's log holds the requests, the command line's the owner's
    // approvals and revocations.
    let kinds = |records: &[serde_json::Value]| -> Vec<String> {
        records
            .iter()
            .filter_map(|r| r["event"]["type"].as_str())
            .filter(|kind| kind.starts_with("pairing_"))
            .map(str::to_owned)
            .collect()
    };
    // Refusals and requests are buffered, not written before the answer.
    eventually(30, "both requests recorded", || {
        kinds(&audit_records(&hs)) == ["pairing_requested", "pairing_requested"]
    });
    let records = audit_records(&hs);
    let cli: Vec<serde_json::Value> = hs
        .run(&["audit", "tail", "--log", &cli_log(&hs)])
        .ok()
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        kinds(&cli),
        ["pairing_approved", "pairing_revoked"],
        "{cli:?}"
    );
    let approved = cli
        .iter()
        .find(|r| r["event"]["type"] == "pairing_approved")
        .unwrap();
    assert_eq!(approved["event"]["role"], "owner");
    assert_eq!(approved["event"]["subject"], "owner");
    // The bot token reached no log line and no record.
    let log = running.log.lock().unwrap().join("\n");
    assert!(
        !log.contains(crab.bot_token().split(':').nth(1).unwrap()),
        "{log}"
    );
    assert!(!format!("{records:?}").contains(crab.bot_token()));
    running.stop();
}

#[test]
fn a_restart_loses_and_repeats_nothing_and_a_second_poller_is_reported() {
    let crab = Crabline::start("telegram");
    let hs = telegram_instance(&crab);
    hs.run(&["pair", "add", "telegram:5550001", "--role", "guest"])
        .ok();
    let running = Running::start(&hs);
    say(&crab, OWNER, "Say one word.");
    eventually(240, "the first answer", || {
        turns_of(&hs, "telegram:5550001") == 1
    });
    running.stop();

    // Written while hardshell is down: answered once it is back, once.
    say(&crab, OWNER, "Say another word.");
    let running = Running::start(&hs);
    eventually(240, "the second answer", || {
        turns_of(&hs, "telegram:5550001") == 2
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(turns_of(&hs, "telegram:5550001"), 2);

    // A webhook set behind hardshell's back: Telegram refuses polling (409),
    // and the log says what to fix rather than looping.
    let answer = crab_call(
        &crab,
        "setWebhook",
        r#"{"url":"https://93.184.216.34/hook"}"#,
    );
    assert!(answer.contains("\"ok\":true"), "{answer}");
    eventually(60, "the conflict reported", || {
        running
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.contains("a webhook is set for this bot"))
    });
    running.stop();
}

/// The id of the command line's audit log, as `audit verify` lists it.
fn cli_log(hs: &Instance) -> String {
    let listed = hs.run(&["audit", "verify"]).ok().stdout;
    listed
        .split_whitespace()
        .find(|word| word.starts_with("cli"))
        .unwrap_or_else(|| panic!("no cli log in {listed}"))
        .trim_end_matches(':')
        .to_owned()
}

/// Calls the Bot API of crabline directly, as another client of the bot would.
fn crab_call(crab: &Crabline, method: &str, body: &str) -> String {
    reqwest::blocking::Client::new()
        .post(format!(
            "{}/bot{}/{method}",
            crab.base_url(),
            crab.bot_token()
        ))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .unwrap()
        .text()
        .unwrap()
}

/// `sha256=<hex>` of `body` under `key`, as Meta signs a delivery.
fn meta_signature(body: &[u8], key: &str) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes());
    format!("sha256={}", hex::encode(hmac::sign(&key, body)))
}

const APP_SECRET: &str = "wa-app-secret-0123456789";
const VERIFY_TOKEN: &str = "wa-verify-token-42";
const WA_USER: &str = "15551230001";

/// The texts the bot sent to WhatsApp users, in order.
fn whatsapp_texts(crab: &Crabline) -> Vec<String> {
    crab.sent("messages")
        .into_iter()
        .filter(|body| body["type"] == "text")
        .filter_map(|body| body["text"]["body"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn whatsapp_deliveries_are_verified_at_the_edge_and_answered_by_the_real_model() {
    let crab = Crabline::start("whatsapp");
    let manifest = crab.manifest();
    let hs = instance(&local_model(&format!(
        "[channels.whatsapp]\nenabled = true\naccess_token = \"secret:WA_TOKEN\"\n\
         app_secret = \"secret:WA_APP_SECRET\"\nverify_token = \"secret:WA_VERIFY_TOKEN\"\n\
         phone_number_id = \"{}\"\napi_root = \"{}\"\n",
        manifest["phoneNumberId"].as_str().unwrap(),
        manifest["endpoints"]["apiRoot"].as_str().unwrap(),
    )));
    for (name, value) in [
        ("WA_TOKEN", manifest["accessToken"].as_str().unwrap()),
        ("WA_APP_SECRET", APP_SECRET),
        ("WA_VERIFY_TOKEN", VERIFY_TOKEN),
    ] {
        hs.run_with_stdin(&["secret", "put", name], value.as_bytes())
            .ok();
    }
    let running = Running::start(&hs);
    let client = crate::running::http();

    // Meta's subscription handshake: the challenge only for the verify token.
    let handshake = |token: &str| {
        client
            .get(running.url(&format!(
                "/hooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
            )))
            .send()
            .unwrap()
    };
    let good = handshake(VERIFY_TOKEN);
    assert_eq!(good.status(), 200);
    assert_eq!(good.text().unwrap(), "1158201444");
    assert_eq!(handshake("guess").status(), 401);

    let deliver = |text: &str, key: &str| {
        let jid = format!("{WA_USER}@s.whatsapp.net");
        let payload = crab.inject(serde_json::json!({"chatId": jid, "from": jid, "text": text}));
        let body = serde_json::to_vec(&payload["webhook"]).unwrap();
        client
            .post(running.url("/hooks/whatsapp"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", meta_signature(&body, key))
            .body(body)
            .send()
            .unwrap()
            .status()
    };
    // Forged: refused at the edge, never handled.
    assert_eq!(deliver("let me in", "not-the-app-secret"), 401);
    // Signed: a stranger gets a code, and the model is not called.
    assert_eq!(deliver("hello", APP_SECRET), 200);
    eventually(60, "a pairing code", || !whatsapp_texts(&crab).is_empty());
    let told = whatsapp_texts(&crab);
    assert_eq!(told.len(), 1, "{told:?}");
    let code = code_in(&told[0]);
    hs.run(&["pair", "approve", &code, "--role", "guest"]).ok();

    let subject = format!("whatsapp:{WA_USER}");
    assert_eq!(deliver("Say hello in one short sentence.", APP_SECRET), 200);
    eventually(240, "the model's answer", || {
        turns_of(&hs, &subject) == 1 && whatsapp_texts(&crab).len() >= 2
    });
    assert!(!whatsapp_texts(&crab)[1].trim().is_empty());

    eventually(30, "the forged delivery recorded", || {
        audit_records(&hs).iter().any(|r| {
            r["event"]["type"] == "webhook_rejected"
                && r["event"]["platform"] == "whatsapp"
                && r["event"]["reason"] == "bad_signature"
        })
    });
    let log = running.log.lock().unwrap().join("\n");
    assert!(!log.contains(APP_SECRET) && !log.contains(manifest["accessToken"].as_str().unwrap()));
    running.stop();
}

/// A WhatsApp image, as the test sends it and Meta's media endpoints serve it.
const IMAGE_ID: &str = "7001";
const IMAGE: &[u8] = b"\x89PNG\r\n\x1a\nnot really a picture, but bytes to find";

/// Before crabline, Meta's media endpoints, which crabline does not emulate,
/// answering as developers.facebook.com/docs/whatsapp/cloud-api/reference/media
/// documents: the lookup `GET /{version}/{media-id}` gives a download URL,
/// which needs the same bearer token. The rest goes to crabline.
fn media_front(crab: &Crabline) -> (Front, String) {
    let api_root = crab.manifest()["endpoints"]["apiRoot"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = format!(
        "Bearer {}",
        crab.manifest()["accessToken"].as_str().unwrap()
    );
    let handler: Handler = Arc::new(move |called| {
        let path = called.target.split('?').next().unwrap_or_default();
        if called.header("authorization") != Some(token.as_str()) {
            return None;
        }
        let json = |body: serde_json::Value| {
            let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
            Some((200, headers, body.to_string().into_bytes()))
        };
        if called.method == "GET" && path.ends_with(&format!("/{IMAGE_ID}")) {
            let host = called.header("host").unwrap_or_default();
            return json(serde_json::json!({
                "messaging_product": "whatsapp",
                "url": format!("http://{host}/whatsapp_business/attachments/?mid={IMAGE_ID}&ext=1&hash=AT"),
                "mime_type": "image/png",
                "sha256": image_digest(),
                "file_size": IMAGE.len(),
                "id": IMAGE_ID,
            }));
        }
        if called.method == "GET" && path == "/whatsapp_business/attachments/" {
            let headers = vec![("content-type".to_owned(), "image/png".to_owned())];
            return Some((200, headers, IMAGE.to_vec()));
        }
        None
    });
    let front = Front::start(&api_root, handler);
    let version = api_root.rsplit('/').next().unwrap();
    let root = format!("{}/{version}", front.base);
    (front, root)
}

fn image_digest() -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, IMAGE))
}

/// Files under every session's workspace inbox, by name.
fn inbox_files(hs: &Instance) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let workspaces = std::fs::read_dir(hs.path("data/workspaces"))
        .into_iter()
        .flatten();
    for workspace in workspaces.flatten() {
        let inbox = std::fs::read_dir(workspace.path().join("inbox"))
            .into_iter()
            .flatten();
        for file in inbox.flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            found.push((name, std::fs::read(file.path()).unwrap_or_default()));
        }
    }
    found
}

#[test]
fn a_paired_senders_whatsapp_image_lands_in_the_conversations_workspace() {
    let crab = Crabline::start("whatsapp");
    let manifest = crab.manifest();
    let (front, root) = media_front(&crab);
    let hs = instance(&local_model(&format!(
        "[channels.whatsapp]\nenabled = true\naccess_token = \"secret:WA_TOKEN\"\n\
         app_secret = \"secret:WA_APP_SECRET\"\nverify_token = \"secret:WA_VERIFY_TOKEN\"\n\
         phone_number_id = \"{}\"\napi_root = \"{root}\"\n",
        manifest["phoneNumberId"].as_str().unwrap(),
    )));
    for (name, value) in [
        ("WA_TOKEN", manifest["accessToken"].as_str().unwrap()),
        ("WA_APP_SECRET", APP_SECRET),
        ("WA_VERIFY_TOKEN", VERIFY_TOKEN),
    ] {
        hs.run_with_stdin(&["secret", "put", name], value.as_bytes())
            .ok();
    }
    let running = Running::start(&hs);
    let client = crate::running::http();
    let deliver = |from: &str, message_id: &str| {
        let body = serde_json::json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550000000",
                             "phone_number_id": manifest["phoneNumberId"]},
                "contacts": [{"profile": {"name": "Kerry"}, "wa_id": from}],
                "messages": [{"from": from, "id": message_id, "timestamp": "1700000000",
                              "type": "image",
                              "image": {"caption": "What is this file?", "mime_type": "image/png",
                                        "sha256": "aGFzaA==", "id": IMAGE_ID}}],
            }}]}],
        });
        let body = serde_json::to_vec(&body).unwrap();
        let status = client
            .post(running.url("/hooks/whatsapp"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", meta_signature(&body, APP_SECRET))
            .body(body)
            .send()
            .unwrap()
            .status();
        assert_eq!(status, 200);
    };
    let media_calls = || {
        front
            .called()
            .iter()
            .filter(|c| c.target.contains(IMAGE_ID))
            .count()
    };

    // A stranger's image: a code, and nothing fetched or saved.
    deliver("15551230009", "wamid.STRANGER0001");
    eventually(60, "the stranger's code", || {
        !whatsapp_texts(&crab).is_empty()
    });
    assert_eq!(media_calls(), 0);
    assert!(inbox_files(&hs).is_empty());

    // The paired guest's image: fetched, saved under the inbox, and a turn.
    hs.run(&[
        "pair",
        "add",
        &format!("whatsapp:{WA_USER}"),
        "--role",
        "guest",
    ])
    .ok();
    deliver(WA_USER, "wamid.GUEST0000001");
    let subject = format!("whatsapp:{WA_USER}");
    eventually(240, "the turn about the image", || {
        turns_of(&hs, &subject) == 1
    });
    let files = inbox_files(&hs);
    assert_eq!(files.len(), 1, "{files:?}");
    let (name, bytes) = &files[0];
    assert!(
        name.starts_with("image-") && name.ends_with(".png"),
        "{name}"
    );
    assert_eq!(bytes, IMAGE);
    // The lookup and the download, each once.
    assert_eq!(media_calls(), 2);
    eventually(30, "the deposit recorded", || {
        audit_records(&hs).iter().any(|r| {
            r["event"]["type"] == "file_deposited"
                && r["event"]["size"] == IMAGE.len()
                && r["event"]["sha256"] == image_digest()
        })
    });
    running.stop();
}

/// `v0=<hex>` of `v0:{ts}:{body}` under `secret`, as Slack signs a request.
fn slack_signature(secret: &str, ts: &str, body: &[u8]) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut signed = format!("v0:{ts}:").into_bytes();
    signed.extend_from_slice(body);
    format!("v0={}", hex::encode(hmac::sign(&key, &signed)))
}

#[test]
fn slack_events_are_verified_at_the_edge_and_a_stranger_gets_a_code() {
    let crab = Crabline::start("slack");
    let manifest = crab.manifest();
    let signing_secret = "slack-signing-secret-0123";
    let hs = instance(&local_model(&format!(
        "[channels.slack]\nenabled = true\nmode = \"events\"\nbot_token = \"secret:SLACK_BOT_TOKEN\"\n\
         signing_secret = \"secret:SLACK_SIGNING_SECRET\"\napi_root = \"{}\"\n",
        manifest["endpoints"]["apiRoot"].as_str().unwrap(),
    )));
    for (name, value) in [
        ("SLACK_BOT_TOKEN", manifest["botToken"].as_str().unwrap()),
        ("SLACK_SIGNING_SECRET", signing_secret),
    ] {
        hs.run_with_stdin(&["secret", "put", name], value.as_bytes())
            .ok();
    }
    let running = Running::start(&hs);
    let client = crate::running::http();
    let post = |body: &serde_json::Value, secret: &str, age_secs: i64| {
        let body = serde_json::to_vec(body).unwrap();
        let ts = (chrono::Utc::now().timestamp() - age_secs).to_string();
        client
            .post(running.url("/hooks/slack"))
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", &ts)
            .header("x-slack-signature", slack_signature(secret, &ts, &body))
            .body(body)
            .send()
            .unwrap()
    };
    // Interactions and slash commands come as forms, checked the same way.
    let post_form = |body: &str, secret: &str| {
        let ts = chrono::Utc::now().timestamp().to_string();
        client
            .post(running.url("/hooks/slack"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", &ts)
            .header(
                "x-slack-signature",
                slack_signature(secret, &ts, body.as_bytes()),
            )
            .body(body.to_owned())
            .send()
            .unwrap()
    };
    let challenge =
        serde_json::json!({"type": "url_verification", "token": "x", "challenge": "c3lzdGVt"});
    assert_eq!(post(&challenge, "forged", 0).status(), 401);
    assert_eq!(post(&challenge, signing_secret, 600).status(), 401);
    let press = "payload=%7B%22type%22%3A%22block_actions%22%7D";
    assert_eq!(post_form(press, "forged").status(), 401);
    let command = "team_id=T0123ABCD&user_id=U0123ABCD&channel_id=D0123ABCD&command=%2Fhardshell&text=hi&trigger_id=1.2";
    assert_eq!(post_form(command, "forged").status(), 401);
    let answered = post(&challenge, signing_secret, 0);
    assert_eq!(answered.status(), 200);
    assert_eq!(answered.text().unwrap(), "c3lzdGVt");

    let event = serde_json::json!({
        "type": "event_callback", "team_id": "T0123ABCD", "api_app_id": "A0123ABCD",
        "event_id": "Ev0123ABCD", "event_time": chrono::Utc::now().timestamp(),
        "event": {
            "type": "message", "channel": "D0123ABCD", "channel_type": "im",
            "user": "U0123ABCD", "team": "T0123ABCD", "text": "hello",
            "ts": "1800000000.000100"
        }
    });
    assert_eq!(post(&event, signing_secret, 0).status(), 200);
    // Slack's retry of the same event: taken, handled once.
    assert_eq!(post(&event, signing_secret, 0).status(), 200);
    eventually(60, "a pairing code", || {
        !crab.sent("chat.postMessage").is_empty()
    });
    std::thread::sleep(Duration::from_secs(1));
    let sent = crab.sent("chat.postMessage");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["channel"], "D0123ABCD");
    assert!(
        sent[0]["text"].as_str().unwrap().contains("pairing code"),
        "{sent:?}"
    );
    assert_eq!(turns_of(&hs, "slack:T0123ABCD:U0123ABCD"), 0);

    eventually(30, "the refusals recorded", || {
        let records = audit_records(&hs);
        let reasons: Vec<_> = records
            .iter()
            .filter(|r| r["event"]["type"] == "webhook_rejected")
            .map(|r| r["event"]["reason"].as_str().unwrap_or("").to_owned())
            .collect();
        reasons
            == [
                "bad_signature",
                "stale_timestamp",
                "bad_signature",
                "bad_signature",
                "replayed",
            ]
    });
    running.stop();
}
