//! Reading Cloud API notifications: only a verified body, only the
//! configured number's, only people's texts, images and documents.
#![allow(clippy::unwrap_used)]

use aws_lc_rs::hmac;
use hardshell_secrets::SecretValue;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::notification::{MAX_TEXT_CHARS, NotificationError, read};
use crate::dispatch::{Inbound, InboundFile, Place};
use crate::verify;

const NUMBER: &str = "100000000000000";

fn secret() -> SecretValue {
    secret_text("app-secret")
}

fn secret_text(text: &str) -> SecretValue {
    SecretValue::new(Zeroizing::new(text.as_bytes().to_vec())).unwrap()
}

/// Signs and verifies `body` as the endpoint does, then reads it.
fn read_signed(body: &Value) -> Result<Vec<Inbound>, NotificationError> {
    let bytes = serde_json::to_vec(body).unwrap();
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret().expose());
    let signature = format!("sha256={}", hex::encode(hmac::sign(&key, &bytes)));
    let verified = verify::whatsapp::verify(Some(signature.as_bytes()), &bytes, &secret()).unwrap();
    read(verified, NUMBER)
}

/// A delivery in the shape Meta (and crabline's admin inbound) sends.
fn delivery(number: &str, messages: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "TEST_WABA",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550000000", "phone_number_id": number},
                    "contacts": [{"profile": {"name": "Owner (trust me)"}, "wa_id": "15551234567"}],
                    "messages": messages,
                },
            }],
        }],
    })
}

fn text(from: &str, id: &str, body: &str) -> Value {
    json!({"from": from, "id": id, "timestamp": "1700000000", "type": "text", "text": {"body": body}})
}

#[test]
fn a_text_message_is_a_direct_message_from_its_wa_id() {
    let read = read_signed(&delivery(
        NUMBER,
        json!([text("15551234567", "wamid.A", "hi")]),
    ))
    .unwrap();
    assert_eq!(read.len(), 1);
    let inbound = &read[0];
    assert_eq!(inbound.sender.to_string(), "whatsapp:15551234567");
    assert_eq!(inbound.chat, "15551234567");
    assert_eq!(inbound.place, Place::Direct);
    assert_eq!(inbound.text, "hi");
    assert_eq!(inbound.message.as_deref(), Some("wamid.A"));
}

#[test]
fn another_numbers_change_refuses_the_whole_delivery() {
    let mut body = delivery(NUMBER, json!([text("15551234567", "wamid.A", "hi")]));
    let other = delivery("999", json!([text("15551234567", "wamid.B", "hi")]));
    body["entry"][0]["changes"]
        .as_array_mut()
        .unwrap()
        .push(other["entry"][0]["changes"][0].clone());
    assert_eq!(
        read_signed(&body).unwrap_err(),
        NotificationError::OtherNumber
    );
}

#[test]
fn what_is_not_a_notification_is_refused() {
    let mut body = delivery(NUMBER, json!([]));
    body["object"] = json!("page");
    assert_eq!(
        read_signed(&body).unwrap_err(),
        NotificationError::WrongObject
    );
    let no_metadata = json!({"object": "whatsapp_business_account",
        "entry": [{"changes": [{"field": "messages", "value": {"messages": []}}]}]});
    assert_eq!(
        read_signed(&no_metadata).unwrap_err(),
        NotificationError::NotJson
    );
    assert_eq!(
        read_signed(&json!([1, 2])).unwrap_err(),
        NotificationError::NotJson
    );
}

#[test]
fn statuses_other_kinds_and_other_fields_are_passed_over() {
    let mut body = delivery(
        NUMBER,
        json!([
            {"from": "15551234567", "id": "wamid.S", "type": "sticker", "sticker": {"id": "1", "mime_type": "image/webp"}},
            {"from": "15551234567", "id": "wamid.A", "type": "audio", "audio": {"id": "2", "mime_type": "audio/ogg"}},
            {"from": "15551234567", "id": "wamid.V", "type": "video", "video": {"id": "3"}},
            {"from": "15551234567", "id": "wamid.T", "type": "text"},
            // The kind says image; the image is missing.
            {"from": "15551234567", "id": "wamid.I", "type": "image", "document": {"id": "4"}},
        ]),
    );
    body["entry"][0]["changes"][0]["value"]["statuses"] =
        json!([{"id": "wamid.S", "status": "delivered", "recipient_id": "15551234567"}]);
    body["entry"][0]["changes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}));
    assert!(read_signed(&body).unwrap().is_empty());
}

#[test]
fn unusable_senders_ids_and_overlong_texts_are_skipped() {
    let long = "x".repeat(MAX_TEXT_CHARS + 1);
    let body = delivery(
        NUMBER,
        json!([
            text("+15551234567", "wamid.A", "hi"),
            text("1555", "wamid.B", "hi"),
            text("15551234567", "wamid. spaced", "hi"),
            text("15551234567", &"w".repeat(129), "hi"),
            text("15551234567", "wamid.L", &long),
            text("15551234567", "wamid.OK", "kept"),
        ]),
    );
    let read = read_signed(&body).unwrap();
    let ids: Vec<_> = read.iter().map(|m| m.message.clone().unwrap()).collect();
    assert_eq!(ids, ["wamid.OK"]);
}

/// An image message as Meta's webhook reference shows it.
fn image(id: &str, image: Value) -> Value {
    json!({"from": "15551234567", "id": id, "timestamp": "1700000000", "type": "image", "image": image})
}

fn document(id: &str, document: Value) -> Value {
    json!({"from": "15551234567", "id": id, "timestamp": "1700000000", "type": "document", "document": document})
}

#[test]
fn an_image_is_a_file_by_its_media_id_and_its_caption_the_text() {
    let read = read_signed(&delivery(
        NUMBER,
        json!([
            image(
                "wamid.HBgL+a/b=",
                json!({"caption": "look", "mime_type": "image/jpeg",
                "sha256": "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=", "id": "1037543291543636"})
            ),
            // No caption, a type outside the list: named .bin.
            image(
                "wamid.B",
                json!({"mime_type": "image/svg+xml", "sha256": "x", "id": "22"})
            ),
        ]),
    ))
    .unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].text, "look");
    assert_eq!(read[0].message.as_deref(), Some("wamid.HBgL+a/b="));
    assert_eq!(
        read[0].files,
        [InboundFile {
            reference: "1037543291543636".into(),
            name: Some("image-wamid.HBgL_a_b_.jpg".into()),
            size: None,
        }]
    );
    assert_eq!(read[1].text, "");
    assert_eq!(read[1].files[0].name.as_deref(), Some("image-wamid.B.bin"));
}

#[test]
fn a_document_keeps_its_senders_name_for_the_edge_to_make_safe() {
    let read = read_signed(&delivery(
        NUMBER,
        json!([
            document(
                "wamid.D",
                json!({"caption": "the report", "filename": "../../etc/passwd",
                "mime_type": "application/pdf", "sha256": "x", "id": "3001"})
            ),
            document(
                "wamid.E",
                json!({"mime_type": "application/pdf", "sha256": "x", "id": "3002"})
            ),
            document(
                "wamid.F",
                json!({"filename": " ", "mime_type": "application/x-sh", "id": "3003"})
            ),
        ]),
    ))
    .unwrap();
    let files: Vec<_> = read.iter().map(|m| m.files[0].clone()).collect();
    assert_eq!(read[0].text, "the report");
    assert_eq!(files[0].reference, "3001");
    assert_eq!(files[0].name.as_deref(), Some("../../etc/passwd"));
    assert_eq!(files[1].name.as_deref(), Some("document-wamid.E.pdf"));
    assert_eq!(files[2].name.as_deref(), Some("document-wamid.F.bin"));
}

#[test]
fn a_media_id_that_is_not_digits_never_reaches_a_url() {
    let long = "1".repeat(33);
    let body = delivery(
        NUMBER,
        json!([
            image("wamid.A", json!({"id": "../../100000000000000/messages"})),
            image("wamid.B", json!({"id": "1?phone_number_id=2"})),
            document(
                "wamid.C",
                json!({"id": "https://evil.example/x", "filename": "a.pdf"})
            ),
            image("wamid.D", json!({"id": long})),
            image("wamid.E", json!({"id": ""})),
            image("wamid.OK", json!({"id": "12345"})),
        ]),
    );
    let read = read_signed(&body).unwrap();
    let ids: Vec<_> = read.iter().map(|m| m.message.clone().unwrap()).collect();
    assert_eq!(ids, ["wamid.OK"]);
}

#[test]
fn an_overlong_caption_is_skipped_as_an_overlong_text_is() {
    let long = "x".repeat(MAX_TEXT_CHARS + 1);
    let body = delivery(
        NUMBER,
        json!([image("wamid.L", json!({"id": "1", "caption": long}))]),
    );
    assert!(read_signed(&body).unwrap().is_empty());
}

#[test]
fn the_contacts_profile_name_is_not_read() {
    let read = read_signed(&delivery(
        NUMBER,
        json!([text("15551234567", "wamid.A", "hi")]),
    ))
    .unwrap();
    assert!(!format!("{read:?}").contains("trust me"));
}

mod outbox {
    //! The outbox against crabline: sends reply, typing is a read receipt
    //! on the message being answered, and nothing is ever edited.

    use std::sync::Arc;

    use hardshell_config::{ApiRoot, PhoneNumberId};
    use hardshell_testkit::crabline::Crabline;
    use serde_json::json;

    use super::super::api::WhatsappApi;
    use super::super::outbox::WhatsappOutbox;
    use super::secret_text;
    use crate::chunk::WHATSAPP;
    use crate::outbox::Outbox;

    const USER: &str = "15551234567";

    fn api(crabline: &Crabline) -> Arc<WhatsappApi> {
        let manifest = crabline.manifest();
        let root = ApiRoot::parse(manifest["endpoints"]["apiRoot"].as_str().unwrap()).unwrap();
        let number = PhoneNumberId::parse(manifest["phoneNumberId"].as_str().unwrap()).unwrap();
        let token = secret_text(manifest["accessToken"].as_str().unwrap());
        Arc::new(WhatsappApi::new(&root, &number, token).unwrap())
    }

    #[tokio::test]
    async fn typing_marks_the_answered_message_read_and_sends_reply() {
        let crabline = Crabline::start("whatsapp");
        let jid = format!("{USER}@s.whatsapp.net");
        let delivery = crabline.inject(json!({"chatId": jid, "from": jid, "text": "hi"}));
        let id = delivery["webhook"]["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let outbox = WhatsappOutbox {
            api: api(&crabline),
            answering: Some(id.clone()),
        };
        assert_eq!(outbox.limit(), WHATSAPP);
        assert!(!outbox.edits());
        outbox.typing(USER).await.unwrap();
        let sent = outbox.send(USER, "hello", Some(&id)).await.unwrap();
        assert!(sent.is_some_and(|id| id.starts_with("wamid.")));
        assert!(outbox.edit(USER, &id, "changed").await.is_err());
        let calls = crabline.sent("messages");
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_eq!(calls[0]["status"], "read");
        assert_eq!(calls[0]["message_id"], id.as_str());
        assert_eq!(calls[1]["context"]["message_id"], id.as_str());
    }

    #[tokio::test]
    async fn without_a_message_to_answer_typing_sends_nothing() {
        let crabline = Crabline::start("whatsapp");
        let outbox = WhatsappOutbox {
            api: api(&crabline),
            answering: None,
        };
        outbox.typing(USER).await.unwrap();
        assert!(crabline.recorded().iter().all(|e| e["type"] != "api"));
    }
}
