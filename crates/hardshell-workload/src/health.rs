//! Whether the workload is ready, asked of the workload itself: a `GET` of its
//! health path through the socket the edge reaches it on, the way every
//! request reaches it.
//!
//! Only the status code is read. The body, the headers and how long it took
//! are the workload's to choose, and the workload may be hostile: none of it
//! is logged or shown, and a probe that does not answer within its deadline
//! counts as a failure, so a workload holding the connection open cannot
//! stall the monitor.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// How one probe of the workload's health path ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// A 2xx answer: ready.
    Ready,
    /// An answer that is not 2xx (OpenClaw's `/readyz` answers 503 while it
    /// starts).
    NotReady(StatusCode),
    /// No answer: nothing accepted the connection (the shell is starting or
    /// gone), or the workload did not answer in time.
    NoAnswer(NoAnswer),
}

/// Why a probe got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoAnswer {
    /// The socket refused or dropped the connection.
    Connection,
    /// The workload took longer than the probe's deadline.
    Deadline,
    /// What came back was not HTTP.
    Protocol,
}

/// Asks the workload behind `socket` for `path`, with `host` as the request's
/// host (a workload may route by it).
#[derive(Debug, Clone)]
pub struct HealthProbe {
    socket: PathBuf,
    path: String,
    host: String,
    deadline: Duration,
}

impl HealthProbe {
    pub fn new(socket: &Path, path: &str, host: &str, deadline: Duration) -> Self {
        HealthProbe {
            socket: socket.to_path_buf(),
            path: path.to_owned(),
            host: host.to_owned(),
            deadline,
        }
    }

    /// One probe.
    pub async fn probe(&self) -> Probe {
        match tokio::time::timeout(self.deadline, self.ask()).await {
            Ok(probe) => probe,
            Err(_) => Probe::NoAnswer(NoAnswer::Deadline),
        }
    }

    async fn ask(&self) -> Probe {
        let Ok(stream) = UnixStream::connect(&self.socket).await else {
            return Probe::NoAnswer(NoAnswer::Connection);
        };
        let Ok((mut sender, connection)) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        else {
            return Probe::NoAnswer(NoAnswer::Connection);
        };
        // The connection is driven until the answer's head is in; dropping
        // it with the sender ends it.
        let driver = tokio::spawn(connection);
        let request = Request::builder()
            .method(Method::GET)
            .uri(self.path.as_str())
            .header(header::HOST, self.host.as_str())
            .header(header::CONNECTION, "close")
            .body(Empty::<Bytes>::new());
        let Ok(request) = request else {
            driver.abort();
            return Probe::NoAnswer(NoAnswer::Protocol);
        };
        let answer = sender.send_request(request).await;
        driver.abort();
        match answer {
            Ok(response) if response.status().is_success() => Probe::Ready,
            Ok(response) => Probe::NotReady(response.status()),
            Err(e) if e.is_parse() => Probe::NoAnswer(NoAnswer::Protocol),
            Err(_) => Probe::NoAnswer(NoAnswer::Connection),
        }
    }
}
