//! Tagged routes through their tap (the model gateway's cap and meter).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use hardshell_broker::policy::Route;
use hardshell_broker::proxy::Event;

use crate::support::*;

/// A tap that tags what it admits and counts what it metered.
struct TestTap {
    metered: Arc<Mutex<Vec<(String, usize, u16)>>>,
}

struct TestMeter {
    tag: String,
    bytes: usize,
    metered: Arc<Mutex<Vec<(String, usize, u16)>>>,
}

impl hardshell_broker::proxy::Meter for TestMeter {
    fn feed(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len();
    }

    fn finish(self: Box<Self>, status: http::StatusCode) {
        self.metered
            .lock()
            .unwrap()
            .push((self.tag, self.bytes, status.as_u16()));
    }
}

impl hardshell_broker::proxy::Tap for TestTap {
    fn admit(
        &self,
        tag: &str,
        request: &http::request::Parts,
        body: bytes::Bytes,
    ) -> BoxFuture<
        'static,
        Result<hardshell_broker::proxy::Admitted, hardshell_broker::proxy::Refused>,
    > {
        let refuse = request.uri.path().ends_with("/refused");
        let (tag, metered) = (tag.to_owned(), self.metered.clone());
        Box::pin(async move {
            if refuse {
                let mut response = http::Response::new(bytes::Bytes::from_static(b"over budget"));
                *response.status_mut() = http::StatusCode::PAYMENT_REQUIRED;
                return Err(hardshell_broker::proxy::Refused {
                    response,
                    reason: "over budget".into(),
                });
            }
            let mut rewritten = body.to_vec();
            rewritten.extend_from_slice(b"+tapped");
            Ok(hardshell_broker::proxy::Admitted {
                body: bytes::Bytes::from(rewritten),
                meter: Box::new(TestMeter {
                    tag,
                    bytes: 0,
                    metered,
                }),
            })
        })
    }
}

#[tokio::test]
async fn a_tagged_route_goes_through_its_tap_and_without_one_is_refused() {
    let (port, seen) = echo_server().await;
    let routes = || {
        vec![Route {
            methods: Some(vec!["POST".into()]),
            path_prefixes: Some(vec!["/v1/".into()]),
            tag: Some("local".into()),
            ..route("model.test", vec![port])
        }]
    };
    let metered = Arc::new(Mutex::new(Vec::new()));
    let mut broker = loopback_broker(routes(), test_tls());
    broker.tap = Some(Arc::new(TestTap {
        metered: metered.clone(),
    }));
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    broker.events = Arc::new(move |event| sink.lock().unwrap().push(event));
    let (socket, _dir) = serve(broker);
    let post = |path: &str| {
        format!(
            "POST http://model.test:{port}{path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
        )
    };
    let response = send_to(&socket, &post("/v1/chat")).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(seen.lock().unwrap()[0].ends_with("hello+tapped"));
    // The meter saw the whole answer once it ended.
    let answer_bytes = response.split_once("\r\n\r\n").unwrap().1.len();
    let mut waited = 0;
    while metered.lock().unwrap().is_empty() && waited < 50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    assert_eq!(
        metered.lock().unwrap().as_slice(),
        [("local".to_owned(), answer_bytes, 200)]
    );
    let refused = send_to(&socket, &post("/v1/refused")).await;
    assert!(refused.starts_with("HTTP/1.1 402"), "{refused}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    // The tap's refusal is on record, in the tap's words.
    assert!(events.lock().unwrap().contains(&Event::Denied {
        host: "model.test".into(),
        port,
        reason: "over budget".into(),
    }));

    // A metered route with no meter does not go out unmetered.
    let (socket, _dir2) = serve(loopback_broker(routes(), test_tls()));
    let response = send_to(&socket, &post("/v1/chat")).await;
    assert!(response.starts_with("HTTP/1.1 502"), "{response}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_tagged_routes_body_past_the_window_is_refused_not_streamed() {
    // The tap reads the whole request, so a tagged route's body is never
    // sent on in pieces: past what the broker reads whole, it is refused.
    let (port, seen) = echo_server().await;
    let mut broker = loopback_broker(
        vec![Route {
            tag: Some("local".into()),
            ..route("model.test", vec![port])
        }],
        test_tls(),
    );
    broker.tap = Some(Arc::new(TestTap {
        metered: Arc::default(),
    }));
    broker.limits.max_body_bytes = 1024;
    let (socket, _dir) = serve(broker);
    let body = "x".repeat(4096);
    let response = send_to(
        &socket,
        &format!(
            "POST http://model.test:{port}/v1/chat HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(seen.lock().unwrap().is_empty());
}
