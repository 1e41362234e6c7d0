//! Inspected tunnels: a shell's `CONNECT` whose TLS the broker terminates
//! (with a leaf from a test CA the client trusts), read and checked like a
//! plain-HTTP request on a TLS route, then sent in checked TLS to the real
//! destination (an HTTPS echo server with its own test CA).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use hardshell_broker::policy::Route;
use hardshell_broker::proxy::{Broker, Event, Limits};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::support::*;

const BOUND: &str = "api.inspect.test";
const UNBOUND: &str = "free.inspect.test";
const LIMITED: &str = "get-only.inspect.test";

struct Setup {
    socket: std::path::PathBuf,
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    events: Arc<Mutex<Vec<Event>>>,
    issuer: Arc<TestIssuer>,
    _dir: tempfile::TempDir,
}

impl Setup {
    fn seen(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// See [`crate::support::recorded`].
    async fn recorded(&self, matching: impl Fn(&Event) -> bool) -> bool {
        crate::support::recorded(&self.events, matching).await
    }
}

/// A broker with inspected routes to an HTTPS echo server, `API_KEY` bound
/// to [`BOUND`] (anywhere in its requests) and scanned for everywhere.
async fn setup() -> Setup {
    setup_with(|_| {}).await
}

/// [`setup`], with the broker's limits as `limits` leaves them.
async fn setup_with(limits: impl FnOnce(&mut Limits)) -> Setup {
    let (port, seen, cert) = tls_echo_server(BOUND).await;
    let inspected = |host: &str| Route {
        inspect: true,
        ..route(host, vec![port])
    };
    let limited = Route {
        methods: Some(vec!["GET".into()]),
        ..inspected(LIMITED)
    };
    let mut broker: Broker = loopback_broker(
        vec![inspected(BOUND), inspected(UNBOUND), limited],
        tls_trusting(&[cert]),
    );
    bind_token(&mut broker, "API_KEY", BOUND, None);
    limits(&mut broker.limits);
    let (events, issuer) = inspecting(&mut broker);
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

/// TLS inside the tunnel, as a client that trusts `ca` and asks for `sni`.
async fn handshake(
    stream: UnixStream,
    ca: CertificateDer<'static>,
    sni: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<UnixStream>> {
    let connector = tokio_rustls::TlsConnector::from(tls_trusting(&[ca]));
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    connector.connect(name, stream).await
}

/// One request through an inspected tunnel to `host` (SNI `host`); the
/// answer, whole.
async fn through(s: &Setup, host: &str, request: &str) -> String {
    let (stream, head) = connect(&s.socket, host, s.port).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut tls = handshake(stream, s.issuer.ca(), host).await.unwrap();
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // Data read before a missing close_notify stays in `answer`.
    let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn an_inspected_tunnel_swaps_placeholders_and_turns_the_echo_back() {
    let s = setup().await;
    let port = s.port;
    let response = through(
        &s,
        BOUND,
        &format!(
            "GET /boths-secret:API_KEY/send?key=hs-secret:API_KEY HTTP/1.1\r\nHost: {BOUND}:{port}\r\nx-api-key: hs-secret:API_KEY\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    // The destination got the value in the path, the query and the header.
    let received = s.seen.lock().unwrap().last().cloned().unwrap();
    assert!(
        received.starts_with(&format!("GET /bot{TOKEN}/send?key={TOKEN} HTTP/1.1")),
        "{received}"
    );
    assert!(
        received.contains(&format!("x-api-key: {TOKEN}")),
        "{received}"
    );
    assert!(
        !received.to_ascii_lowercase().contains("accept-encoding"),
        "{received}"
    );
    // The shell gets its placeholders back, never the value.
    assert!(!response.contains(TOKEN), "{response}");
    assert!(
        response.contains("GET /boths-secret:API_KEY/send?key=hs-secret:API_KEY"),
        "{response}"
    );
    assert!(
        response.contains("x-api-key: hs-secret:API_KEY"),
        "{response}"
    );
    // A leaf was issued for the CONNECT host only; the record says the
    // tunnel and its request were inspected.
    assert_eq!(s.issuer.issued(), [BOUND]);
    let events = s.events();
    for tunnel in [true, false] {
        assert!(
            events.contains(&Event::Allowed {
                host: BOUND.into(),
                port,
                tunnel,
                inspected: true,
            }),
            "{events:?}"
        );
    }
}

#[tokio::test]
async fn a_server_name_other_than_the_connect_host_is_refused_before_any_leaf() {
    let s = setup().await;
    let (stream, head) = connect(&s.socket, BOUND, s.port).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Fronting: the tunnel to one host, the TLS (and requests) for another.
    assert!(handshake(stream, s.issuer.ca(), UNBOUND).await.is_err());
    assert!(s.issuer.issued().is_empty());
    assert_eq!(s.seen(), 0);
    let refused = Event::Denied {
        host: BOUND.into(),
        port: s.port,
        reason: "the TLS server name is not the CONNECT host".into(),
    };
    assert!(s.recorded(|e| *e == refused).await, "{:?}", s.events());
}

#[tokio::test]
async fn a_host_other_than_the_server_name_inside_the_tunnel_is_refused() {
    let s = setup().await;
    let port = s.port;
    let response = through(
        &s,
        BOUND,
        &format!("GET / HTTP/1.1\r\nHost: {UNBOUND}:{port}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert_eq!(s.seen(), 0);
    assert!(
        s.events().iter().any(|e| matches!(
            e,
            Event::Denied { host, reason, .. }
                if host == BOUND && reason.contains("names another host")
        )),
        "{:?}",
        s.events()
    );
}

#[tokio::test]
async fn a_placeholder_to_an_unbound_host_over_an_inspected_tunnel_is_refused() {
    let s = setup().await;
    let response = through(
        &s,
        UNBOUND,
        &format!(
            "GET /x HTTP/1.1\r\nHost: {UNBOUND}\r\nx-api-key: hs-secret:API_KEY\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(
        response.contains("secret API_KEY is not bound to free.inspect.test"),
        "{response}"
    );
    assert_eq!(s.seen(), 0);
    assert!(s.events().contains(&Event::SecretMisdirected {
        name: "API_KEY".into(),
        host: UNBOUND.into(),
    }));
}

#[tokio::test]
async fn a_secret_value_in_an_inspected_body_to_an_unbound_host_is_refused() {
    let s = setup().await;
    let body = base64::engine::general_purpose::STANDARD.encode(TOKEN);
    let response = through(
        &s,
        UNBOUND,
        &format!(
            "POST /upload HTTP/1.1\r\nHost: {UNBOUND}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert_eq!(s.seen(), 0);
    assert!(s.events().contains(&Event::LeakBlocked {
        name: "API_KEY".into(),
        host: UNBOUND.into(),
    }));
}

#[tokio::test]
async fn an_inspected_route_keeps_its_method_rule_inside_the_tunnel() {
    let s = setup().await;
    let response = through(
        &s,
        LIMITED,
        &format!("DELETE /x HTTP/1.1\r\nHost: {LIMITED}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(
        response.contains("DELETE is not allowed for get-only.inspect.test"),
        "{response}"
    );
    assert_eq!(s.seen(), 0);
}

#[tokio::test]
async fn an_inspected_route_without_an_issuer_is_refused() {
    let (port, seen, cert) = tls_echo_server(BOUND).await;
    let broker = loopback_broker(
        vec![Route {
            inspect: true,
            ..route(BOUND, vec![port])
        }],
        tls_trusting(&[cert]),
    );
    let (socket, _dir) = serve(broker);
    let (_stream, head) = connect(&socket, BOUND, port).await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert!(seen.lock().unwrap().is_empty());
}

/// An h2 connection through an inspected tunnel to `host`, as undici or a
/// browser would open one (ALPN `h2`).
async fn h2_through<B>(s: &Setup, host: &str) -> hyper::client::conn::http2::SendRequest<B>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (stream, head) = connect(&s.socket, host, s.port).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut config = (*tls_trusting(&[s.issuer.ca()])).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(host.to_owned()).unwrap();
    let tls = connector.connect(name, stream).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    sender
}

/// Sends `request` on `sender`; the status and the body as text.
async fn h2_send(
    sender: &mut hyper::client::conn::http2::SendRequest<http_body_util::Full<bytes::Bytes>>,
    uri: &str,
    header: Option<(&str, &str)>,
) -> (u16, String) {
    use http_body_util::BodyExt as _;
    let mut request = http::Request::get(uri);
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    let request = request.body(http_body_util::Full::default()).unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn an_inspected_h2_connection_swaps_placeholders_and_refuses_a_coalesced_host() {
    let s = setup().await;
    let port = s.port;
    let mut sender = h2_through(&s, BOUND).await;
    let (status, body) = h2_send(
        &mut sender,
        &format!("https://{BOUND}:{port}/boths-secret:API_KEY/send?key=hs-secret:API_KEY"),
        Some(("x-api-key", "hs-secret:API_KEY")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let received = s.seen.lock().unwrap().last().cloned().unwrap();
    // Sent on in HTTP/1.1, the values in place.
    assert!(
        received.starts_with(&format!("GET /bot{TOKEN}/send?key={TOKEN} HTTP/1.1")),
        "{received}"
    );
    assert!(
        received.contains(&format!("x-api-key: {TOKEN}")),
        "{received}"
    );
    assert!(!body.contains(TOKEN), "{body}");
    assert!(body.contains("x-api-key: hs-secret:API_KEY"), "{body}");

    // Another host's request on the same connection (as a client coalesces
    // onto a connection whose certificate it believes covers both): refused,
    // recorded, nothing sent; the connection still serves its own host.
    let before = s.seen();
    let (status, body) = h2_send(
        &mut sender,
        &format!("https://{UNBOUND}:{port}/x"),
        Some(("x-api-key", "hs-secret:API_KEY")),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(s.seen(), before);
    assert!(
        s.events().iter().any(|e| matches!(
            e,
            Event::Denied { host, reason, .. }
                if host == BOUND && reason.contains("names another host")
        )),
        "{:?}",
        s.events()
    );
    let (status, _) = h2_send(&mut sender, &format!("https://{BOUND}:{port}/again"), None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn each_h2_request_takes_one_of_the_shells_connection_slots() {
    // Two slots. The tunnel holds one (the connection it came on gave its
    // own back when it became the tunnel), a request on it the other...
    let s = setup_with(|limits| limits.max_connections = 2).await;
    let mut sender = h2_through(&s, BOUND).await;
    let (status, body) = h2_send(&mut sender, &format!("https://{BOUND}:{}/x", s.port), None).await;
    assert_eq!(status, 200, "{body}");
    // ...so with the second held by another connection of the shell, a
    // request on the tunnel is refused and nothing is sent: h2's streams
    // cannot open more upstream work than the shell may.
    let before = s.seen();
    let _other = UnixStream::connect(&s.socket).await.unwrap();
    // Accepted (and counted) by the broker's loop, not by this task.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = h2_send(&mut sender, &format!("https://{BOUND}:{}/y", s.port), None).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(s.seen(), before);
}

/// Whether `reason` is the refused-leaf record for [`BOUND`]'s route.
fn names_the_route(reason: &str) -> bool {
    reason.starts_with(&format!(
        "the shell's client refused the broker's certificate for {BOUND} (a certificate-pinning client, or one that does not trust the egress CA): give the route for {BOUND} `inspect = false` to tunnel it raw"
    ))
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_egress_ca_fails_and_the_record_names_the_route() {
    // A certificate-pinning client, as far as the broker can tell: it
    // refuses the leaf. It gets a failed handshake, never a raw tunnel, and
    // the record says what happened and which route to change.
    let s = setup().await;
    let (stream, head) = connect(&s.socket, BOUND, s.port).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let pinned = TestIssuer::new();
    assert!(handshake(stream, pinned.ca(), BOUND).await.is_err());
    assert_eq!(s.seen(), 0);
    let failed = |e: &Event| {
        matches!(
            e,
            Event::Denied { host, reason, .. }
                if host == BOUND && names_the_route(reason) && reason.contains("alert")
        )
    };
    assert!(s.recorded(failed).await, "{:?}", s.events());
}

#[tokio::test]
async fn a_client_that_hangs_up_after_the_certificate_is_recorded_as_refusing_it() {
    // Some pinning clients send no alert: they close once they have seen
    // the certificate. Played here by a rustls client whose refusal (and
    // alert) is never sent.
    let s = setup().await;
    let (mut stream, head) = connect(&s.socket, BOUND, s.port).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let config = tls_trusting(&[TestIssuer::new().ca()]);
    let name = ServerName::try_from(BOUND.to_owned()).unwrap();
    let mut client = rustls::ClientConnection::new(config, name).unwrap();
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    stream.write_all(&hello).await.unwrap();
    // The server's flight, certificate included, is read; then the line
    // goes dead.
    let mut flight = vec![0u8; 16384];
    let n = stream.read(&mut flight).await.unwrap();
    assert!(n > 0);
    drop(stream);
    let failed = |e: &Event| {
        matches!(
            e,
            Event::Denied { host, reason, .. } if host == BOUND && names_the_route(reason)
        )
    };
    assert!(s.recorded(failed).await, "{:?}", s.events());
    assert_eq!(s.seen(), 0);
}

#[tokio::test]
async fn a_handshake_that_fails_for_another_reason_does_not_blame_the_certificate() {
    // A broken handshake message after the hello: no leaf was judged.
    let s = setup().await;
    let (mut stream, head) = connect(&s.socket, BOUND, s.port).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let config = tls_trusting(&[s.issuer.ca()]);
    let name = ServerName::try_from(BOUND.to_owned()).unwrap();
    let mut client = rustls::ClientConnection::new(config, name).unwrap();
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    stream.write_all(&hello).await.unwrap();
    let mut flight = vec![0u8; 16384];
    assert!(stream.read(&mut flight).await.unwrap() > 0);
    stream
        .write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])
        .await
        .unwrap();
    let failed = |e: &Event| {
        matches!(
            e,
            Event::Denied { host, reason, .. }
                if host == BOUND && reason.starts_with("the TLS handshake with the shell failed")
        )
    };
    assert!(s.recorded(failed).await, "{:?}", s.events());
    assert!(!s.events().iter().any(|e| matches!(
        e,
        Event::Denied { reason, .. } if names_the_route(reason)
    )));
}

type Streamed = http_body_util::StreamBody<
    futures::stream::BoxStream<'static, Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>>,
>;

/// Whether the client's side of an h2 connection sees it closed within
/// `within`.
async fn h2_closed<B>(
    sender: &mut hyper::client::conn::http2::SendRequest<B>,
    within: Duration,
) -> bool
where
    B: hyper::body::Body + 'static,
{
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if sender.is_closed() || sender.ready().await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn an_idle_inspected_h2_connection_is_closed_and_a_busy_one_is_not() {
    let idle = Duration::from_millis(300);
    let s = setup_with(|limits| limits.idle = idle).await;
    let uri = format!("https://{BOUND}:{}/upload", s.port);

    // Busy: a request whose body takes three times the idle limit to come.
    let mut busy = h2_through::<Streamed>(&s, BOUND).await;
    let chunks = futures::stream::unfold(0, |sent| async move {
        if sent == 6 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        Some((
            Ok(hyper::body::Frame::data(bytes::Bytes::from("slow."))),
            sent + 1,
        ))
    });
    let body = http_body_util::StreamBody::new(futures::StreamExt::boxed(chunks));
    let request = http::Request::post(&uri).body(body).unwrap();
    let response = busy.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    use http_body_util::BodyExt as _;
    let echoed = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&echoed).ends_with("slow.slow.slow.slow.slow.slow."),
        "{echoed:?}"
    );

    // Idle: one request answered, then nothing; closed by the broker.
    let mut sender = h2_through(&s, BOUND).await;
    let (status, _) = h2_send(&mut sender, &uri, None).await;
    assert_eq!(status, 200);
    assert!(!sender.is_closed());
    assert!(h2_closed(&mut sender, idle * 5).await);
}

/// A body of six pieces, 150 ms apart.
fn slow_body() -> Streamed {
    let chunks = futures::stream::unfold(0, |sent| async move {
        if sent == 6 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        Some((
            Ok(hyper::body::Frame::data(bytes::Bytes::from("slow."))),
            sent + 1,
        ))
    });
    http_body_util::StreamBody::new(futures::StreamExt::boxed(chunks))
}

#[tokio::test]
async fn an_idle_inspected_http1_connection_is_closed_and_a_busy_one_is_not() {
    let s = setup_with(|limits| limits.idle = Duration::from_millis(300)).await;
    let (stream, head) = connect(&s.socket, BOUND, s.port).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let tls = handshake(stream, s.issuer.ca(), BOUND).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    // Busy for three times the idle limit, uploading: not cut.
    let request = http::Request::post("/kept")
        .header("host", BOUND)
        .body(slow_body())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    use http_body_util::BodyExt as _;
    let echoed = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&echoed).ends_with("slow.slow.slow.slow.slow.slow."),
        "{echoed:?}"
    );
    // Kept alive by the client; closed by the broker once idle.
    let ended = tokio::time::timeout(Duration::from_secs(3), connection).await;
    assert!(ended.is_ok(), "the idle connection was never closed");
}

#[tokio::test]
async fn a_client_resumes_its_session_for_the_same_host_and_only_for_it() {
    let s = setup().await;
    // One client configuration, as one process would keep it: its session
    // cache carries the broker's ticket from one tunnel to the next.
    let client = tls_trusting(&[s.issuer.ca()]);
    let connector = tokio_rustls::TlsConnector::from(client);
    let open = |host: &'static str| {
        let connector = connector.clone();
        let socket = s.socket.clone();
        let port = s.port;
        async move {
            let (stream, head) = connect(&socket, host, port).await;
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            let name = ServerName::try_from(host.to_owned()).unwrap();
            let mut tls = connector.connect(name, stream).await.unwrap();
            // A request and its answer: TLS 1.3 tickets come after the
            // handshake, so one exchange lets the client keep one.
            let ask = format!("GET /resume HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            tls.write_all(ask.as_bytes()).await.unwrap();
            let mut answer = Vec::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer)).await;
            tls.get_ref().1.handshake_kind()
        }
    };
    assert_eq!(open(BOUND).await, Some(rustls::HandshakeKind::Full));
    assert_eq!(open(BOUND).await, Some(rustls::HandshakeKind::Resumed));
    // Another host of the same broker: a full handshake with its own leaf,
    // never the first host's session.
    assert_eq!(open(UNBOUND).await, Some(rustls::HandshakeKind::Full));
}

#[tokio::test]
async fn plain_http_to_port_443_on_an_inspected_route_is_refused_before_any_swap() {
    let (events, socket, _dir) = {
        let mut broker: Broker = loopback_broker(
            vec![Route {
                inspect: true,
                ..route(BOUND, vec![443])
            }],
            tls_trusting(&[]),
        );
        bind_token(&mut broker, "API_KEY", BOUND, None);
        let (events, _issuer) = inspecting(&mut broker);
        let (socket, dir) = serve(broker);
        (events, socket, dir)
    };
    let response = send_to(
        &socket,
        &format!(
            "GET http://{BOUND}:443/v1 HTTP/1.1\r\nHost: {BOUND}:443\r\nX-Key: hs-secret:API_KEY\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(response.contains("would leave unencrypted"), "{response}");
    assert!(
        recorded(&events, |event| matches!(
            event,
            Event::Denied { reason, .. } if reason.contains("port 443")
        ))
        .await
    );
}
