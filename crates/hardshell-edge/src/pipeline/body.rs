//! Request bodies as handlers see them: at most `max` bytes, and each chunk must
//! arrive within `idle` of the last, so a client trickling a body (a slow-POST
//! attack) is cut off instead of holding a connection and a handler forever.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Frame, Incoming};

#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("request body over the size limit or broken: {0}")]
    Read(String),
    #[error("request body stalled for longer than {0:?}")]
    Stalled(Duration),
}

pub(crate) fn guarded(body: Incoming, max: u64, idle: Duration) -> Body {
    let limited = Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX));
    let frames = futures::stream::unfold(Some(limited), move |state| async move {
        let mut body = state?;
        match tokio::time::timeout(idle, body.frame()).await {
            Ok(Some(Ok(frame))) => Some((Ok::<Frame<Bytes>, BodyError>(frame), Some(body))),
            Ok(Some(Err(e))) => Some((Err(BodyError::Read(e.to_string())), None)),
            Ok(None) => None,
            Err(_) => Some((Err(BodyError::Stalled(idle)), None)),
        }
    });
    Body::new(http_body_util::StreamBody::new(frames))
}
