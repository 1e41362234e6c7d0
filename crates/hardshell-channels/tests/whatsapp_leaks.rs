//! The access token goes in the `Authorization` header of every media call
//! and download: no error (Display or Debug) and no log line may show it,
//! whatever failed. A test binary of its own: every test here captures
//! `tracing` at every level, so no other test leaves the client's callsites
//! cached as uninteresting (which would make the capture see nothing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "whatsapp/graph.rs"]
mod graph;

use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hardshell_channels::whatsapp::api::{WhatsappApi, WhatsappError};
use hardshell_config::{ApiRoot, PhoneNumberId};
use hardshell_secrets::SecretValue;
use zeroize::Zeroizing;

use graph::{FakeGraph, Media};

const TOKEN: &str = "EAAleakCanaryTOKEN0123";
const NUMBER: &str = "100000000000000";
const USER: &str = "15551234567";

fn secret(text: &str) -> SecretValue {
    SecretValue::new(Zeroizing::new(text.as_bytes().to_vec())).unwrap()
}

/// Everything `tracing` writes on this thread, at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

fn assert_hidden(error: &WhatsappError, logs: &str) {
    let shown = format!("{error} {error:?}").to_ascii_lowercase();
    assert!(!shown.contains(&TOKEN.to_ascii_lowercase()), "{shown}");
    assert!(!logs.contains(TOKEN), "{logs}");
    // The capture works: the call itself was logged.
    assert!(logs.contains("whatsapp media"), "nothing captured: {logs}");
}

fn client(root: &ApiRoot) -> WhatsappApi {
    WhatsappApi::new(root, &PhoneNumberId::parse(NUMBER).unwrap(), secret(TOKEN)).unwrap()
}

async fn fake() -> FakeGraph {
    FakeGraph::start(TOKEN, "v25.0", NUMBER, None).await
}

fn dead_root() -> ApiRoot {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    ApiRoot::parse(&format!("http://127.0.0.1:{port}/v25.0")).unwrap()
}

#[tokio::test]
async fn a_refused_connection_does_not_show_the_token() {
    let (captured, _guard) = capture();
    let api = client(&dead_root());
    let error = api.fetch_media("1037543291543636", 100).await.unwrap_err();
    assert!(matches!(error, WhatsappError::Transport(_)), "{error:?}");
    assert_hidden(&error, &captured.text());
    let error = api
        .send_document(USER, "a.txt", Bytes::from_static(b"a"), None)
        .await
        .unwrap_err();
    assert!(matches!(error, WhatsappError::Transport(_)), "{error:?}");
    assert_hidden(&error, &captured.text());
    assert!(!format!("{api:?}").contains(TOKEN));
}

#[tokio::test]
async fn a_refusal_repeating_the_token_does_not_show_it() {
    let (captured, _guard) = capture();
    let fake = fake().await;
    // The fake repeats the Authorization header for this id, but only to a
    // request without the right token: ask with the token it expects not.
    let wrong = "EAAwrongTokenEchoed";
    let api = WhatsappApi::new(
        &fake.api_root(),
        &PhoneNumberId::parse(NUMBER).unwrap(),
        secret(wrong),
    )
    .unwrap();
    let error = api.fetch_media(graph::ECHOING_ID, 100).await.unwrap_err();
    let WhatsappError::BadRequest { message, .. } = &error else {
        panic!("{error:?}");
    };
    assert!(
        message.starts_with("bad request for Bearer <token>"),
        "{message}"
    );
    let shown = format!("{error} {error:?} {}", captured.text());
    assert!(!shown.contains(wrong), "{shown}");
}

#[tokio::test]
async fn a_refused_download_url_and_a_bad_file_do_not_show_the_token() {
    let (captured, _guard) = capture();
    let fake = fake().await;
    let mut elsewhere = Media::new(b"x", "image/jpeg");
    // The token in the host Meta's answer names (lower-cased by the URL
    // parser) and in its path.
    elsewhere.url = Some(format!("https://{TOKEN}.evil.example/{TOKEN}"));
    fake.add("1", elsewhere);
    let mut changed = Media::new(b"x", "image/jpeg");
    changed.sha256 = Some(hex::encode([1u8; 32]));
    fake.add("2", changed);
    let mut large = Media::new(b"x", "image/jpeg");
    large.file_size = Some(serde_json::json!(1000));
    fake.add("3", large);
    let api = client(&fake.api_root());
    let refused = api.fetch_media("1", 100).await.unwrap_err();
    assert!(matches!(refused, WhatsappError::MediaUrl(_)), "{refused:?}");
    assert_hidden(&refused, &captured.text());
    let digest = api.fetch_media("2", 100).await.unwrap_err();
    assert_eq!(digest, WhatsappError::Digest);
    assert_hidden(&digest, &captured.text());
    let too_large = api.fetch_media("3", 100).await.unwrap_err();
    assert_eq!(too_large, WhatsappError::FileTooLarge { limit: 100 });
    assert_hidden(&too_large, &captured.text());
}
