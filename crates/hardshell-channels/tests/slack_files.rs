//! Files in Slack: a shared file fetched from its `url_private` with the
//! bot token, within its bound, and from Slack's files host alone (the
//! token is never sent anywhere a message names); a file sent by the
//! external upload, its bytes given to the upload URL without the token.
//! Against the fake Slack: crabline has no files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "slack/fake.rs"]
mod fake;
#[path = "slack/setup.rs"]
mod setup;

use std::sync::Arc;
use std::time::Duration;

use fake::{BOT_TOKEN, FakeSlack};
use hardshell_channels::InboundFile;
use hardshell_channels::outbox::{Outbox, OutboxError};
use hardshell_channels::slack::SlackOutbox;
use hardshell_channels::slack::api::SlackApi;
use setup::secret;

fn outbox(fake: &FakeSlack) -> SlackOutbox {
    let api = SlackApi::new(fake.api_root(), secret(BOT_TOKEN), None).unwrap();
    SlackOutbox::new(Arc::new(api))
}

fn file(reference: &str, size: Option<u64>) -> InboundFile {
    InboundFile {
        reference: reference.to_owned(),
        name: Some("notes.txt".into()),
        size,
    }
}

#[tokio::test]
async fn a_shared_file_is_fetched_with_the_bot_token_within_its_bound() {
    let fake = FakeSlack::start().await;
    let outbox = outbox(&fake);
    let bytes = b"the notes, 27 bytes of them";
    let url = fake.host_file("T0FAKE-F0NOTES/notes.txt", bytes);
    let fetched = outbox.fetch(&file(&url, Some(27)), 1024).await.unwrap();
    assert_eq!(fetched, bytes);
    assert_eq!(
        fake.downloads(),
        [("T0FAKE-F0NOTES/notes.txt".to_owned(), true)]
    );

    // Larger than the bound, whatever Slack announced: refused while read.
    let fetched = outbox.fetch(&file(&url, Some(3)), 10).await;
    assert!(
        matches!(fetched, Err(OutboxError::TooLarge { limit: 10 })),
        "{fetched:?}"
    );
    // Announced larger than the bound: not even asked for.
    let fetched = outbox.fetch(&file(&url, Some(5000)), 1024).await;
    assert!(matches!(
        fetched,
        Err(OutboxError::TooLarge { limit: 1024 })
    ));
    assert_eq!(fake.downloads().len(), 2);
    // A file Slack does not have is an error, not empty bytes.
    let missing = url.replace("notes.txt", "other.txt");
    assert!(outbox.fetch(&file(&missing, None), 1024).await.is_err());
}

#[tokio::test]
async fn the_token_goes_to_no_host_but_slacks_files_host() {
    let fake = FakeSlack::start().await;
    let outbox = outbox(&fake);
    let real = fake.host_file("T0FAKE-F0X/x.txt", b"x");
    // A host that would take the token: it must never be connected to.
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = elsewhere.local_addr().unwrap().port();
    let fake_port = url::Url::parse(&real).unwrap().port().unwrap();
    for reference in [
        format!("http://127.0.0.1:{port}/files-pri/T0FAKE-F0X/x.txt"),
        format!("http://localhost:{fake_port}/files-pri/T0FAKE-F0X/x.txt"),
        format!("https://127.0.0.1:{fake_port}/files-pri/T0FAKE-F0X/x.txt"),
        real.replace("http://", "http://user:pass@"),
        "https://files.slack.com.example.net/files-pri/x".to_owned(),
        "file:///etc/passwd".to_owned(),
        "not a url".to_owned(),
    ] {
        let refused = outbox.fetch(&file(&reference, None), 1024).await;
        let Err(OutboxError::Failed(why)) = refused else {
            panic!("{reference}: {refused:?}");
        };
        assert!(why.contains("not on slack's files host"), "{why}");
        assert!(
            !why.contains("FAKEBOTSECRET") && !why.contains(&reference),
            "{why}"
        );
    }
    let connected = tokio::time::timeout(Duration::from_millis(300), elsewhere.accept()).await;
    assert!(connected.is_err(), "nothing connected to the other host");
    assert!(fake.downloads().is_empty(), "nothing fetched at all");
}

#[tokio::test]
async fn a_file_is_sent_by_the_external_upload_without_the_token_on_the_upload() {
    let fake = FakeSlack::start().await;
    let outbox = outbox(&fake);
    let bytes = bytes::Bytes::from_static(b"report body");
    let sent = outbox
        .send_file(
            "C0GROUP",
            "report\u{202E}txt.exe\n.txt",
            bytes.clone(),
            Some("1700000000.000001"),
        )
        .await
        .unwrap();
    assert_eq!(sent, None, "Slack names no message for an upload");
    let slot = &fake.calls("files.getUploadURLExternal")[0];
    assert_eq!(
        slot["filename"], "reporttxt.exe.txt",
        "no reordering or control characters"
    );
    assert_eq!(slot["length"], "11");
    let uploads = fake.uploads();
    assert_eq!(uploads.len(), 1);
    let (file_id, uploaded, with_authorization) = &uploads[0];
    assert_eq!(uploaded.as_slice(), bytes.as_ref());
    assert!(
        !with_authorization,
        "the upload URL is never given the token"
    );
    let completed = &fake.calls("files.completeUploadExternal")[0];
    assert_eq!(completed["channel_id"], "C0GROUP");
    assert_eq!(completed["thread_ts"], "1700000000.000001");
    assert_eq!(completed["files"][0]["id"], file_id.as_str());
}

#[tokio::test]
async fn an_upload_url_off_the_files_host_is_given_nothing() {
    let fake = FakeSlack::start().await;
    let outbox = outbox(&fake);
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = elsewhere.local_addr().unwrap().port();
    fake.upload_elsewhere(&format!("http://127.0.0.1:{port}"));
    let sent = outbox
        .send_file(
            "C0GROUP",
            "a.txt",
            bytes::Bytes::from_static(b"secret bytes"),
            None,
        )
        .await;
    let Err(OutboxError::Failed(why)) = sent else {
        panic!("{sent:?}");
    };
    assert!(why.contains("not on slack's files host"), "{why}");
    let connected = tokio::time::timeout(Duration::from_millis(300), elsewhere.accept()).await;
    assert!(connected.is_err(), "the bytes went nowhere");
    assert!(fake.calls("files.completeUploadExternal").is_empty());
}
