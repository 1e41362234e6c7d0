//! The Graph API client: what crabline recorded, and how refusals map.

use std::time::Duration;

use hardshell_channels::whatsapp::api::{WhatsappApi, WhatsappError};
use hardshell_testkit::crabline::Crabline;

use super::*;

#[tokio::test]
async fn a_text_is_sent_without_link_previews() {
    let crabline = Crabline::start("whatsapp");
    let api = client_with(&crabline, access_token(&crabline));
    let id = api.send_text(USER, "hello there", None).await.unwrap();
    assert!(id.starts_with("wamid."), "{id}");
    let sent = texts_sent(&crabline);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["messaging_product"], "whatsapp");
    assert_eq!(sent[0]["to"], USER);
    assert_eq!(sent[0]["text"]["body"], "hello there");
    assert_eq!(sent[0]["text"]["preview_url"], false);
    assert!(sent[0].get("context").is_none());
}

#[tokio::test]
async fn a_reply_names_the_message_it_answers() {
    let crabline = Crabline::start("whatsapp");
    let delivery = user_writes(&crabline, "question");
    let asked = delivery["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = client_with(&crabline, access_token(&crabline));
    api.send_text(USER, "answer", Some(&asked)).await.unwrap();
    let sent = texts_sent(&crabline);
    assert_eq!(sent[0]["context"]["message_id"], asked.as_str());
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_not_repeated() {
    let crabline = Crabline::start("whatsapp");
    let wrong = "EAAwrongTokenWrongToken";
    let api = client_with(&crabline, wrong);
    let error = api.send_text(USER, "hi", None).await.unwrap_err();
    assert_eq!(error, WhatsappError::TokenRefused);
    assert!(!error.to_string().contains(wrong));
    assert!(texts_sent(&crabline).is_empty());
}

#[tokio::test]
async fn a_text_over_4096_characters_is_a_bad_request_with_the_cleaned_reason() {
    let crabline = Crabline::start("whatsapp");
    let api = client_with(&crabline, access_token(&crabline));
    let error = api
        .send_text(USER, &"é".repeat(4097), None)
        .await
        .unwrap_err();
    let WhatsappError::BadRequest { code, message } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(*code, Some(100));
    assert!(message.contains("text.body"), "{message}");
    // Exactly the limit is taken.
    api.send_text(USER, &"é".repeat(4096), None).await.unwrap();
}

#[tokio::test]
async fn typing_marks_a_received_message_read_and_an_unknown_one_is_refused() {
    let crabline = Crabline::start("whatsapp");
    let delivery = user_writes(&crabline, "are you there");
    let id = delivery["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = client_with(&crabline, access_token(&crabline));
    api.mark_read_typing(&id).await.unwrap();
    let read: Vec<_> = crabline
        .sent("messages")
        .into_iter()
        .filter(|body| body["status"] == "read")
        .collect();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0]["message_id"], id.as_str());
    assert_eq!(read[0]["typing_indicator"]["type"], "text");

    let unknown = api.mark_read_typing("wamid.NOSUCH").await.unwrap_err();
    assert!(
        matches!(unknown, WhatsappError::BadRequest { .. }),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn arguments_outside_the_api_are_refused_before_sending() {
    let crabline = Crabline::start("whatsapp");
    let api = client_with(&crabline, access_token(&crabline));
    for to in ["+15551234567", "1555", "15551234567@s.whatsapp.net"] {
        let error = api.send_text(to, "hi", None).await.unwrap_err();
        assert!(
            matches!(error, WhatsappError::Argument(_)),
            "{to}: {error:?}"
        );
    }
    let error = api
        .send_text(USER, "hi", Some("wamid.\nX"))
        .await
        .unwrap_err();
    assert!(matches!(error, WhatsappError::Argument(_)), "{error:?}");
    assert!(crabline.sent("messages").is_empty());
}

#[test]
fn a_token_that_is_no_bearer_token_is_refused() {
    let root = hardshell_config::ApiRoot::parse("http://127.0.0.1:9/v25.0").unwrap();
    let number = hardshell_config::PhoneNumberId::parse("100").unwrap();
    for bad in ["EAA token", "EAA\r\nX-Injected: 1", "=="] {
        let error = WhatsappApi::new(&root, &number, secret(bad)).unwrap_err();
        assert_eq!(error, WhatsappError::Token);
    }
}

/// Meta's answer to a pair rate limit (developers.facebook.com/docs/whatsapp/
/// cloud-api/support/error-codes, 131056), byte for byte in its envelope.
const PAIR_RATE_LIMIT: &str = r#"{"error":{"message":"(#131056) (Business Account, Consumer Account) pair rate limit hit","type":"OAuthException","code":131056,"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time."},"error_subcode":2494055,"fbtrace_id":"AbCdEfGh"}}"#;

#[tokio::test]
async fn a_rate_limit_asks_to_wait() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut stream, _) = listener.accept().await.unwrap();
        // The whole request is read before answering, so the client sees
        // the answer rather than a reset connection.
        let mut request = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let n = stream.read(&mut buffer).await.unwrap();
            request.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if request.len() >= end + 4 + length {
                    break;
                }
            }
            assert!(n > 0, "the request ended early");
        }
        let answer = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{PAIR_RATE_LIMIT}",
            PAIR_RATE_LIMIT.len()
        );
        stream.write_all(answer.as_bytes()).await.unwrap();
    });
    let root = hardshell_config::ApiRoot::parse(&format!("http://{addr}/v25.0")).unwrap();
    let number = hardshell_config::PhoneNumberId::parse("100").unwrap();
    let api = WhatsappApi::new(&root, &number, secret("EAAtoken")).unwrap();
    let error = api.send_text(USER, "hi", None).await.unwrap_err();
    assert_eq!(
        error,
        WhatsappError::RateLimited {
            code: Some(131056),
            retry_after: Duration::from_secs(6)
        }
    );
}
