//! A stand-in for the built-in agent on a unix socket: every turn is accepted
//! and then never finishes, so that only the edge can end its stream.

use std::convert::Infallible;
use std::path::Path;

use bytes::Bytes;
use futures::StreamExt;
use hardshell_protocol::{AgentRoute, TurnEvent, TurnLine};
use http_body_util::StreamBody;
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;
use tokio::sync::mpsc;

type Lines = StreamBody<futures::stream::BoxStream<'static, Result<Frame<Bytes>, Infallible>>>;

async fn answer(request: Request<Incoming>) -> Result<Response<Lines>, Infallible> {
    let (lines, receiver) = mpsc::unbounded_channel::<Bytes>();
    if AgentRoute::parse(request.method(), request.uri().path(), None) == Some(AgentRoute::Turn) {
        let accepted = TurnLine::Event {
            event: TurnEvent::Accepted { seq: 1 },
        };
        let mut line = serde_json::to_vec(&accepted).unwrap();
        line.push(b'\n');
        lines.send(Bytes::from(line)).unwrap();
    }
    // The sender lives as long as the body is read: the turn never ends.
    let body = futures::stream::unfold((receiver, lines), |(mut receiver, lines)| async move {
        let line = receiver.recv().await?;
        Some((Ok(Frame::data(line)), (receiver, lines)))
    })
    .boxed();
    Ok(Response::builder()
        .status(StatusCode::OK)
        .body(StreamBody::new(body))
        .unwrap())
}

/// Starts the agent on `path`.
pub async fn start(path: &Path) {
    let listener = UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(answer))
                    .await;
            });
        }
    });
}
