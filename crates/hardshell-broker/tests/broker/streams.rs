//! Bodies longer than the scan window (`max_body_bytes`): sent on as they
//! arrive, on a plain-HTTP route and through an inspected tunnel, scanned in
//! passing; and answers streamed back as the destination sends them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use hardshell_broker::policy::Route;
use hardshell_broker::proxy::{Event, Limits};
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::support::upstream::{Destination, destination};
use crate::support::*;

/// Plain HTTP to this one.
const PLAIN: &str = "plain.stream.test";
/// Inspected, `API_KEY` bound to it.
const BOUND: &str = "api.stream.test";
/// The scan window: what the broker reads whole.
const WINDOW: usize = 64 << 10;

type Upload = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

struct Setup {
    socket: std::path::PathBuf,
    plain: Destination,
    tls: Destination,
    events: Arc<Mutex<Vec<Event>>>,
    issuer: Arc<TestIssuer>,
    _dir: tempfile::TempDir,
}

impl Setup {
    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// An HTTP/1.1 client on a fresh connection to the broker: absolute-form
    /// requests to plain-HTTP routes.
    async fn plain_client(&self) -> hyper::client::conn::http1::SendRequest<Upload> {
        let stream = UnixStream::connect(&self.socket).await.unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        sender
    }

    /// An HTTP/1.1 client inside an inspected tunnel to [`BOUND`].
    async fn tunnel_client(&self) -> hyper::client::conn::http1::SendRequest<Upload> {
        let mut stream = UnixStream::connect(&self.socket).await.unwrap();
        let port = self.tls.port;
        let ask = format!("CONNECT {BOUND}:{port} HTTP/1.1\r\nHost: {BOUND}:{port}\r\n\r\n");
        stream.write_all(ask.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            assert_eq!(stream.read(&mut byte).await.unwrap(), 1);
            head.push(byte[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 200"));
        let connector = tokio_rustls::TlsConnector::from(tls_trusting(&[self.issuer.ca()]));
        let name = ServerName::try_from(BOUND.to_owned()).unwrap();
        let tls = connector.connect(name, stream).await.unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(connection);
        sender
    }

    /// See [`crate::support::recorded`].
    async fn recorded(&self, matching: impl Fn(&Event) -> bool) -> bool {
        crate::support::recorded(&self.events, matching).await
    }
}

async fn setup() -> Setup {
    let plain = destination(None).await;
    let tls = destination(Some(BOUND)).await;
    let routes = vec![
        route(PLAIN, vec![plain.port]),
        Route {
            inspect: true,
            ..route(BOUND, vec![tls.port])
        },
    ];
    let mut broker = loopback_broker(routes, tls_trusting(&[tls.cert.clone().unwrap()]));
    bind_token(&mut broker, "API_KEY", BOUND, None);
    // A shell may hold no more than two windows' worth of request bytes:
    // a body of megabytes gets through only if it is never held whole.
    broker.limits = Limits {
        max_body_bytes: WINDOW,
        max_buffered_bytes: 2 * WINDOW,
        ..Limits::default()
    };
    let (events, issuer) = inspecting(&mut broker);
    let (socket, dir) = serve(broker);
    Setup {
        socket,
        plain,
        tls,
        events,
        issuer,
        _dir: dir,
    }
}

/// A body sent in `pieces`, chunked (no length stated).
fn upload(pieces: Vec<Vec<u8>>) -> Upload {
    let frames = futures::stream::iter(
        pieces
            .into_iter()
            .map(|piece| Ok::<_, std::io::Error>(Frame::data(Bytes::from(piece)))),
    );
    BodyExt::boxed(http_body_util::StreamBody::new(frames))
}

/// `total` bytes of text in 16 KiB pieces.
fn text(total: usize, fill: u8) -> Vec<Vec<u8>> {
    let whole = vec![fill; total];
    whole.chunks(16 << 10).map(<[u8]>::to_vec).collect()
}

/// What [`post`] gives for an answer's body that did not arrive whole.
const CUT: &str = "(the connection ended before the answer's body)";

/// Sends `body` as a POST to `uri`; the status and answer, or `None` when
/// the broker closed the connection first (it may, cutting an upload).
async fn post(
    sender: &mut hyper::client::conn::http1::SendRequest<Upload>,
    uri: &str,
    host: &str,
    length: Option<usize>,
    body: Upload,
) -> Option<(u16, String)> {
    let mut request = http::Request::post(uri).header("host", host);
    if let Some(length) = length {
        request = request.header("content-length", length);
    }
    let response = sender
        .send_request(request.body(body).unwrap())
        .await
        .ok()?;
    let status = response.status().as_u16();
    // A client still sending when the broker cut its body may lose the
    // answer's body with its connection; the head has arrived.
    let body = match response.into_body().collect().await {
        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        Err(_) => CUT.to_owned(),
    };
    Some((status, body))
}

#[tokio::test]
async fn a_long_upload_streams_through_a_plain_route_whole() {
    let s = setup().await;
    let pieces = text(4 << 20, b'a');
    let sent = pieces.concat();
    let mut client = s.plain_client().await;
    let uri = format!("http://{PLAIN}:{}/upload", s.plain.port);
    let answer = post(&mut client, &uri, PLAIN, None, upload(pieces)).await;
    assert_eq!(answer, Some((200, format!("got {} bytes", sent.len()))));
    assert!(s.plain.received() == sent, "the body arrived changed");
}

#[tokio::test]
async fn a_long_upload_streams_through_an_inspected_tunnel_with_its_window_swapped() {
    let s = setup().await;
    // A placeholder in the window is swapped as in any body; the length the
    // shell stated is corrected for it.
    let mut pieces = vec![b"key=hs-secret:API_KEY&data=".to_vec()];
    pieces.extend(text(3 << 20, b'a'));
    let stated = pieces.iter().map(Vec::len).sum();
    let mut client = s.tunnel_client().await;
    let answer = post(
        &mut client,
        "/upload",
        BOUND,
        Some(stated),
        upload(pieces.clone()),
    )
    .await;
    let expected = pieces.concat();
    let expected = String::from_utf8(expected)
        .unwrap()
        .replacen("hs-secret:API_KEY", TOKEN, 1);
    assert_eq!(answer, Some((200, format!("got {} bytes", expected.len()))));
    assert!(
        s.tls.received() == expected.as_bytes(),
        "the body arrived changed"
    );
    // And the binary: no text to swap, passed as it is.
    let binary: Vec<Vec<u8>> = (0..64)
        .map(|i| (0..16 << 10).map(|j| ((i * 7 + j) % 251) as u8).collect())
        .collect();
    let answer = post(&mut client, "/upload", BOUND, None, upload(binary.clone())).await;
    assert_eq!(answer, Some((200, format!("got {} bytes", 1 << 20))));
    assert!(s.tls.received().ends_with(&binary.concat()));
}

/// Asserts the destination got none of `secret` and nothing of what was
/// sent after it (`after`), never a whole body, and the leak is on record.
async fn cut_at_the_secret(
    s: &Setup,
    d: &Destination,
    secret: &[u8],
    after: u8,
    answer: Option<(u16, String)>,
) {
    let (status, body) = answer.expect("the shell was told");
    assert_eq!(status, 403, "{body}");
    assert!(
        body == CUT || body.contains("the value of secret API_KEY"),
        "{body}"
    );
    let received = d.received();
    assert!(
        !received.is_empty(),
        "the body before the secret was sent on"
    );
    assert!(!received.contains(&after), "bytes after the secret arrived");
    let start = &secret[..12];
    assert!(
        !received.windows(start.len()).any(|w| w == start),
        "part of the secret arrived"
    );
    assert_eq!(d.whole(), 0);
    let leak = |e: &Event| matches!(e, Event::LeakBlocked { name, .. } if name == "API_KEY");
    assert!(s.recorded(leak).await, "{:?}", s.events());
}

#[tokio::test]
async fn a_secret_split_across_pieces_deep_in_a_streamed_body_cuts_it() {
    let s = setup().await;
    let (first, second) = TOKEN.as_bytes().split_at(17);
    let mut pieces = text(1 << 20, b'a');
    pieces.push([b"aaaa token=".as_slice(), first].concat());
    pieces.push(second.to_vec());
    pieces.extend(text(1 << 20, b'b'));
    let mut client = s.plain_client().await;
    let uri = format!("http://{PLAIN}:{}/upload", s.plain.port);
    let answer = post(&mut client, &uri, PLAIN, None, upload(pieces)).await;
    cut_at_the_secret(&s, &s.plain, TOKEN.as_bytes(), b'b', answer).await;
}

#[tokio::test]
async fn a_base64d_secret_in_a_streamed_body_through_a_tunnel_cuts_it() {
    let s = setup().await;
    let encoded = base64::engine::general_purpose::STANDARD.encode(TOKEN);
    let (first, second) = encoded.as_bytes().split_at(21);
    let mut pieces = text(512 << 10, b'a');
    pieces.push([b"aaa".as_slice(), first].concat());
    pieces.push(second.to_vec());
    pieces.extend(text(512 << 10, b'b'));
    let mut client = s.tunnel_client().await;
    let answer = post(&mut client, "/upload", BOUND, None, upload(pieces)).await;
    cut_at_the_secret(&s, &s.tls, encoded.as_bytes(), b'b', answer).await;
}

#[tokio::test]
async fn a_placeholder_past_the_window_cuts_the_body() {
    let s = setup().await;
    let mut pieces = text(256 << 10, b'a');
    pieces.push(b"&key=hs-secret:API_KEY".to_vec());
    pieces.extend(text(256 << 10, b'b'));
    let mut client = s.tunnel_client().await;
    let answer = post(&mut client, "/upload", BOUND, None, upload(pieces)).await;
    assert_eq!(answer.map(|(status, _)| status), Some(403));
    let received = s.tls.received();
    assert!(!received.contains(&b'b'));
    assert!(!received.windows(9).any(|w| w == b"hs-secret"));
    assert!(!received.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()));
    let cut = |e: &Event| matches!(e, Event::Denied { reason, .. } if reason.contains("placeholder past its first 65536 bytes"));
    assert!(s.recorded(cut).await, "{:?}", s.events());
}

#[tokio::test]
async fn a_placeholder_at_the_windows_edge_is_never_half_swapped() {
    let s = setup().await;
    let mut client = s.tunnel_client().await;
    // The window ends inside the name (`hs-secret:API` + `_KEY`): refused
    // before anything is sent.
    let mut edge = vec![b'a'; WINDOW - "hs-secret:API".len()];
    edge.extend_from_slice(b"hs-secret:API_KEY and more");
    let mut pieces = vec![edge];
    pieces.extend(text(128 << 10, b'b'));
    let answer = post(&mut client, "/upload", BOUND, None, upload(pieces)).await;
    assert_eq!(answer.map(|(status, _)| status), Some(403));
    assert!(s.tls.received().is_empty());
    let refused = |e: &Event| matches!(e, Event::Denied { reason, .. } if reason.contains("cut by the end of its first 65536 bytes"));
    assert!(s.recorded(refused).await, "{:?}", s.events());

    // The window ends inside the prefix (`hs-sec` + `ret:API_KEY`): the
    // window leaves, the placeholder is found across its edge and the body
    // cut there.
    let mut client = s.tunnel_client().await;
    let mut edge = vec![b'a'; WINDOW - "hs-sec".len()];
    edge.extend_from_slice(b"hs-secret:API_KEY and more");
    let mut pieces = vec![edge];
    pieces.extend(text(128 << 10, b'b'));
    let _ = post(&mut client, "/upload", BOUND, None, upload(pieces)).await;
    let cut = |e: &Event| matches!(e, Event::Denied { reason, .. } if reason.contains("placeholder past its first"));
    assert!(s.recorded(cut).await, "{:?}", s.events());
    let received = s.tls.received();
    assert!(!received.contains(&b'b'));
    assert!(!received.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()));
    assert_eq!(s.tls.whole(), 0);
}

#[tokio::test]
async fn server_sent_events_pass_an_inspected_tunnel_one_by_one() {
    // From the host a secret is bound to, so the answer is read for its
    // echo on the way: an event that cannot begin the value is not held.
    let s = setup().await;
    let mut client = s.tunnel_client().await;
    let request = http::Request::get("/events")
        .header("host", BOUND)
        .body(upload(Vec::new()))
        .unwrap();
    let response = client.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut next = async || {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("the event did not come through while the stream was open");
        frame.unwrap().unwrap().into_data().unwrap()
    };
    // The destination sends the second only once the first is here.
    assert_eq!(next().await, "data: one\n\n");
    s.tls.release.notify_one();
    assert_eq!(next().await, "data: two\n\n");
}

#[tokio::test]
async fn a_destination_that_stops_taking_a_streamed_body_is_given_up_on() {
    let silent = silent_server().await;
    let mut broker = loopback_broker(vec![route(PLAIN, vec![silent])], test_tls());
    broker.limits = Limits {
        max_body_bytes: WINDOW,
        response_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let (socket, _dir) = serve(broker);
    let stream = UnixStream::connect(&socket).await.unwrap();
    let (mut client, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    // More than the sockets between them hold: the broker's writes stall.
    let pieces = text(64 << 20, b'a');
    let uri = format!("http://{PLAIN}:{silent}/upload");
    let answer = tokio::time::timeout(
        Duration::from_secs(20),
        post(&mut client, &uri, PLAIN, None, upload(pieces)),
    )
    .await
    .expect("the broker waited for good");
    assert_eq!(answer.map(|(status, _)| status), Some(504));
}

#[tokio::test]
async fn a_streamed_body_is_counted_and_cut_when_the_budget_is_spent() {
    let plain = destination(None).await;
    let mut broker = loopback_broker(vec![route(PLAIN, vec![plain.port])], test_tls());
    broker.limits = Limits {
        max_body_bytes: WINDOW,
        max_bytes: 512 << 10,
        ..Limits::default()
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    broker.events = Arc::new(move |event| sink.lock().unwrap().push(event));
    let (socket, _dir) = serve(broker);
    let stream = UnixStream::connect(&socket).await.unwrap();
    let (mut client, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let uri = format!("http://{PLAIN}:{}/upload", plain.port);
    let answer = post(&mut client, &uri, PLAIN, None, upload(text(2 << 20, b'a'))).await;
    assert_eq!(answer.map(|(status, _)| status), Some(429));
    assert!(plain.received().len() < 512 << 10);
    assert_eq!(plain.whole(), 0);
    assert!(events.lock().unwrap().iter().any(|e| matches!(
        e,
        Event::Denied { reason, .. } if reason == "this shell has moved all the bytes it may"
    )));
}
