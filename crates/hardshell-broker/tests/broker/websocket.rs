//! WebSockets inside an inspected tunnel, between a real client and a real
//! server (tungstenite's) in TLS: the upgrade admitted and swapped like any
//! request, the frames relayed and scanned.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hardshell_broker::policy::Route;
use hardshell_broker::proxy::{Event, Limits};
use rustls::pki_types::ServerName;
use tokio::net::{TcpListener, UnixStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::*;

const BOUND: &str = "ws.inspect.test";

/// A handshake's target and its headers (`name: value`).
type Handshake = (String, Vec<String>);

/// What the WebSocket server saw: each handshake's target and headers, and
/// each message.
#[derive(Clone, Default)]
struct Seen {
    handshakes: Arc<Mutex<Vec<Handshake>>>,
    messages: Arc<Mutex<Vec<String>>>,
}

/// A WebSocket server in TLS for [`BOUND`]: echoes each text message, and
/// answers `send the key` with the value of [`TOKEN`].
// tungstenite's handshake callback returns an HTTP response as its error.
#[allow(clippy::result_large_err)]
async fn websocket_server() -> (u16, Seen, rustls::pki_types::CertificateDer<'static>) {
    let (acceptor, cert) = crate::support::tls_acceptor(BOUND);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Seen::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, log) = (acceptor.clone(), log.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let handshakes = log.handshakes.clone();
                let record =
                    move |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
                          response| {
                        let headers = request
                            .headers()
                            .iter()
                            .map(|(name, value)| {
                                format!("{name}: {}", value.to_str().unwrap_or(""))
                            })
                            .collect();
                        handshakes
                            .lock()
                            .unwrap()
                            .push((request.uri().to_string(), headers));
                        Ok(response)
                    };
                let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, record).await
                else {
                    return;
                };
                while let Some(Ok(message)) = socket.next().await {
                    let Message::Text(text) = message else {
                        continue;
                    };
                    log.messages.lock().unwrap().push(text.to_string());
                    let answer = if text.as_str() == "send the key" {
                        TOKEN.to_owned()
                    } else {
                        text.to_string()
                    };
                    if socket.send(Message::text(answer)).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, seen, cert)
}

struct Setup {
    socket: std::path::PathBuf,
    port: u16,
    seen: Seen,
    events: Arc<Mutex<Vec<Event>>>,
    issuer: Arc<TestIssuer>,
    _dir: tempfile::TempDir,
}

impl Setup {
    /// See [`crate::support::recorded`].
    async fn recorded(&self, matching: impl Fn(&Event) -> bool) -> bool {
        crate::support::recorded(&self.events, matching).await
    }

    fn messages(&self) -> Vec<String> {
        self.seen.messages.lock().unwrap().clone()
    }
}

async fn setup() -> Setup {
    setup_with(|_| {}).await
}

/// [`setup`], with the broker's limits as `limits` leaves them.
async fn setup_with(limits: impl FnOnce(&mut Limits)) -> Setup {
    let (port, seen, cert) = websocket_server().await;
    let mut broker = loopback_broker(
        vec![Route {
            inspect: true,
            ..route(BOUND, vec![port])
        }],
        tls_trusting(&[cert]),
    );
    bind_token(&mut broker, "API_KEY", BOUND, None);
    let (events, issuer) = inspecting(&mut broker);
    limits(&mut broker.limits);
    let (socket, dir) = serve(broker);
    Setup {
        socket,
        port,
        seen,
        events,
        issuer,
        _dir: dir,
    }
}

type Client = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<UnixStream>>;

/// A WebSocket to `target` through an inspected tunnel, offering
/// compression as browsers do.
async fn open(s: &Setup, target: &str) -> Client {
    let port = s.port;
    let (stream, head) = connect(&s.socket, BOUND, port).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let connector = tokio_rustls::TlsConnector::from(tls_trusting(&[s.issuer.ca()]));
    let name = ServerName::try_from(BOUND.to_owned()).unwrap();
    let tls = connector.connect(name, stream).await.unwrap();
    let mut request = format!("wss://{BOUND}:{port}{target}")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-extensions",
        http::HeaderValue::from_static("permessage-deflate; client_max_window_bits"),
    );
    let (client, response) = tokio_tungstenite::client_async(request, tls).await.unwrap();
    assert_eq!(response.status(), 101);
    client
}

/// The next text message, or `None` once the connection has ended.
async fn next_text(client: &mut Client) -> Option<String> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), client.next())
            .await
            .expect("neither a message nor the end came");
        match message {
            Some(Ok(Message::Text(text))) => return Some(text.to_string()),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

#[tokio::test]
async fn a_websocket_through_an_inspected_tunnel_echoes_with_its_handshake_swapped() {
    let s = setup().await;
    let mut client = open(&s, "/socket?token=hs-secret:API_KEY").await;
    client.send(Message::text("hello")).await.unwrap();
    assert_eq!(next_text(&mut client).await.as_deref(), Some("hello"));
    client.send(Message::text("again")).await.unwrap();
    assert_eq!(next_text(&mut client).await.as_deref(), Some("again"));
    let handshakes = s.seen.handshakes.lock().unwrap().clone();
    let (target, headers) = &handshakes[0];
    // The placeholder in the query swapped; no compression offered on.
    assert_eq!(target, &format!("/socket?token={TOKEN}"));
    assert!(
        !headers
            .iter()
            .any(|h| h.starts_with("sec-websocket-extensions")),
        "{headers:?}"
    );
    assert_eq!(s.messages(), ["hello", "again"]);
}

#[tokio::test]
async fn a_secret_in_a_websocket_frame_ends_it_before_the_destination_sees_it() {
    let s = setup().await;
    let mut client = open(&s, "/socket").await;
    client.send(Message::text("hello")).await.unwrap();
    assert_eq!(next_text(&mut client).await.as_deref(), Some("hello"));
    let _ = client
        .send(Message::text(format!("the key is {TOKEN}")))
        .await;
    assert_eq!(next_text(&mut client).await, None);
    assert_eq!(s.messages(), ["hello"]);
    let leak = |e: &Event| matches!(e, Event::LeakBlocked { name, .. } if name == "API_KEY");
    assert!(s.recorded(leak).await);
}

#[tokio::test]
async fn a_placeholder_in_a_websocket_frame_ends_it_unsent() {
    let s = setup().await;
    let mut client = open(&s, "/socket").await;
    let _ = client
        .send(Message::text("{\"token\": \"hs-secret:API_KEY\"}"))
        .await;
    assert_eq!(next_text(&mut client).await, None);
    assert!(s.messages().is_empty());
    let refused = |e: &Event| matches!(e, Event::Denied { reason, .. } if reason.contains("placeholder in a WebSocket frame"));
    assert!(s.recorded(refused).await);
}

#[tokio::test]
async fn a_bound_value_in_the_destinations_frame_never_reaches_the_shell() {
    let s = setup().await;
    let mut client = open(&s, "/socket").await;
    client.send(Message::text("send the key")).await.unwrap();
    // The frame with the value is not relayed: the connection ends.
    assert_eq!(next_text(&mut client).await, None);
    let ended = |e: &Event| matches!(e, Event::Denied { reason, .. } if reason.contains("destination sent the value of secret API_KEY"));
    assert!(s.recorded(ended).await);
}

#[tokio::test]
async fn a_secret_split_across_a_messages_frames_around_a_ping_ends_it() {
    // A message in two frames, a ping between them (as RFC 6455 allows):
    // the message's pieces are scanned as one.
    let s = setup().await;
    let mut client = open(&s, "/socket").await;
    let (first, second) = TOKEN.split_at(15);
    let frame = |opcode, fin, payload: &str| {
        let mut header = tokio_tungstenite::tungstenite::protocol::frame::Frame::message(
            payload.as_bytes().to_vec(),
            opcode,
            fin,
        );
        header.header_mut().is_final = fin;
        Message::Frame(header)
    };
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let _ = client
        .send(frame(
            OpCode::Data(Data::Text),
            false,
            &format!("key {first}"),
        ))
        .await;
    let _ = client.send(Message::Ping(b"ping".to_vec().into())).await;
    let _ = client
        .send(frame(OpCode::Data(Data::Continue), true, second))
        .await;
    assert_eq!(next_text(&mut client).await, None);
    assert!(s.messages().is_empty());
    let leak = |e: &Event| matches!(e, Event::LeakBlocked { name, .. } if name == "API_KEY");
    assert!(s.recorded(leak).await);
}

#[tokio::test]
async fn a_websocket_frame_past_the_shells_buffer_allowance_ends_it() {
    let s = setup_with(|limits| limits.max_buffered_bytes = 4096).await;
    let mut client = open(&s, "/socket").await;
    client.send(Message::text("small")).await.unwrap();
    assert_eq!(next_text(&mut client).await.as_deref(), Some("small"));
    let _ = client.send(Message::text("x".repeat(16 << 10))).await;
    assert_eq!(next_text(&mut client).await, None);
    assert_eq!(s.messages(), ["small"]);
    let held = |e: &Event| matches!(e, Event::Denied { reason, .. } if reason.contains("too many bytes held"));
    assert!(s.recorded(held).await);
}

#[tokio::test]
async fn a_frame_announced_and_never_finished_ends_the_connection_within_body_idle() {
    use tokio::io::AsyncWriteExt;
    let s = setup_with(|limits| limits.body_idle = Duration::from_millis(300)).await;
    let mut client = open(&s, "/socket").await;
    client.send(Message::text("small")).await.unwrap();
    assert_eq!(next_text(&mut client).await.as_deref(), Some("small"));
    // A masked text frame announcing 2000 bytes, of which ten come: the
    // broker holds permits for it while it waits for the rest.
    let mut frame = vec![0x81, 0x80 | 126, 0x07, 0xd0, 1, 2, 3, 4];
    frame.extend_from_slice(&[0x55; 10]);
    let raw = client.get_mut();
    raw.write_all(&frame).await.unwrap();
    raw.flush().await.unwrap();
    // Not held for good: the connection ends once body_idle has passed.
    let started = std::time::Instant::now();
    assert_eq!(next_text(&mut client).await, None);
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(s.messages(), ["small"]);
}
