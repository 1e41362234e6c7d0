use std::time::Duration;

use hardshell_browser::{EndCause, RelayLimits};
use hardshell_ratelimit::Quota;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::support::{Session, Site};

async fn ends_with(session: &mut Session, code: CloseCode, cause: EndCause) {
    let (frame, _) = session.closed().await;
    let frame = frame.expect("a close frame with a reason");
    assert_eq!(frame.code, code, "{frame:?}");
    assert!(!frame.reason.is_empty());
    assert_eq!(session.end().await.cause, cause);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_command_ends_the_session_with_1009() {
    let limits = RelayLimits {
        max_client_message_bytes: 64 << 10,
        ..RelayLimits::default()
    };
    let mut session = Session::with(limits, &[]).await;
    session.call(None, "Browser.getVersion", json!({})).await;
    let big = json!({"id": 1, "method": "Runtime.evaluate", "params": {"expression": "x".repeat(100 << 10)}});
    session.send_text(&big.to_string()).await;
    ends_with(&mut session, CloseCode::Size, EndCause::ClientTooLarge).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_ends_the_session_with_1007() {
    let mut session = Session::start().await;
    session.send_text("{\"id\": 1, \"method\": ").await;
    ends_with(
        &mut session,
        CloseCode::Invalid,
        EndCause::ClientMalformed(hardshell_browser::CommandError::NotJson),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_frame_ends_the_session_with_1003() {
    let mut session = Session::start().await;
    session
        .send_message(Message::binary(
            b"{\"id\":1,\"method\":\"Browser.getVersion\"}".to_vec(),
        ))
        .await;
    ends_with(&mut session, CloseCode::Unsupported, EndCause::ClientBinary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_rate_limit_commands_get_errors_not_a_close() {
    // One a minute in bursts of three: the fourth and fifth are refused.
    let limits = RelayLimits {
        rate: Quota::new(1, 3).unwrap(),
        ..RelayLimits::default()
    };
    let mut session = Session::with(limits, &[]).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(session.send(None, "Browser.getVersion", json!({})).await);
    }
    let mut refused = 0;
    for id in ids {
        let answer = session.answer(id).await;
        if let Some(error) = answer.get("error") {
            assert_eq!(error["code"], -32000);
            assert!(
                error["message"]
                    .as_str()
                    .unwrap()
                    .contains("too many commands"),
                "{error}"
            );
            refused += 1;
        }
    }
    assert_eq!(refused, 2);
    let records = session.records().await;
    let limited = records
        .iter()
        .filter(|r| r["type"] == "cdp_refused" && r["reason"] == "rate_limited")
        .count();
    assert_eq!(limited, 1, "one record for a run of refusals");
    assert_eq!(session.close().await.cause, EndCause::ClientClosed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_browser_closes_the_client_with_1011_and_answers_what_waited() {
    let mut session = Session::start().await;
    let (_, page) = session.new_page("about:blank").await;
    // A command the browser will never answer: it waits on a promise.
    let waiting = session
        .send(
            Some(&page),
            "Runtime.evaluate",
            json!({"expression": "new Promise(() => {})", "awaitPromise": true}),
        )
        .await;
    session.call(None, "Browser.getVersion", json!({})).await;
    session.chromium.kill().await;
    let (frame, before) = session.closed().await;
    let frame = frame.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Error);
    assert_eq!(frame.reason.as_str(), "the browser ended");
    let answer = before
        .iter()
        .find(|m| m["id"] == waiting)
        .expect("the waiting command is answered");
    assert_eq!(answer["error"]["code"], -32000);
    assert_eq!(answer["sessionId"], page.as_str());
    assert_eq!(session.end().await.cause, EndCause::BrowserEnded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_is_closed() {
    let limits = RelayLimits {
        idle: Duration::from_millis(300),
        ..RelayLimits::default()
    };
    let mut session = Session::with(limits, &[]).await;
    ends_with(&mut session, CloseCode::Normal, EndCause::Idle).await;
    let records = session.records().await;
    assert!(
        records
            .iter()
            .any(|r| r["type"] == "browser_session_ended" && r["ended"] == "idle")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_past_the_limit_are_refused_or_closed() {
    let site = Site::serve("<html><body>popup</body></html>").await;
    // The browser's first blank page and one more.
    let limits = RelayLimits {
        max_pages: 2,
        ..RelayLimits::default()
    };
    let mut session = Session::with(limits, &[]).await;
    let (ours, page) = session.new_page("about:blank").await;
    let error = session
        .refused(None, "Target.createTarget", json!({"url": "about:blank"}))
        .await;
    assert!(
        error["message"].as_str().unwrap().contains("pages"),
        "{error}"
    );

    // A page the page opens itself is closed by the proxy.
    session.navigate(&page, &site.url("/")).await;
    // From a timer: an evaluation that opens a window itself is not
    // answered once the proxy closes that window.
    let open = format!(
        "setTimeout(() => window.open('{}'), 0); 1",
        site.url("/popup")
    );
    session
        .call(
            Some(&page),
            "Runtime.evaluate",
            json!({"expression": open, "userGesture": true}),
        )
        .await;
    let created = session
        .event("Target.targetCreated", |e| {
            e["params"]["targetInfo"]["type"] == "page"
                && e["params"]["targetInfo"]["targetId"] != ours.as_str()
                && e["params"]["targetInfo"]["openerId"] == ours.as_str()
        })
        .await;
    let popup = created["params"]["targetInfo"]["targetId"]
        .as_str()
        .unwrap()
        .to_owned();
    session
        .event("Target.targetDestroyed", |e| {
            e["params"]["targetId"] == popup.as_str()
        })
        .await;
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_answer_from_the_browser_ends_the_session_with_1009() {
    let limits = RelayLimits {
        max_browser_message_bytes: 256 << 10,
        ..RelayLimits::default()
    };
    let mut session = Session::with(limits, &[]).await;
    let (_, page) = session.new_page("about:blank").await;
    let big = json!({"expression": "'x'.repeat(300000)", "returnByValue": true});
    session.send(Some(&page), "Runtime.evaluate", big).await;
    ends_with(&mut session, CloseCode::Size, EndCause::BrowserTooLarge).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_session_closes_the_client_with_1001() {
    let mut session = Session::start().await;
    session.call(None, "Browser.getVersion", json!({})).await;
    session.stop();
    ends_with(&mut session, CloseCode::Away, EndCause::Stopped).await;
    let records = session.records().await;
    assert!(
        records
            .iter()
            .any(|r| r["type"] == "browser_session_ended" && r["ended"] == "stopped")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_past_its_lifetime_is_closed_however_busy() {
    let limits = RelayLimits {
        lifetime: Duration::from_millis(500),
        ..RelayLimits::default()
    };
    let mut session = Session::with(limits, &[]).await;
    // Busy: a client message keeps idleness away, not the lifetime.
    let relay_ended = loop {
        let id = session.send(None, "Browser.getVersion", json!({})).await;
        let (frame, before) = session.closed_or_answer(id).await;
        if let Some(frame) = frame {
            let frame = frame.expect("a close frame with a reason");
            assert_eq!(frame.code, CloseCode::Normal);
            // What came before the close is the browser's own: answers, and
            // the events Chromium may send unasked; never anything else.
            assert!(
                before
                    .iter()
                    .all(|m| m.get("id").is_some() || m.get("method").is_some()),
                "{before:?}"
            );
            break session.end().await;
        }
    };
    assert_eq!(relay_ended.cause, EndCause::Lifetime);
}
