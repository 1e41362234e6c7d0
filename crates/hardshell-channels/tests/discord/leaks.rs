//! The bot token travels in a header and in the gateway's IDENTIFY and
//! RESUME: no log line, at any level and from any crate (twilight, reqwest,
//! hyper), and no error may show it.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardshell_channels::discord::DiscordChannel;
use serde_json::json;

use crate::setup::{self, Bot, DM, PERSON};

/// The part of crabline's token that is secret (the first part is the
/// bot's id in base64).
const TOKEN_SECRET: &str = "crabline.discord";
const WAIT: Duration = Duration::from_secs(30);

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

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn the_token_reaches_no_log_line_through_a_whole_session() {
    let (captured, _guard) = capture();
    let bot = Bot::start_logged("answered", &|| captured.text()).await;
    bot.pair().await;
    bot.crabline
        .inject(json!({"channelId": DM, "senderId": PERSON, "content": "hello"}));
    bot.crabline.wait_sent("messages", 1, WAIT).await;
    bot.relay.drop_connection();
    bot.relay.wait_dispatched("RESUMED", 1, WAIT).await.unwrap();
    bot.stop().await;
    let logs = captured.text();
    assert!(
        logs.contains("sending identify"),
        "twilight's logs captured: {logs}"
    );
    assert!(logs.contains("discord: message handled"), "{logs}");
    assert!(!logs.contains(TOKEN_SECRET), "{logs}");
}

/// An interaction's token: whoever holds it may answer as the bot for 15
/// minutes, and it is a segment of the callback's URL path.
const INTERACTION_TOKEN: &str = "aW50ZXJhY3Rpb246MTM1MDAwMDAwMDAwMDAwNzAwOnNlY3JldA";

#[tokio::test]
async fn an_interactions_token_reaches_no_log_line_when_its_answer_fails() {
    let (captured, _guard) = capture();
    let bot = Bot::start_logged("answered", &|| captured.text()).await;
    // crabline serves no interaction endpoints (it refuses the call, sent
    // without the bot's token): the failure is logged, with the REST
    // client's own trace, at every level.
    bot.relay.dispatch(
        "INTERACTION_CREATE",
        json!({
            "id": "135000000000000700", "application_id": "135000000000000001",
            "type": 3, "token": INTERACTION_TOKEN, "channel_id": DM,
            "user": {"id": PERSON},
            "data": {"custom_id": "x:a1:1", "component_type": 2},
        }),
    );
    let until = std::time::Instant::now() + WAIT;
    while !captured.text().contains("an interaction was not answered") {
        assert!(std::time::Instant::now() < until, "{}", captured.text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bot.stop().await;
    let logs = captured.text();
    assert!(!logs.contains(INTERACTION_TOKEN), "{logs}");
    assert!(!logs.contains(TOKEN_SECRET), "{logs}");
}

#[tokio::test]
async fn an_unreachable_api_is_logged_without_the_token() {
    let (captured, _guard) = capture();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let (_store, dispatcher, _, _) = setup::dispatcher("x").await;
    let root = format!("http://127.0.0.1:{port}/api/v10");
    let config = hardshell_config::Discord {
        api_root: hardshell_config::ApiRoot::parse(&root).unwrap(),
        ..Default::default()
    };
    let token = setup::secret("MTM1MDAwMDAwMDAwMDAwMDAx.crabline.discord");
    let channel =
        DiscordChannel::new(&config, token, dispatcher, _store.scope("channels/discord")).unwrap();
    assert!(!format!("{channel:?}").contains(TOKEN_SECRET));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(channel.run(async move {
        let _ = stopped.await;
    }));
    let until = std::time::Instant::now() + WAIT;
    while !captured.text().contains("discord unreachable") {
        assert!(std::time::Instant::now() < until, "{}", captured.text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(()).unwrap();
    running.await.unwrap();
    assert!(
        !captured.text().contains(TOKEN_SECRET),
        "{}",
        captured.text()
    );
}
