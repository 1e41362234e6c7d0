//! A request head as it arrives on the edge's socket: parsed by hyper (set up
//! as the edge sets it up, over an in-memory stream), then run through the
//! edge's own header logic: framing (phase 2), the credential it would use
//! (phase 5), the WebSocket check and the header scrubbing of the proxy, in
//! both directions (the same headers also stand in for an upstream's answer).
//!
//! Properties: never panics; any `Transfer-Encoding` is refused whatever else
//! is sent; a request the framing phase passes announces no body over the
//! limit. What the upstream would receive carries no client credential, no
//! hop-by-hop header, no header the client's `Connection` named, no forwarding
//! header the client made up and none of the edge's cookies; what the client
//! would receive back sets none of the edge's cookies.
#![no_main]

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hardshell_fuzz::runtime;
use hardshell_edge::fuzzing::{
    FramingRefusal, check_framing, claimed_account, is_websocket_upgrade, scrub_request_headers,
    scrub_response_headers,
};
use http::header::{CONNECTION, CONTENT_LENGTH, COOKIE, SET_COOKIE, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, Request, Response};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncWriteExt;

/// The edge's limits (`crates/hardshell-edge/src/server.rs`, `[edge]` defaults).
const MAX_HEADERS: usize = 100;
const MAX_BUF: usize = 16 * 1024;
const MAX_BODY_BYTES: u64 = 1024 * 1024;

/// Never forwarded to the upstream (`HeaderMap` names are lower-case).
const CLIENT_ONLY: [&str; 15] = [
    "authorization",
    "cf-access-jwt-assertion",
    "cf-access-authenticated-user-email",
    "x-hardshell-identity",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_BUF {
        return;
    }
    let Some(headers) = parse_with_hyper(data) else {
        return;
    };

    // Phase 2: framing.
    match check_framing(&headers, MAX_BODY_BYTES) {
        Ok(()) => {
            assert!(!headers.contains_key(TRANSFER_ENCODING));
            if let Some(length) = headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
            {
                assert!(length <= MAX_BODY_BYTES, "passed a {length}-byte body");
            }
        }
        Err(FramingRefusal::TransferEncoding) => assert!(headers.contains_key(TRANSFER_ENCODING)),
        Err(FramingRefusal::TooLarge) => assert!(!headers.contains_key(TRANSFER_ENCODING)),
    }
    if headers.contains_key(TRANSFER_ENCODING) {
        assert_eq!(
            check_framing(&headers, MAX_BODY_BYTES),
            Err(FramingRefusal::TransferEncoding)
        );
    }

    // Phase 5: the per-account key names a token id, never more of the token.
    for https in [false, true] {
        if let Some(account) = claimed_account(&headers, https) {
            let id = account
                .strip_prefix("token:")
                .unwrap_or_else(|| panic!("account {account:?} is not a token id"));
            assert!(id.len() <= 16, "account {account:?} holds more than an id");
        }
    }

    // The proxy, towards the upstream.
    let websocket = is_websocket_upgrade(&headers);
    let mut upstream = headers.clone();
    scrub_request_headers(&mut upstream, websocket);
    for name in CLIENT_ONLY {
        assert!(!upstream.contains_key(name), "{name} reaches the upstream");
    }
    for name in connection_named(&headers) {
        if !(websocket && name == UPGRADE) {
            assert!(
                !upstream.contains_key(&name),
                "{name}, named in Connection, is forwarded"
            );
        }
    }
    if websocket {
        assert_eq!(upstream.get_all(CONNECTION).iter().count(), 1);
        assert!(upstream.get(CONNECTION).is_some_and(|v| v == "upgrade"));
    } else {
        assert!(!upstream.contains_key(CONNECTION) && !upstream.contains_key(UPGRADE));
    }
    for value in upstream.get_all(COOKIE) {
        for pair in value.as_bytes().split(|b| *b == b';') {
            // Read as the edge reads its own cookies (`cookies::find`): a pair
            // the client wrote as `hs_session =x` is its own text, not the
            // cookie the edge set, and is no credential of the edge's.
            let name = pair
                .trim_ascii()
                .split(|b| *b == b'=')
                .next()
                .unwrap_or_default();
            assert!(
                !is_edge_cookie(name),
                "cookie {:?} reaches the upstream",
                bstr(name)
            );
        }
    }

    // The proxy, back towards the client: these headers as an upstream's answer.
    for upgraded in [false, true] {
        let mut answer = headers.clone();
        for value in headers.get_all(COOKIE) {
            answer.append(SET_COOKIE, value.clone());
        }
        scrub_response_headers(&mut answer, upgraded);
        for value in answer.get_all(SET_COOKIE) {
            let name = set_cookie_name(value.as_bytes());
            assert!(
                !is_edge_cookie(name),
                "the upstream sets the edge's cookie {:?}",
                bstr(value.as_bytes())
            );
        }
    }
});

/// The request's headers as hyper hands them to the edge, or `None` when hyper
/// refuses the head (the edge never sees those).
fn parse_with_hyper(data: &[u8]) -> Option<HeaderMap> {
    let seen: Arc<Mutex<Option<HeaderMap>>> = Arc::new(Mutex::new(None));
    let service = {
        let seen = Arc::clone(&seen);
        service_fn(move |request: Request<Incoming>| {
            let seen = Arc::clone(&seen);
            async move {
                if let Ok(mut seen) = seen.lock() {
                    *seen = Some(request.headers().clone());
                }
                Ok::<_, std::convert::Infallible>(Response::new(Empty::<Bytes>::new()))
            }
        })
    };
    runtime().block_on(async {
        let (mut client, server) = tokio::io::duplex(MAX_BUF * 2);
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .max_buf_size(MAX_BUF)
            .max_headers(MAX_HEADERS);
        let connection = builder
            .serve_connection(TokioIo::new(server), service)
            .with_upgrades();
        let _ = client.write_all(data).await;
        let _ = client.shutdown().await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), connection).await;
    });
    seen.lock().ok().and_then(|mut seen| seen.take())
}

/// The header names a `Connection` value lists, read from its bytes.
fn connection_named(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|value| value.as_bytes().split(|b| *b == b','))
        .filter_map(|token| HeaderName::from_bytes(token.trim_ascii()).ok())
        .collect()
}

/// The name a browser reads from `Set-Cookie` (RFC 6265 §5.2): the text before
/// the first `;` and the first `=`, without surrounding whitespace, whatever
/// bytes follow. (A pair without `=` sets a nameless cookie; counting it by its
/// value, as here, is the stricter reading.)
fn set_cookie_name(value: &[u8]) -> &[u8] {
    let pair = value.split(|b| *b == b';').next().unwrap_or_default();
    pair.split(|b| *b == b'=')
        .next()
        .unwrap_or_default()
        .trim_ascii()
}

fn is_edge_cookie(name: &[u8]) -> bool {
    name.starts_with(b"hs_") || name.starts_with(b"__Host-hs_") || name == b"CF_Authorization"
}

fn bstr(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
