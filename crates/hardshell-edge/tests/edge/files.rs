//! Files across a session's workspace boundary, through the edge: the
//! agent's `send_file` on the control socket, the shared file announced in
//! the session's stream and served to its owner as a download only, and a
//! chat's file put into the workspace through `ChatTurns`. The workspace is
//! a recording shell's; the walk on disk is `hardshell-shells`' (tested
//! there against real volumes).

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use hardshell_auth::TokenScope;
use hardshell_edge::TurnError;
use hardshell_protocol::chat::ChatEvent;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use crate::support::{TestEdge, bearer, get, request};

/// What a shell might write: HTML that would run as the edge's own page if
/// it were ever rendered at its origin.
const PAGE: &[u8] = b"<html><script>fetch('/admin/tokens')</script></html>";

async fn edge_with_exec(
    dir: &tempfile::TempDir,
) -> (
    TestEdge,
    std::sync::Arc<hardshell_exec::testing::RecordingShell>,
) {
    let socket = dir.path().join("agent.sock");
    crate::support::agent::start(&socket).await;
    TestEdge::start_with_exec(
        "[ratelimit]\nrequests_per_minute = 100000\nburst = 1000\n",
        &socket,
    )
    .await
}

/// The agent's `send_file`, as it sends it on the control socket: the
/// status and the answer's JSON.
async fn send_file(control: &Path, body: &str) -> (u16, serde_json::Value) {
    let mut stream = UnixStream::connect(control).await.unwrap();
    let text = format!(
        "POST /exec/v1/files/send HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let (_, body) = answer.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(body).unwrap_or_default())
}

fn sending(session: &str, path: &str) -> String {
    serde_json::json!({ "session": session, "path": path }).to_string()
}

/// A turn's stream in `session`, opened with `token` (the stub agent never
/// ends it), read up to its `accepted` event.
async fn open_turn(edge: &TestEdge, token: &str, session: &str) -> TcpStream {
    let body = r#"{"text":"make me a page"}"#;
    let mut stream = TcpStream::connect(edge.addr).await.unwrap();
    let turn = format!(
        "POST /api/sessions/{session}/messages HTTP/1.1\r\nHost: localhost\r\n\
         Connection: close\r\n{}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        bearer(token),
        body.len()
    );
    stream.write_all(turn.as_bytes()).await.unwrap();
    read_until(&mut stream, "event: accepted").await;
    stream
}

/// What `stream` carries from now until `marker` and the end of its line.
async fn read_until(stream: &mut TcpStream, marker: &str) -> String {
    let mut seen = Vec::new();
    loop {
        let text = String::from_utf8_lossy(&seen);
        if let Some(at) = text.find(marker)
            && text[at..].contains("\n\n")
        {
            return text[at..].to_owned();
        }
        let mut chunk = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("the stream went quiet")
            .unwrap();
        assert!(n > 0, "ended before {marker:?}: {text}");
        seen.extend_from_slice(&chunk[..n]);
    }
}

async fn new_session(edge: &TestEdge, token: &str) -> String {
    let created = request(edge.addr, "POST", "/api/sessions", &[&bearer(token)], "").await;
    assert_eq!(created.status, 201, "{created:?}");
    let session: serde_json::Value = serde_json::from_str(&created.body).unwrap();
    session["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_shared_file_is_announced_and_served_to_its_owner_only_as_a_download() {
    let dir = tempfile::tempdir().unwrap();
    let (mut edge, shell) = edge_with_exec(&dir).await;
    let control = edge.control.clone().unwrap();
    let owner = edge.token(TokenScope::Chat).await;
    let session = new_session(&edge, &owner).await;
    let mut turn = open_turn(&edge, &owner, &session).await;
    shell.put(&session, "out/page.html", PAGE);

    let (status, answer) =
        send_file(&control, &sending(&session, "/workspace/out/page.html")).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        serde_json::json!({"status": "shared", "name": "page.html", "size": PAGE.len()})
    );
    // The session's stream says so, with the id to fetch it by.
    let event = read_until(&mut turn, "event: file").await;
    let data = event
        .split_once("data: ")
        .unwrap()
        .1
        .lines()
        .next()
        .unwrap();
    let data: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(data["name"], "page.html");
    assert_eq!(data["size"], PAGE.len());
    let id = data["id"].as_str().unwrap();
    let path = format!("/api/sessions/{session}/files/{id}");

    let served = get(edge.addr, &path, &[&bearer(&owner)]).await;
    assert_eq!(served.status, 200, "{served:?}");
    assert_eq!(served.body.as_bytes(), PAGE);
    assert_eq!(
        served.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(
        served.header("content-disposition").as_deref(),
        Some("attachment; filename=\"page.html\"")
    );
    assert_eq!(
        served.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(served.header("cache-control").as_deref(), Some("no-store"));

    // Another subject, even with the id, gets nothing; nor does anyone
    // without a credential, or an id the edge never gave.
    let stranger = edge.token(TokenScope::Chat).await;
    let refused = get(edge.addr, &path, &[&bearer(&stranger)]).await;
    assert_eq!(refused.status, 404, "{refused:?}");
    assert!(!refused.body.contains("script"));
    assert_eq!(get(edge.addr, &path, &[]).await.status, 401);
    let unknown = format!("/api/sessions/{session}/files/{}", "0".repeat(32));
    assert_eq!(
        get(edge.addr, &unknown, &[&bearer(&owner)]).await.status,
        404
    );

    drop(turn);
    edge.stop_serving().await; // shutdown flushes the buffer
    let records = edge.audit_records().await;
    let shared: Vec<_> = records
        .iter()
        .filter(|record| record["event"]["type"] == "file_shared")
        .collect();
    assert_eq!(shared.len(), 1, "{records:?}");
    assert_eq!(shared[0]["event"]["session"], session.as_str());
    assert_eq!(shared[0]["event"]["size"], PAGE.len());
    assert!(!edge.audit_text().await.contains("fetch("), "no content");
    edge.stop().await;
}

#[tokio::test]
async fn a_refused_send_file_tells_the_agent_why_and_shares_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut edge, shell) = edge_with_exec(&dir).await;
    let control = edge.control.clone().unwrap();
    let owner = edge.token(TokenScope::Chat).await;
    let session = new_session(&edge, &owner).await;
    shell.put(&session, "a.txt", b"a");
    let long = format!("/workspace/{}", "a/".repeat(2100));
    for (path, why) in [
        ("/workspace/missing.txt", "does not exist"),
        (long.as_str(), "longer than"),
    ] {
        let (status, answer) = send_file(&control, &sending(&session, path)).await;
        assert_eq!(status, 200);
        assert_eq!(answer["status"], "refused", "{path}");
        assert!(
            answer["reason"].as_str().unwrap().contains(why),
            "{path}: {answer}"
        );
    }
    let (_, answer) = send_file(&control, &sending("../etc", "/workspace/a.txt")).await;
    assert!(
        answer["reason"].as_str().unwrap().contains("session id"),
        "{answer}"
    );
    let (status, _) = send_file(&control, r#"{"session":"x"}"#).await;
    assert_eq!(status, 400);
    edge.stop_serving().await; // shutdown flushes the buffer
    let records = edge.audit_records().await;
    assert!(
        records
            .iter()
            .all(|record| record["event"]["type"] != "file_shared")
    );
    edge.stop().await;
}

#[tokio::test]
async fn a_chats_file_goes_into_its_subjects_own_sessions_only() {
    let dir = tempfile::tempdir().unwrap();
    let (mut edge, shell) = edge_with_exec(&dir).await;
    let turns = edge.turns.clone().unwrap();
    let subject = "channel:telegram:12345";
    let session = hardshell_edge::ChatTurns::new_session("tg", subject);
    let path = turns
        .deposit(subject, &session, "../holiday photo.JPG", b"jpeg".to_vec())
        .await
        .unwrap();
    assert_eq!(path, "/workspace/inbox/holiday_photo.JPG");
    let again = turns
        .deposit(subject, &session, "holiday photo.JPG", b"jpeg 2".to_vec())
        .await
        .unwrap();
    assert_eq!(again, "/workspace/inbox/holiday_photo-2.JPG");

    let stranger = "channel:telegram:999";
    let refused = turns
        .deposit(stranger, &session, "x.txt", b"x".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(refused, TurnError::NotOwned { .. }), "{refused}");
    let files = shell.files.lock().unwrap().clone();
    let names: Vec<_> = files.keys().map(|(_, path)| path.as_str()).collect();
    assert_eq!(
        names,
        ["inbox/holiday_photo-2.JPG", "inbox/holiday_photo.JPG"]
    );

    // A file the agent shares there is the subject's to fetch, no one
    // else's, by the id its turn's stream carries.
    let mut events = turns
        .send(subject, &session, "hi".into(), "req-files-1".into())
        .await
        .unwrap();
    shell.put(&session, "reply.txt", b"done");
    let control = edge.control.clone().unwrap();
    let (_, answer) = send_file(&control, &sending(&session, "/workspace/reply.txt")).await;
    assert_eq!(answer["status"], "shared", "{answer}");
    let id = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.next().await {
                Some(ChatEvent::File { id, name, size }) => {
                    assert_eq!((name.as_str(), size), ("reply.txt", 4));
                    break id;
                }
                Some(_) => {}
                None => panic!("the turn ended without the file"),
            }
        }
    })
    .await
    .unwrap();
    let file = turns.file(subject, &session, &id).unwrap();
    assert_eq!(
        (file.name.as_str(), &file.bytes[..]),
        ("reply.txt", &b"done"[..])
    );
    let refused = turns.file(stranger, &session, &id).unwrap_err();
    assert!(matches!(refused, TurnError::NotOwned { .. }), "{refused}");
    let unknown = turns.file(subject, &session, "nope").unwrap_err();
    assert!(matches!(unknown, TurnError::UnknownFile), "{unknown}");

    drop(events);
    edge.stop_serving().await; // shutdown flushes the buffer
    let records = edge.audit_records().await;
    let deposited: Vec<_> = records
        .iter()
        .filter(|record| record["event"]["type"] == "file_deposited")
        .collect();
    assert_eq!(deposited.len(), 2, "{records:?}");
    assert_eq!(deposited[0]["event"]["name"], "holiday_photo.JPG");
    assert_eq!(deposited[0]["event"]["size"], 4);
    edge.stop().await;
}
