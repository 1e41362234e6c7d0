//! The Telegram Bot API client against crabline (the platform's local
//! emulator) where it emulates the platform, and against a fake that answers
//! as the Bot API documents where it does not (rate limits, files, 401).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "telegram_api/answers.rs"]
mod answers;
#[path = "telegram_api/fake.rs"]
mod fake;
#[path = "telegram_api/files.rs"]
mod files;

use bytes::Bytes;
use hardshell_channels::telegram::api::{ConflictCause, TelegramApi, TelegramError};
use hardshell_channels::telegram::types::{Button, ChatAction, ChatType, OutgoingMessage};
use hardshell_secrets::SecretValue;
use hardshell_testkit::crabline::Crabline;
use serde_json::json;
use zeroize::Zeroizing;

pub fn secret(text: &str) -> SecretValue {
    SecretValue::new(Zeroizing::new(text.as_bytes().to_vec())).unwrap()
}

fn client(crabline: &Crabline) -> TelegramApi {
    let root = url::Url::parse(crabline.base_url()).unwrap();
    TelegramApi::new(root, secret(crabline.bot_token())).unwrap()
}

fn private_message(text: &str) -> serde_json::Value {
    json!({"chatId": "555", "fromId": 555, "text": text, "chatType": "private"})
}

pub fn text(chat_id: i64, text: &str, reply_to: Option<i64>) -> OutgoingMessage {
    OutgoingMessage {
        chat_id,
        text: text.into(),
        reply_to,
        buttons: None,
    }
}

#[tokio::test]
async fn get_me_returns_the_bot() {
    let crabline = Crabline::start("telegram");
    let me = client(&crabline).get_me().await.unwrap();
    let expected = crabline.bot_token().split(':').next().unwrap();
    assert_eq!(me.id.to_string(), expected);
    assert!(me.is_bot);
    assert!(me.username.is_some());
}

#[tokio::test]
async fn acknowledged_update_is_not_returned_again() {
    let crabline = Crabline::start("telegram");
    let api = client(&crabline);
    api.delete_webhook(false).await.unwrap();
    crabline.inject(private_message("one"));
    crabline.inject(private_message("two"));

    let first = api.get_updates(None, 0).await.unwrap();
    let texts: Vec<_> = first
        .iter()
        .map(|u| u.message.as_ref().unwrap().text.clone().unwrap())
        .collect();
    assert_eq!(texts, ["one", "two"]);
    let message = first[0].message.as_ref().unwrap();
    assert_eq!(message.chat.kind, ChatType::Private);
    assert_eq!(message.from.as_ref().unwrap().id, 555);

    // Without acknowledging, the same updates come again.
    assert_eq!(api.get_updates(None, 0).await.unwrap(), first);

    let next = first.last().unwrap().update_id + 1;
    assert!(api.get_updates(Some(next), 0).await.unwrap().is_empty());
    crabline.inject(private_message("three"));
    let later = api.get_updates(Some(next), 0).await.unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(
        later[0].message.as_ref().unwrap().text.as_deref(),
        Some("three")
    );
}

#[tokio::test]
async fn reply_is_threaded_under_the_message_without_link_previews() {
    let crabline = Crabline::start("telegram");
    let api = client(&crabline);
    let update = crabline.inject(private_message("question"));
    let asked = update["update"]["message"]["message_id"].as_i64().unwrap();

    let sent = api
        .send_message(&text(555, "answer", Some(asked)))
        .await
        .unwrap();
    assert_eq!(sent.chat.id, 555);
    assert_eq!(sent.text.as_deref(), Some("answer"));
    let recorded = crabline.sent("sendMessage");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["reply_parameters"]["message_id"], asked);
    assert_eq!(recorded[0]["link_preview_options"]["is_disabled"], true);

    // Without reply_to, nothing is threaded.
    api.send_message(&text(555, "aside", None)).await.unwrap();
    assert!(
        crabline.sent("sendMessage")[1]
            .get("reply_parameters")
            .is_none()
    );
}

#[tokio::test]
async fn buttons_are_sent_as_an_inline_keyboard_and_bad_callback_data_is_refused() {
    let crabline = Crabline::start("telegram");
    let api = client(&crabline);
    let button = |data: &str| Button {
        text: "Approve".into(),
        callback_data: data.into(),
    };
    let mut message = text(555, "approve?", None);
    message.buttons = Some(vec![vec![button("approve:1")]]);
    api.send_message(&message).await.unwrap();
    let recorded = crabline.sent("sendMessage");
    assert_eq!(
        recorded[0]["reply_markup"],
        json!({"inline_keyboard": [[{"text": "Approve", "callback_data": "approve:1"}]]})
    );

    message.buttons = Some(vec![vec![button(&"x".repeat(65))]]);
    let refused = api.send_message(&message).await.unwrap_err();
    assert!(matches!(refused, TelegramError::Argument(_)), "{refused:?}");
    assert_eq!(
        crabline.sent("sendMessage").len(),
        1,
        "nothing more was sent"
    );
}

#[tokio::test]
async fn button_press_is_answered_and_an_absent_notice_is_not_sent() {
    let crabline = Crabline::start("telegram");
    let api = client(&crabline);
    api.answer_callback_query("cb-1", Some("Approved"))
        .await
        .unwrap();
    api.answer_callback_query("cb-2", None).await.unwrap();
    let answered: Vec<_> = crabline
        .recorded()
        .into_iter()
        .filter(|e| {
            e["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/answerCallbackQuery"))
        })
        .map(|e| e["body"].clone())
        .collect();
    assert_eq!(
        answered,
        [
            json!({"callback_query_id": "cb-1", "text": "Approved"}),
            json!({"callback_query_id": "cb-2"}),
        ]
    );
}

#[tokio::test]
async fn edit_replaces_the_text_of_a_sent_message() {
    let crabline = Crabline::start("telegram");
    let api = client(&crabline);
    let sent = api
        .send_message(&text(555, "thinking", None))
        .await
        .unwrap();
    let edited = api
        .edit_message_text(555, sent.message_id, "done")
        .await
        .unwrap();
    assert_eq!(edited.message_id, sent.message_id);
    assert_eq!(edited.text.as_deref(), Some("done"));
    let recorded = crabline.sent("editMessageText");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["message_id"], sent.message_id);
    assert_eq!(recorded[0]["text"], "done");
}

#[tokio::test]
async fn typing_is_shown() {
    let crabline = Crabline::start("telegram");
    let api = client(&crabline);
    api.send_chat_action(555, ChatAction::Typing).await.unwrap();
    let recorded: Vec<_> = crabline
        .recorded()
        .into_iter()
        .filter(|e| {
            e["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/sendChatAction"))
        })
        .collect();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0]["body"],
        json!({"chat_id": 555, "action": "typing"})
    );
}

#[tokio::test]
async fn text_over_4096_characters_is_a_bad_request_and_4096_is_sent() {
    let crabline = Crabline::start("telegram");
    let api = client(&crabline);
    // Telegram counts characters (UTF-16 units), not bytes.
    api.send_message(&text(555, &"é".repeat(4096), None))
        .await
        .unwrap();
    let refused = api
        .send_message(&text(555, &"é".repeat(4097), None))
        .await
        .unwrap_err();
    let TelegramError::BadRequest { description } = refused else {
        panic!("{refused:?}");
    };
    assert!(description.contains("too long"), "{description}");
    assert_eq!(crabline.sent("sendMessage").len(), 1);
}

#[tokio::test]
async fn polling_while_a_webhook_is_set_is_a_conflict_naming_the_webhook() {
    let crabline = Crabline::start("telegram");
    let api = client(&crabline);
    let hook = url::Url::parse("http://127.0.0.1:9/telegram/webhook").unwrap();
    api.set_webhook(&hook, &secret("hook-secret_1"))
        .await
        .unwrap();
    let recorded = crabline.sent("setWebhook");
    assert_eq!(recorded[0]["url"], hook.as_str());

    let conflict = api.get_updates(None, 0).await.unwrap_err();
    let TelegramError::Conflict { cause, .. } = &conflict else {
        panic!("{conflict:?}");
    };
    assert_eq!(*cause, ConflictCause::WebhookActive);
    assert!(conflict.to_string().contains("deleteWebhook"), "{conflict}");
    assert!(!conflict.is_retryable());

    api.delete_webhook(false).await.unwrap();
    assert!(api.get_updates(None, 0).await.unwrap().is_empty());
}

#[tokio::test]
async fn webhook_secret_outside_the_bot_api_grammar_is_refused_before_sending() {
    let crabline = Crabline::start("telegram");
    let api = client(&crabline);
    let hook = url::Url::parse("http://127.0.0.1:9/telegram/webhook").unwrap();
    let refused = api
        .set_webhook(&hook, &secret("has space"))
        .await
        .unwrap_err();
    assert!(matches!(refused, TelegramError::Argument(_)), "{refused:?}");
    assert!(!format!("{refused} {refused:?}").contains("has space"));
    assert!(crabline.recorded().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn group_message_mentions_the_bot_only_through_its_entity() {
    let crabline = Crabline::start("telegram");
    let api = client(&crabline);
    let me = api.get_me().await.unwrap();
    let mention = format!("@{}", me.username.clone().unwrap());
    let group = |text: String, entities: serde_json::Value| json!({"chatId": "-1001", "fromId": 555, "text": text, "chatType": "supergroup", "entities": entities});
    let length = mention.encode_utf16().count();
    crabline.inject(group(
        format!("😀 {mention} hi"),
        json!([{"type": "mention", "offset": 3, "length": length}]),
    ));
    crabline.inject(group(format!("about {mention}"), json!([])));
    let updates = api.get_updates(None, 0).await.unwrap();
    let messages: Vec<_> = updates
        .iter()
        .map(|u| u.message.as_ref().unwrap())
        .collect();
    assert_eq!(messages[0].chat.kind, ChatType::Supergroup);
    assert!(messages[0].mentions(&me));
    assert!(!messages[1].mentions(&me));
}

#[tokio::test]
async fn document_is_uploaded_with_its_name_and_threaded() {
    let crabline = Crabline::start("telegram");
    let api = client(&crabline);
    let sent = api
        .send_document(555, "report.txt", Bytes::from_static(b"contents"), Some(1))
        .await
        .unwrap();
    let document = sent.document.unwrap();
    assert_eq!(document.file_name.as_deref(), Some("report.txt"));
    assert_eq!(crabline.sent("sendDocument").len(), 1);

    let refused = api
        .send_document(555, "a\"\r\nb", Bytes::from_static(b"x"), None)
        .await
        .unwrap_err();
    assert!(matches!(refused, TelegramError::Argument(_)), "{refused:?}");
    assert_eq!(crabline.sent("sendDocument").len(), 1);
}

#[tokio::test]
async fn unknown_token_is_unauthorized() {
    let crabline = Crabline::start("telegram");
    let root = url::Url::parse(crabline.base_url()).unwrap();
    let api = TelegramApi::new(root, secret("999:not-the-bots-token")).unwrap();
    let refused = api.get_me().await.unwrap_err();
    assert_eq!(refused, TelegramError::Unauthorized);
}

#[tokio::test]
async fn poll_returns_when_an_update_arrives() {
    let crabline = Crabline::start("telegram");
    let api = client(&crabline);
    let poll = tokio::spawn(async move { api.get_updates(None, 30).await });
    // The poll is waiting or not yet sent; either way it returns the update.
    tokio::task::yield_now().await;
    crabline.inject(private_message("wake"));
    let updates = poll.await.unwrap().unwrap();
    assert_eq!(
        updates[0].message.as_ref().unwrap().text.as_deref(),
        Some("wake")
    );
}
