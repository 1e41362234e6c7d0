//! A browser a page has taken over: the relay believes nothing it says
//! beyond what it can check. The "browser" here is a WebSocket peer that
//! plays that part, since a real Chromium cannot be made to lie on cue.

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use hardshell_audit::{AuditLog, AuditOptions, LogId};
use hardshell_browser::{
    BrowserTrail, EndCause, MethodPolicy, RelayEnd, RelayLimits, SessionRules, relay,
};
use hardshell_testkit::TestStore;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// What the hostile browser sends after the client's first command.
async fn hostile_browser(listener: TcpListener, lies: Vec<Message>) {
    let (tcp, _) = listener.accept().await.unwrap();
    let mut socket = tokio_tungstenite::accept_async(tcp).await.unwrap();
    // The proxy's own discovery command, then the client's.
    for _ in 0..2 {
        let Some(Ok(Message::Text(text))) = socket.next().await else {
            return;
        };
        let command: Value = serde_json::from_str(text.as_str()).unwrap();
        if command["method"] == "Browser.getVersion" {
            for lie in &lies {
                let _ = socket.send(lie.clone()).await;
            }
            let answer = json!({"id": command["id"], "result": {"product": "honest"}});
            let _ = socket.send(Message::text(answer.to_string())).await;
            let _ = socket.send(Message::text("this is not JSON")).await;
        }
    }
    // Hold the socket until the relay gives up on it.
    while let Some(Ok(_)) = socket.next().await {}
}

/// Runs a relay in front of the hostile browser; what its client received,
/// and how it ended.
async fn against(lies: Vec<Message>) -> (Vec<Value>, Option<(CloseCode, String)>, RelayEnd) {
    let browser_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let browser_address = browser_listener.local_addr().unwrap();
    tokio::spawn(hostile_browser(browser_listener, lies));
    let limits = RelayLimits::default();
    let tcp = TcpStream::connect(browser_address).await.unwrap();
    let url = format!("ws://{browser_address}/devtools/browser/x");
    let (browser, _) =
        tokio_tungstenite::client_async_with_config(url, tcp, Some(limits.browser_config()))
            .await
            .unwrap();

    let store = TestStore::new().await;
    let log = LogId::new("hostile").unwrap();
    let audit = AuditLog::open(&store.scope("audit"), &log, AuditOptions::default())
        .await
        .unwrap();
    let trail = BrowserTrail::new(Arc::new(audit), "brs-hostile");
    let dirs = tempfile::tempdir().unwrap();
    let rules = SessionRules::new(&dirs.path().join("d"), &dirs.path().join("u")).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let relayed = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let client = tokio_tungstenite::accept_async_with_config(tcp, Some(limits.client_config()))
            .await
            .unwrap();
        let policy = MethodPolicy::standard().unwrap();
        let never = std::future::pending();
        relay(client, browser, &policy, &rules, &limits, &trail, never).await
    });

    let tcp = TcpStream::connect(address).await.unwrap();
    let (mut client, _) = tokio_tungstenite::client_async(format!("ws://{address}/"), tcp)
        .await
        .unwrap();
    let command = json!({"id": 5, "method": "Browser.getVersion"});
    client
        .send(Message::text(command.to_string()))
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut closed = None;
    while let Some(Ok(message)) = client.next().await {
        match message {
            Message::Text(text) => received.push(serde_json::from_str(text.as_str()).unwrap()),
            Message::Close(frame) => {
                closed = frame.map(|f| (f.code, f.reason.to_string()));
                break;
            }
            _ => {}
        }
    }
    (received, closed, relayed.await.unwrap())
}

#[tokio::test]
async fn answers_to_ids_the_proxy_never_issued_reach_no_one() {
    let forged = [
        json!({"id": 999, "result": {"forged": true}}),
        json!({"id": 1, "result": {"forged": true}}),
        json!({"id": -3, "result": {"forged": true}}),
    ];
    let lies: Vec<Message> = forged
        .iter()
        .map(|f| Message::text(f.to_string()))
        .collect();
    let (received, closed, end) = against(lies[..2].to_vec()).await;
    assert!(
        received.iter().all(|m| m["result"]["forged"].is_null()),
        "{received:?}"
    );
    let answer = received
        .iter()
        .find(|m| m["id"] == 5)
        .expect("the real answer");
    assert_eq!(answer["result"]["product"], "honest");
    // Then the browser sent text that is not JSON.
    assert_eq!(closed.unwrap().0, CloseCode::Error);
    assert_eq!(end.cause, EndCause::BrowserMalformed);

    // An id that is not a proxy id at all is malformed, not ignored.
    let (_, closed, end) = against(lies[2..].to_vec()).await;
    assert_eq!(closed.unwrap().0, CloseCode::Error);
    assert_eq!(end.cause, EndCause::BrowserMalformed);
}

#[tokio::test]
async fn a_binary_frame_from_the_browser_ends_the_session() {
    let (_, closed, end) = against(vec![Message::binary(vec![0u8, 1, 2])]).await;
    let (code, reason) = closed.unwrap();
    assert_eq!(code, CloseCode::Error);
    assert!(reason.contains("malformed"), "{reason}");
    assert_eq!(end.cause, EndCause::BrowserMalformed);
}

#[tokio::test]
async fn an_invented_page_of_absurd_id_is_not_counted() {
    let target = "T".repeat(10_000);
    let event = json!({"method": "Target.targetCreated", "params": {"targetInfo": {"targetId": target, "type": "page"}}});
    let (received, _, end) = against(vec![Message::text(event.to_string())]).await;
    assert!(
        received
            .iter()
            .any(|m| m["method"] == "Target.targetCreated"),
        "events pass"
    );
    assert_eq!(end.pages, 0);
}
