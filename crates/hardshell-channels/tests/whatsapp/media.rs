//! Fetching a user's file: the lookup, the download with the token only
//! where Meta's media live, the bounds, the digest; and sending a document:
//! the upload and the message, byte for byte. Against the fake Graph API
//! (`graph.rs`): crabline serves no Cloud API media.

use bytes::Bytes;
use hardshell_channels::whatsapp::api::{WhatsappApi, WhatsappError};
use serde_json::json;

use super::graph::{self, Download, FakeGraph, Media};
use super::*;

const TOKEN: &str = "EAAmediaTestToken0123";
const NUMBER: &str = "100000000000000";
const IMAGE_ID: &str = "1037543291543636";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0 not really a jpeg";

async fn fake() -> FakeGraph {
    FakeGraph::start(TOKEN, "v25.0", NUMBER, None).await
}

fn client(fake: &FakeGraph, token: &str) -> WhatsappApi {
    let number = PhoneNumberId::parse(NUMBER).unwrap();
    WhatsappApi::new(&fake.api_root(), &number, secret(token)).unwrap()
}

#[tokio::test]
async fn a_file_is_looked_up_then_downloaded_with_the_token_and_checked() {
    let fake = fake().await;
    fake.add(IMAGE_ID, Media::new(JPEG, "image/jpeg"));
    let bytes = client(&fake, TOKEN)
        .fetch_media(IMAGE_ID, 1024)
        .await
        .unwrap();
    assert_eq!(bytes, JPEG);
    let recorded = fake.recorded();
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert_eq!(recorded[0].method, "GET");
    assert_eq!(recorded[0].path, format!("/v25.0/{IMAGE_ID}"));
    // Meta answers only for media sent to this number.
    assert_eq!(
        recorded[0].query.as_deref(),
        Some("phone_number_id=100000000000000")
    );
    assert_eq!(recorded[1].path, "/whatsapp_business/attachments/");
    let bearer = format!("Bearer {TOKEN}");
    assert!(
        recorded
            .iter()
            .all(|r| r.authorization.as_deref() == Some(bearer.as_str()))
    );
}

#[tokio::test]
async fn a_size_meta_gives_as_a_number_or_a_string_is_taken_exactly_to_the_limit() {
    let fake = fake().await;
    let mut numbered = Media::new(JPEG, "image/jpeg");
    numbered.file_size = Some(json!(JPEG.len()));
    fake.add("11", numbered);
    fake.add("12", Media::new(JPEG, "image/jpeg"));
    let api = client(&fake, TOKEN);
    let limit = JPEG.len() as u64;
    assert_eq!(api.fetch_media("11", limit).await.unwrap(), JPEG);
    assert_eq!(api.fetch_media("12", limit).await.unwrap(), JPEG);
}

#[tokio::test]
async fn a_size_claimed_over_the_limit_is_refused_before_downloading() {
    let fake = fake().await;
    let mut large = Media::new(b"small", "application/pdf");
    large.file_size = Some(json!("104857600"));
    fake.add(IMAGE_ID, large);
    let error = client(&fake, TOKEN)
        .fetch_media(IMAGE_ID, 1 << 20)
        .await
        .unwrap_err();
    assert_eq!(error, WhatsappError::FileTooLarge { limit: 1 << 20 });
    assert_eq!(fake.paths(), [format!("/v25.0/{IMAGE_ID}")]);
}

#[tokio::test]
async fn a_body_growing_over_the_limit_is_refused_while_streaming() {
    let fake = fake().await;
    // It claims 10 bytes and sends 30, without a Content-Length.
    let mut liar = Media::new(&[b'x'; 30], "text/plain");
    liar.file_size = Some(json!(10));
    liar.download = Download::Chunked(vec![vec![b'x'; 10]; 3]);
    fake.add(IMAGE_ID, liar.clone());
    let api = client(&fake, TOKEN);
    let error = api.fetch_media(IMAGE_ID, 25).await.unwrap_err();
    assert_eq!(error, WhatsappError::FileTooLarge { limit: 25 });
    // The same stream within a bound that holds it is taken whole.
    assert_eq!(api.fetch_media(IMAGE_ID, 30).await.unwrap().len(), 30);
    // A Content-Length over the bound is refused as well.
    liar.download = Download::Whole;
    fake.add("13", liar);
    let error = api.fetch_media("13", 25).await.unwrap_err();
    assert_eq!(error, WhatsappError::FileTooLarge { limit: 25 });
}

#[tokio::test]
async fn a_file_that_does_not_match_metas_sha256_is_refused() {
    let fake = fake().await;
    let mut changed = Media::new(JPEG, "image/jpeg");
    changed.sha256 = Some(hex::encode([7u8; 32]));
    fake.add(IMAGE_ID, changed);
    let mut unreadable = Media::new(JPEG, "image/jpeg");
    unreadable.sha256 = Some("not-a-digest".into());
    fake.add("14", unreadable);
    let api = client(&fake, TOKEN);
    assert_eq!(
        api.fetch_media(IMAGE_ID, 1024).await.unwrap_err(),
        WhatsappError::Digest
    );
    let error = api.fetch_media("14", 1024).await.unwrap_err();
    assert!(matches!(error, WhatsappError::Malformed(_)), "{error:?}");
}

#[tokio::test]
async fn the_token_goes_to_no_download_url_but_metas_and_the_apis_own() {
    let fake = fake().await;
    // Another server on loopback, which must never be asked anything.
    let elsewhere = FakeGraph::start(TOKEN, "v25.0", NUMBER, None).await;
    let port = fake.addr.port();
    let other = elsewhere.addr;
    let urls = [
        format!("http://{other}/whatsapp_business/attachments/?mid=1"),
        format!("http://localhost:{port}/whatsapp_business/attachments/?mid=1"),
        format!("https://127.0.0.1:{port}/whatsapp_business/attachments/?mid=1"),
        format!("http://user:pw@127.0.0.1:{port}/whatsapp_business/attachments/?mid=1"),
        format!("https://lookaside.fbsbx.com@{other}/whatsapp_business/attachments/"),
        "http://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1".to_owned(),
        "https://lookaside.fbsbx.com.evil.example/x".to_owned(),
        "https://2130706433/x".to_owned(),
        "javascript:alert(1)".to_owned(),
    ];
    let api = client(&fake, TOKEN);
    for (n, url) in urls.iter().enumerate() {
        let id = format!("20{n}");
        let mut pointed = Media::new(JPEG, "image/jpeg");
        pointed.url = Some(url.clone());
        fake.add(&id, pointed);
        let error = api.fetch_media(&id, 1024).await.unwrap_err();
        assert!(
            matches!(error, WhatsappError::MediaUrl(_)),
            "{url}: {error:?}"
        );
        assert!(!error.to_string().contains(TOKEN), "{error}");
    }
    // Only lookups reached the fake; no download went anywhere.
    assert!(
        fake.paths().iter().all(|path| path.starts_with("/v25.0/")),
        "{:?}",
        fake.paths()
    );
    assert!(
        elsewhere.recorded().is_empty(),
        "{:?}",
        elsewhere.recorded()
    );
}

#[tokio::test]
async fn a_redirect_from_the_download_is_not_followed() {
    let fake = fake().await;
    let elsewhere = FakeGraph::start(TOKEN, "v25.0", NUMBER, None).await;
    let mut moved = Media::new(JPEG, "image/jpeg");
    moved.download = Download::Redirect(format!(
        "http://{}/whatsapp_business/attachments/?mid={IMAGE_ID}",
        elsewhere.addr
    ));
    fake.add(IMAGE_ID, moved.clone());
    elsewhere.add(IMAGE_ID, Media::new(JPEG, "image/jpeg"));
    let error = client(&fake, TOKEN)
        .fetch_media(IMAGE_ID, 1024)
        .await
        .unwrap_err();
    assert_eq!(error, WhatsappError::Server { status: 302 });
    assert!(elsewhere.recorded().is_empty());
}

#[tokio::test]
async fn media_ids_that_are_not_digits_are_refused_before_any_request() {
    let fake = fake().await;
    let api = client(&fake, TOKEN);
    for id in [
        "",
        "../100000000000000/messages",
        "1?x=1",
        "1/2",
        "%31",
        &"1".repeat(33),
    ] {
        let error = api.fetch_media(id, 1024).await.unwrap_err();
        assert!(
            matches!(error, WhatsappError::Argument(_)),
            "{id}: {error:?}"
        );
    }
    assert!(fake.recorded().is_empty());
}

#[tokio::test]
async fn an_unknown_id_and_a_wrong_token_are_metas_refusals() {
    let fake = fake().await;
    fake.add(IMAGE_ID, Media::new(JPEG, "image/jpeg"));
    let unknown = client(&fake, TOKEN)
        .fetch_media("999", 1024)
        .await
        .unwrap_err();
    assert!(
        matches!(
            unknown,
            WhatsappError::BadRequest {
                code: Some(100),
                ..
            }
        ),
        "{unknown:?}"
    );
    let wrong = client(&fake, "EAAwrongWrongWrong")
        .fetch_media(IMAGE_ID, 1024)
        .await
        .unwrap_err();
    assert_eq!(wrong, WhatsappError::TokenRefused);
}

/// The multipart body reqwest sends for the upload, with its boundary.
fn upload_body(boundary: &str, name: &str, mime_type: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\n{mime_type}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: {mime_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

#[tokio::test]
async fn a_document_is_uploaded_then_sent_as_a_document_in_reply() {
    let fake = fake().await;
    let api = client(&fake, TOKEN);
    let id = api
        .send_document(
            USER,
            "notes.txt",
            Bytes::from_static(b"line one\nline two\n"),
            Some("wamid.ASKED"),
        )
        .await
        .unwrap();
    assert_eq!(id, graph::DOCUMENT_MESSAGE_ID);
    let recorded = fake.recorded();
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    let upload = &recorded[0];
    assert_eq!(
        (upload.method.as_str(), upload.path.as_str()),
        ("POST", "/v25.0/100000000000000/media")
    );
    let content_type = upload.content_type.clone().unwrap();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&upload.body),
        String::from_utf8_lossy(&upload_body(
            boundary,
            "notes.txt",
            "text/plain",
            b"line one\nline two\n"
        ))
    );
    let send = &recorded[1];
    assert_eq!(send.path, "/v25.0/100000000000000/messages");
    assert_eq!(send.content_type.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_slice(&send.body).unwrap();
    assert_eq!(
        body,
        json!({
            "messaging_product": "whatsapp",
            "to": USER,
            "type": "document",
            "document": { "id": graph::UPLOADED_ID, "filename": "notes.txt" },
            "context": { "message_id": "wamid.ASKED" },
        })
    );
    let bearer = format!("Bearer {TOKEN}");
    assert!(
        recorded
            .iter()
            .all(|r| r.authorization.as_deref() == Some(bearer.as_str()))
    );
}

#[tokio::test]
async fn a_document_of_metas_type_is_uploaded_as_that_type_without_a_reply() {
    let fake = fake().await;
    let api = client(&fake, TOKEN);
    api.send_document(USER, "Report.PDF", Bytes::from_static(b"%PDF-\xff"), None)
        .await
        .unwrap();
    let recorded = fake.recorded();
    let boundary = recorded[0]
        .content_type
        .clone()
        .unwrap()
        .replace("multipart/form-data; boundary=", "");
    assert_eq!(
        recorded[0].body,
        upload_body(&boundary, "Report.PDF", "application/pdf", b"%PDF-\xff")
    );
    let body: Value = serde_json::from_slice(&recorded[1].body).unwrap();
    assert_eq!(
        body,
        json!({
            "messaging_product": "whatsapp",
            "to": USER,
            "type": "document",
            "document": { "id": graph::UPLOADED_ID, "filename": "Report.PDF" },
        })
    );
}

#[tokio::test]
async fn a_document_outside_the_apis_bounds_is_refused_before_uploading() {
    let fake = fake().await;
    let api = client(&fake, TOKEN);
    let text = || Bytes::from_static(b"text");
    let refused = [
        api.send_document("+15551234567", "a.txt", text(), None)
            .await,
        api.send_document(USER, "../a.txt", text(), None).await,
        api.send_document(USER, "a\".txt", text(), None).await,
        api.send_document(USER, "a\n.txt", text(), None).await,
        api.send_document(USER, "", text(), None).await,
        api.send_document(USER, "a.txt", text(), Some("wamid. x"))
            .await,
        // Binary content of no type the Cloud API takes.
        api.send_document(
            USER,
            "tool.exe",
            Bytes::from_static(b"MZ\x90\x00\xff"),
            None,
        )
        .await,
        // Over 100 MB (zeroed pages: nothing is written to them).
        api.send_document(USER, "big.txt", Bytes::from(vec![0u8; 100_000_001]), None)
            .await,
    ];
    for (n, result) in refused.into_iter().enumerate() {
        let error = result.unwrap_err();
        assert!(
            matches!(error, WhatsappError::Argument(_)),
            "{n}: {error:?}"
        );
    }
    assert!(fake.recorded().is_empty(), "{:?}", fake.recorded());
}
