//! A loopback upstream (TCP or unix socket) that records what reached it, answers
//! 200, tries to set the edge's own cookie, and echoes bytes after an upgrade.

use std::convert::Infallible;
use std::path::Path;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};

use super::{Log, Seen};

async fn answer(
    log: Log,
    mut request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let upgrade = request
        .headers()
        .get("upgrade")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let headers = request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let path = request
        .uri()
        .path_and_query()
        .map(|pq| pq.to_string())
        .unwrap_or_default();
    if upgrade {
        let on_upgrade = hyper::upgrade::on(&mut request);
        log.lock().unwrap().push(Seen {
            path,
            headers,
            body: String::new(),
        });
        tokio::spawn(async move {
            if let Ok(upgraded) = on_upgrade.await {
                let mut io = TokioIo::new(upgraded);
                let mut buf = [0u8; 1024];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        });
        return Ok(Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("upgrade", "websocket")
            .header("connection", "upgrade")
            .body(Full::new(Bytes::new()))
            .unwrap());
    }
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    log.lock().unwrap().push(Seen {
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/plain")
        .header("set-cookie", "hs_session=planted; Path=/")
        .header("set-cookie", "app_pref=1; Path=/")
        .header("x-upstream", "yes")
        .body(Full::new(Bytes::from_static(b"hello from upstream")))
        .unwrap())
}

async fn serve_io<IO>(io: IO, log: Log)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| answer(log.clone(), request));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
}

/// Starts on a free loopback port; returns its `http://` URL and its log.
pub async fn tcp() -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log = Log::default();
    let server_log = log.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_io(stream, server_log.clone()));
        }
    });
    (url, log)
}

/// Starts on a unix socket at `path`; returns its `unix:` URL and its log.
pub async fn unix(path: &Path) -> (String, Log) {
    let listener = UnixListener::bind(path).unwrap();
    let log = Log::default();
    let server_log = log.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_io(stream, server_log.clone()));
        }
    });
    (format!("unix:{}", path.display()), log)
}
