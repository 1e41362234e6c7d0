//! Files through the whole channel: a signed delivery of an image or a
//! document (Meta's webhook payload; crabline cannot inject either), the
//! dispatch fetching it from the fake Graph API and depositing it with the
//! agent only for a paired sender, texts answered through crabline.

use std::time::{Duration, Instant};

use hardshell_channels::webhook::{WebhookEndpoint, WebhookOutcome, WebhookRequest};
use http::{HeaderMap, HeaderValue, Method};

use super::graph::{FakeGraph, Media};
use super::*;

const IMAGE_ID: &str = "1037543291543636";
const DOCUMENT_ID: &str = "2210003004005006";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0 a photo";
const PDF: &[u8] = b"%PDF-1.7 the report";

/// crabline for texts, the fake for media in front of it, holding an image
/// and a document, and the channel calling the fake.
async fn start(paired: bool) -> (Channel, FakeGraph) {
    let crabline = Crabline::start("whatsapp");
    let root = api_root(&crabline);
    let version = root.as_str().rsplit('/').next().unwrap().to_owned();
    let base = root
        .as_str()
        .trim_end_matches(&format!("/{version}"))
        .to_owned();
    let fake = FakeGraph::start(
        access_token(&crabline),
        &version,
        phone_number_id(&crabline).as_str(),
        Some(base),
    )
    .await;
    fake.add(IMAGE_ID, Media::new(JPEG, "image/jpeg"));
    fake.add(DOCUMENT_ID, Media::new(PDF, "application/pdf"));
    let fake_root = fake.api_root();
    (Channel::on(crabline, paired, Some(fake_root)).await, fake)
}

/// A delivery of `message` from `USER`, as Meta's webhook sends it.
fn delivery(crabline: &Crabline, message: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {
                        "display_phone_number": "15550000000",
                        "phone_number_id": phone_number_id(crabline).as_str(),
                    },
                    "contacts": [{"profile": {"name": "Kerry"}, "wa_id": USER}],
                    "messages": [message],
                },
            }],
        }],
    })
}

fn image_message() -> Value {
    json!({
        "from": USER,
        "id": "wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBRJTUFHRQA=",
        "timestamp": "1700000000",
        "type": "image",
        "image": {
            "caption": "what is in this photo?",
            "mime_type": "image/jpeg",
            "sha256": "c2hhMjU2IG9mIHRoZSBwaG90byBhcyBNZXRhIGdpdmVzIGl0",
            "id": IMAGE_ID,
        },
    })
}

fn document_message() -> Value {
    json!({
        "from": USER,
        "id": "wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBRET0NVTUVOVAA=",
        "timestamp": "1700000001",
        "type": "document",
        "document": {
            "filename": "report.pdf",
            "mime_type": "application/pdf",
            "sha256": "c2hhMjU2IG9mIHRoZSByZXBvcnQgYXMgTWV0YSBnaXZlcyBpdA==",
            "id": DOCUMENT_ID,
        },
    })
}

fn deliver(channel: &Channel, payload: &Value) -> WebhookOutcome {
    let body = serde_json::to_vec(payload).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert(
        "x-hub-signature-256",
        HeaderValue::from_str(&sign(&body, APP_SECRET)).unwrap(),
    );
    channel.webhook.receive(WebhookRequest {
        method: &Method::POST,
        headers: &headers,
        query: None,
        body: &body,
        now: Utc::now(),
    })
}

async fn wait_turns(channel: &Channel, count: u32) {
    // A bound on waiting for the worker, not an assertion about its speed.
    let until = Instant::now() + Duration::from_secs(30);
    while channel.turns() < count {
        assert!(
            Instant::now() < until,
            "{} of {count} turns",
            channel.turns()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_paired_senders_image_and_document_are_fetched_and_deposited() {
    let (channel, fake) = start(true).await;
    let accepted = WebhookOutcome::Accepted { body: Vec::new() };
    assert_eq!(
        deliver(&channel, &delivery(&channel.crabline, image_message())),
        accepted
    );
    assert_eq!(
        deliver(&channel, &delivery(&channel.crabline, document_message())),
        accepted
    );
    wait_turns(&channel, 2).await;
    let deposited = channel.agent.deposited.lock().unwrap().clone();
    let files: Vec<_> = deposited
        .iter()
        .map(|(_, name, bytes)| (name.as_str(), bytes.as_slice()))
        .collect();
    assert_eq!(
        files,
        [
            ("image-wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBRJTUFHRQA_.jpg", JPEG),
            ("report.pdf", PDF),
        ]
    );
    // Both in the sender's one conversation.
    assert_eq!(deposited[0].0, deposited[1].0);
    // The agent is told where each file is, as untrusted data, after the
    // caption (the document had none).
    let texts = channel.agent.texts.lock().unwrap().clone();
    assert!(texts[0].starts_with("what is in this photo?\n[The sender attached a file; it is saved at /workspace/inbox/image-"), "{}", texts[0]);
    assert!(
        texts[1].starts_with(
            "[The sender attached a file; it is saved at /workspace/inbox/report.pdf (19 bytes)."
        ),
        "{}",
        texts[1]
    );
    // Each file: a lookup, then its download.
    let paths = fake.paths();
    assert_eq!(
        paths,
        [
            format!("/{}/{IMAGE_ID}", version(&channel)),
            "/whatsapp_business/attachments/".to_owned(),
            format!("/{}/{DOCUMENT_ID}", version(&channel)),
            "/whatsapp_business/attachments/".to_owned(),
        ]
    );
    // The answers went out through crabline, as replies.
    let answers = wait_texts(&channel.crabline, 2).await;
    assert!(
        answers[0]["text"]["body"]
            .as_str()
            .unwrap()
            .starts_with("echo: what is in this photo?")
    );
    assert_eq!(
        answers[1]["context"]["message_id"],
        document_message()["id"]
    );
}

#[tokio::test]
async fn a_strangers_file_is_never_fetched() {
    let (channel, fake) = start(false).await;
    // Two strangers: a sender with a code pending is not sent another.
    let mut document = document_message();
    document["from"] = json!("15557654321");
    deliver(&channel, &delivery(&channel.crabline, image_message()));
    deliver(&channel, &delivery(&channel.crabline, document));
    // Each is answered with a pairing code, through crabline, and nothing
    // else (a fetch would come before the answer). Two deliveries are
    // handled side by side, so their answers go out in either order.
    let answers = wait_texts(&channel.crabline, 2).await;
    let mut to: Vec<&str> = answers.iter().map(|a| a["to"].as_str().unwrap()).collect();
    to.sort_unstable();
    let mut strangers = [USER, "15557654321"];
    strangers.sort_unstable();
    assert_eq!(to, strangers);
    assert!(
        answers
            .iter()
            .all(|a| a["text"]["body"].as_str().unwrap().contains("pairing code")),
        "{answers:?}"
    );
    assert_eq!(channel.turns(), 0);
    assert!(channel.agent.deposited.lock().unwrap().is_empty());
    assert!(fake.recorded().is_empty(), "{:?}", fake.recorded());
}

#[tokio::test]
async fn a_file_meta_cannot_give_is_named_to_sender_and_agent_alike() {
    let (channel, fake) = start(true).await;
    let mut message = image_message();
    message["image"]["id"] = json!("999");
    deliver(&channel, &delivery(&channel.crabline, message));
    wait_turns(&channel, 1).await;
    assert!(channel.agent.deposited.lock().unwrap().is_empty());
    let texts = channel.agent.texts.lock().unwrap().clone();
    assert!(texts[0].ends_with("[The sender attached a file that was not saved: it could not be fetched from the platform.]"), "{}", texts[0]);
    let answers = wait_texts(&channel.crabline, 2).await;
    assert_eq!(
        answers[0]["text"]["body"],
        "A file you sent was not saved: it could not be fetched from the platform."
    );
    assert_eq!(fake.paths(), [format!("/{}/999", version(&channel))]);
}

fn version(channel: &Channel) -> String {
    api_root(&channel.crabline)
        .as_str()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}
