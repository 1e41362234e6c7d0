//! A Bot API server for what crabline does not emulate (429, getFile and
//! downloads, 401), answering byte for byte as core.telegram.org/bots/api
//! documents: `{"ok":false,"error_code":N,"description":...,"parameters":...}`
//! with the HTTP status equal to `error_code`, and files under
//! `/file/bot<token>/<file_path>`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;

pub type Body = BoxBody<Bytes, Infallible>;

/// The fake's address and the paths it was asked for.
pub struct FakeBotApi {
    pub addr: SocketAddr,
    pub paths: Arc<Mutex<Vec<String>>>,
}

impl FakeBotApi {
    pub fn root(&self) -> url::Url {
        url::Url::parse(&format!("http://{}", self.addr)).unwrap()
    }

    pub fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }
}

/// Serves `answer(path)` for every request until the test ends.
pub async fn serve(answer: fn(&str) -> Response<Body>) -> FakeBotApi {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let paths = Arc::new(Mutex::new(Vec::new()));
    let seen = paths.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
                let path = request.uri().path().to_owned();
                seen.lock().unwrap().push(path.clone());
                async move { Ok::<_, Infallible>(answer(&path)) }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    FakeBotApi { addr, paths }
}

/// A JSON answer with `status`.
pub fn json(status: u16, body: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())).boxed())
        .unwrap()
}

/// `parts` sent chunked, without a Content-Length (as a file server may).
pub fn chunked(parts: &[&'static [u8]]) -> Response<Body> {
    let frames = parts
        .iter()
        .map(|part| Ok::<_, Infallible>(Frame::data(Bytes::from_static(part))))
        .collect::<Vec<_>>();
    Response::builder()
        .header("content-type", "application/octet-stream")
        .body(StreamBody::new(futures::stream::iter(frames)).boxed())
        .unwrap()
}

/// A 302 to `location`.
pub fn redirect(location: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::FOUND)
        .header("location", location)
        .body(Full::new(Bytes::new()).boxed())
        .unwrap()
}
