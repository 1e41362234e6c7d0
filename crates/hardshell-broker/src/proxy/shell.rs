//! What one shell may take through the broker, and its counters: each
//! listener is one shell, with its connections at once, the bytes it has
//! moved both ways and the request bytes it has held in the edge's memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use http_body_util::{BodyExt, BodyStream, StreamBody};
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Body, BoxError};

/// Limits on what one request, and one shell, may take.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The scan window: the most of a request body read whole, to be
    /// scanned and have its placeholders swapped. A longer body is sent on
    /// as it arrives past it, scanned in passing (a placeholder there cuts
    /// it), on a route without a tap; a tagged route's is refused (413),
    /// since its tap reads the whole request.
    pub max_body_bytes: usize,
    pub connect_timeout: Duration,
    /// From sending a request to the response's head.
    pub response_timeout: Duration,
    /// Connections (and tunnels) open at once per shell; more get 429.
    pub max_connections: usize,
    /// Bytes one shell may move through the broker, both ways, bodies and
    /// tunnels counted; then requests get 429 and streams are cut.
    pub max_bytes: u64,
    /// Request bytes one shell may have held in the edge's memory at once
    /// (bodies are read whole, up to the window, to be scanned); more get
    /// 503. Without it, a shell's connections times `max_body_bytes` could
    /// exhaust the edge.
    pub max_buffered_bytes: usize,
    /// From a connection's first byte (or a kept-alive one's next request's)
    /// to the end of a request's head; then it is closed.
    pub header_timeout: Duration,
    /// Longest wait for the next piece of a request body; then the request
    /// is refused. Without these two, a shell could hold a connection slot,
    /// and the bytes it sent, for ever.
    pub body_idle: Duration,
    /// How long an inspected tunnel's connection (h2 or HTTP/1.1) may stay
    /// open with no request in flight; then it is closed (h2 with a
    /// GOAWAY). A request is in flight until its answer has been sent, so a
    /// long upload or stream of events is not cut. h2 connections are also
    /// pinged every half of this, and closed if a ping goes unanswered for
    /// `header_timeout`.
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 << 20,
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(120),
            max_connections: 64,
            max_bytes: 1 << 30,
            max_buffered_bytes: 32 << 20,
            header_timeout: Duration::from_secs(10),
            body_idle: Duration::from_secs(10),
            idle: Duration::from_secs(60),
        }
    }
}

/// What one shell (one listener) has open, has spent, and has buffered.
#[derive(Debug, Clone)]
pub(super) struct Shell {
    pub(super) active: Arc<AtomicUsize>,
    pub(super) spent: Arc<AtomicU64>,
    /// One permit per KiB of request body held.
    pub(super) buffered: Arc<tokio::sync::Semaphore>,
}

/// One counted connection; uncounted when dropped.
pub(super) struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Shell {
    pub(super) fn new(limits: &Limits) -> Self {
        Self {
            active: Arc::default(),
            spent: Arc::default(),
            buffered: Arc::new(tokio::sync::Semaphore::new(
                limits
                    .max_buffered_bytes
                    .div_ceil(1024)
                    .min(tokio::sync::Semaphore::MAX_PERMITS),
            )),
        }
    }

    pub(super) fn slot(&self, limits: &Limits) -> Option<Slot> {
        if self.active.fetch_add(1, Ordering::SeqCst) >= limits.max_connections {
            self.active.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Slot(self.active.clone()))
    }

    /// Counts `bytes`; `false` once the budget is spent.
    pub(super) fn spend(&self, bytes: usize, limits: &Limits) -> bool {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        let before = self.spent.fetch_add(bytes, Ordering::SeqCst);
        before.saturating_add(bytes) <= limits.max_bytes
    }
}

pub(super) const BUDGET_SPENT: &str = "this shell has moved all the bytes it may";

/// Copies one direction of a tunnel, counting against the shell's budget.
pub(super) async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    shell: &Shell,
    limits: &Limits,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !shell.spend(n, limits) || to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// A response body counted against the shell's budget; cut when spent.
pub(super) fn counted(body: Incoming, shell: Shell, limits: Limits) -> Body {
    let frames = BodyStream::new(body).map(move |frame| {
        let frame = frame.map_err(BoxError::from)?;
        if let Some(data) = frame.data_ref()
            && !shell.spend(data.len(), &limits)
        {
            return Err(BoxError::from(BUDGET_SPENT));
        }
        Ok(frame)
    });
    BodyExt::boxed_unsync(StreamBody::new(frames))
}
