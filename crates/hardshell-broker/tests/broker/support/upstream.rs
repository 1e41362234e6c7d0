//! A real HTTP server (hyper) as the destination, plain or in TLS: it takes
//! bodies in any framing (chunked too) and keeps every byte as it arrives,
//! so a test sees how much of an upload got through; `/events` answers with
//! server-sent events, the second only once the test says so.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;

type Answer = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// What the server has received, and the switch for its second event.
#[derive(Clone, Default)]
pub struct Destination {
    pub port: u16,
    /// Every body byte received, by every request, in order.
    pub received: Arc<Mutex<Vec<u8>>>,
    /// Requests whose body ended whole.
    pub whole: Arc<Mutex<usize>>,
    /// Lets `/events` send its second event.
    pub release: Arc<Notify>,
    pub cert: Option<rustls::pki_types::CertificateDer<'static>>,
}

impl Destination {
    pub fn received(&self) -> Vec<u8> {
        self.received.lock().unwrap().clone()
    }

    pub fn whole(&self) -> usize {
        *self.whole.lock().unwrap()
    }
}

async fn answer(d: Destination, request: http::Request<Incoming>) -> http::Response<Answer> {
    if request.uri().path() == "/events" {
        let release = d.release.clone();
        let events = futures::stream::unfold(0, move |sent| {
            let release = release.clone();
            async move {
                match sent {
                    0 => Some((Ok(Frame::data(Bytes::from("data: one\n\n"))), 1)),
                    1 => {
                        release.notified().await;
                        Some((Ok(Frame::data(Bytes::from("data: two\n\n"))), 2))
                    }
                    _ => None,
                }
            }
        });
        let mut response = http::Response::new(BodyExt::boxed(StreamBody::new(events)));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/event-stream"),
        );
        return response;
    }
    let mut body = request.into_body();
    let mut count = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            // Cut off: what arrived is kept, the request never completes.
            return http::Response::new(BodyExt::boxed(http_body_util::Empty::new()));
        };
        if let Some(data) = frame.data_ref() {
            count += data.len();
            d.received.lock().unwrap().extend_from_slice(data);
        }
    }
    *d.whole.lock().unwrap() += 1;
    http::Response::new(BodyExt::boxed(http_body_util::Full::new(Bytes::from(
        format!("got {count} bytes"),
    ))))
}

/// Serves on loopback, in TLS for `name` when given.
pub async fn destination(name: Option<&str>) -> Destination {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut d = Destination {
        port: listener.local_addr().unwrap().port(),
        ..Destination::default()
    };
    let acceptor = name.map(|name| {
        let (acceptor, cert) = super::tls_acceptor(name);
        d.cert = Some(cert);
        acceptor
    });
    let served = d.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (d, acceptor) = (served.clone(), acceptor.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let d = d.clone();
                    async move { Ok::<_, Infallible>(answer(d, request).await) }
                });
                let builder = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                    None => {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            });
        }
    });
    d
}
