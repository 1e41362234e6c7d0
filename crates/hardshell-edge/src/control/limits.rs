//! What a workload may hold of the edge through its control socket: the
//! same kinds of bound the public listener has (a connection cap, a head
//! deadline, a deadline per body piece), and one for bytes held in memory
//! across all its connections, since every body is read whole.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The control socket's bounds.
#[derive(Debug, Clone)]
pub struct ControlLimits {
    /// Connections open at once; more are closed as they come.
    pub max_connections: usize,
    /// From a connection's (or a kept-alive connection's next) first byte to
    /// the end of a request's head.
    pub header_timeout: Duration,
    /// Longest wait for the next piece of a request body.
    pub body_idle: Duration,
    /// Request body bytes held at once across every connection; a body
    /// that would go over is refused.
    pub max_buffered_bytes: usize,
}

impl Default for ControlLimits {
    fn default() -> Self {
        Self {
            // The agent uses a handful (storage, an exec wait or two).
            max_connections: 32,
            header_timeout: Duration::from_secs(10),
            body_idle: Duration::from_secs(10),
            // Four of the largest objects at once.
            max_buffered_bytes: 4 * super::MAX_CONTROL_BODY,
        }
    }
}

/// The request bytes the edge will hold for the control socket: one permit
/// per KiB.
#[derive(Debug, Clone)]
pub(super) struct Allowance(Arc<Semaphore>);

impl Allowance {
    pub(super) fn new(bytes: usize) -> Self {
        Self(Arc::new(Semaphore::new(
            bytes.div_ceil(1024).min(Semaphore::MAX_PERMITS),
        )))
    }
}

/// The part of the allowance one request holds; given back when dropped.
#[derive(Debug, Default, Clone)]
pub(super) struct Held(Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl Held {
    /// Grows what is held to cover `bytes`; `false` if the allowance has
    /// not that much left.
    fn cover(&self, bytes: usize, allowance: &Allowance) -> bool {
        let mut held = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let want = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        let have = held
            .as_ref()
            .map_or(0, |p| u32::try_from(p.num_permits()).unwrap_or(u32::MAX));
        if want <= have {
            return true;
        }
        let Ok(more) = allowance.0.clone().try_acquire_many_owned(want - have) else {
            return false;
        };
        match held.as_mut() {
            Some(permit) => permit.merge(more),
            None => *held = Some(more),
        }
        true
    }
}

/// Why a control request's body was cut.
#[derive(Debug, thiserror::Error)]
pub(super) enum ControlBodyError {
    #[error("the request body is broken: {0}")]
    Read(String),
    #[error("the request body stalled for longer than {0:?}")]
    Stalled(Duration),
    #[error("the control socket holds too many request bytes at once")]
    OverAllowance,
}

/// `request` with its body bounded: each piece must come within `idle` of
/// the last, and the bytes read so far are counted against `allowance`
/// (held until the returned [`Held`] is dropped).
pub(super) fn bounded(
    request: Request<Incoming>,
    allowance: &Allowance,
    idle: Duration,
) -> (Request<Body>, Held) {
    let held = Held::default();
    let (allowance, counted) = (allowance.clone(), held.clone());
    let request = request.map(move |body| {
        let frames = futures::stream::unfold(Some((body, 0usize)), move |state| {
            let (allowance, counted) = (allowance.clone(), counted.clone());
            async move {
                let (mut body, read) = state?;
                match tokio::time::timeout(idle, body.frame()).await {
                    Ok(Some(Ok(frame))) => {
                        let read = read + frame.data_ref().map_or(0, Bytes::len);
                        if counted.cover(read, &allowance) {
                            Some((Ok::<Frame<Bytes>, _>(frame), Some((body, read))))
                        } else {
                            Some((Err(ControlBodyError::OverAllowance), None))
                        }
                    }
                    Ok(Some(Err(e))) => Some((Err(ControlBodyError::Read(e.to_string())), None)),
                    Ok(None) => None,
                    Err(_) => Some((Err(ControlBodyError::Stalled(idle)), None)),
                }
            }
        });
        Body::new(http_body_util::StreamBody::new(frames).map_err(axum::Error::new))
    });
    (request, held)
}
