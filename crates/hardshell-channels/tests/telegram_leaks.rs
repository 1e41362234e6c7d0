//! The bot token is in every request's path: no error (Display or Debug) and
//! no log line may show it, whatever failed. A test binary of its own: every
//! test here captures `tracing` at every level, so no other test leaves the
//! client's callsites cached as uninteresting (which made the capture see
//! nothing when the suite ran them side by side).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use hardshell_channels::telegram::api::{TelegramApi, TelegramError};
use hardshell_channels::telegram::types::File;
use hardshell_testkit::crabline::Crabline;

use hardshell_secrets::SecretValue;
use zeroize::Zeroizing;

fn secret(text: &str) -> SecretValue {
    SecretValue::new(Zeroizing::new(text.as_bytes().to_vec())).unwrap()
}

const TOKEN: &str = "987654:leak-canary_TOKEN";
const TOKEN_SECRET: &str = "leak-canary_TOKEN";

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

fn assert_hidden(error: &TelegramError, logs: &str) {
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(TOKEN_SECRET), "{shown}");
    assert!(!logs.contains(TOKEN_SECRET), "{logs}");
    // The capture works: the call itself was logged (by method name).
    assert!(logs.contains("telegram"), "nothing captured: {logs}");
}

fn dead_root() -> url::Url {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap()
}

#[tokio::test]
async fn refused_connection_does_not_show_the_token() {
    let (captured, _guard) = capture();
    let api = TelegramApi::new(dead_root(), secret(TOKEN)).unwrap();
    let error = api.get_me().await.unwrap_err();
    assert!(matches!(error, TelegramError::Transport(_)), "{error:?}");
    assert!(error.to_string().contains("refused"), "{error}");
    assert_hidden(&error, &captured.text());
    assert!(!format!("{api:?}").contains(TOKEN_SECRET));
}

#[tokio::test]
async fn refused_download_does_not_show_the_token() {
    let (captured, _guard) = capture();
    let api = TelegramApi::new(dead_root(), secret(TOKEN)).unwrap();
    let file = File {
        file_id: "f".into(),
        file_unique_id: "u".into(),
        file_size: None,
        file_path: Some("documents/a.txt".into()),
    };
    let error = api.download_file(&file, 100).await.unwrap_err();
    assert!(matches!(error, TelegramError::Transport(_)), "{error:?}");
    assert_hidden(&error, &captured.text());
}

#[tokio::test]
async fn bad_token_refusal_does_not_show_the_token() {
    let crabline = Crabline::start("telegram");
    let (captured, _guard) = capture();
    let root = url::Url::parse(crabline.base_url()).unwrap();
    let api = TelegramApi::new(root, secret(TOKEN)).unwrap();
    let error = api.get_updates(None, 0).await.unwrap_err();
    assert_eq!(error, TelegramError::Unauthorized);
    assert_hidden(&error, &captured.text());
}
