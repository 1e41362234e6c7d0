//! Tagged routes' tap (the edge's model routes check the spend cap and meter
//! usage through it), and the relay that feeds a meter and puts placeholders
//! back into an answer.

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, BodyStream, StreamBody};
use hyper::body::Frame;

use super::{Body, BoxError};
use crate::secrets::Redactor;

/// Sees the requests of tagged routes before they leave and their responses
/// as they come back: the edge's model routes check the spend cap and meter
/// usage here.
pub trait Tap: Send + Sync + 'static {
    /// The shell's request on a route tagged `tag`, before placeholders are
    /// swapped (so never a secret value): the body to send instead and a
    /// meter for the response, or the refusal.
    fn admit(
        &self,
        tag: &str,
        request: &http::request::Parts,
        body: Bytes,
    ) -> BoxFuture<'static, Result<Admitted, Refused>>;
}

/// A request a [`Tap`] refused: the answer the shell gets, and the reason
/// the broker records (the tap's own words, never the shell's).
#[derive(Debug)]
pub struct Refused {
    pub response: Response<Bytes>,
    pub reason: String,
}

/// A request a [`Tap`] let through.
pub struct Admitted {
    pub body: Bytes,
    pub meter: Box<dyn Meter>,
}

impl std::fmt::Debug for Admitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admitted")
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// Watches one response's body. It is read to its end even if the shell
/// stops reading, so what was used is always counted.
pub trait Meter: Send + 'static {
    fn feed(&mut self, chunk: &[u8]);
    fn finish(self: Box<Self>, status: StatusCode);
}

/// Relays `body` through a task that puts placeholders back for swapped
/// values and feeds the meter. With a meter, the task reads to the end even
/// if the shell stops reading, so the meter sees the whole answer; without
/// one, it stops with the shell.
pub(super) fn relay(
    body: Body,
    mut redactor: Option<Redactor>,
    mut meter: Option<Box<dyn Meter>>,
    status: StatusCode,
) -> Body {
    let (frames, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, BoxError>>(32);
    tokio::spawn(async move {
        let mut stream = BodyStream::new(body);
        let mut listening = true;
        while let Some(frame) = stream.next().await {
            let chunk = match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue,
                },
                Err(e) => {
                    if listening {
                        let _ = frames.send(Err(e)).await;
                    }
                    break;
                }
            };
            if let Some(meter) = &mut meter {
                meter.feed(&chunk);
            }
            let out = match &mut redactor {
                Some(redactor) => Bytes::from(redactor.push(&chunk)),
                None => chunk,
            };
            if listening && !out.is_empty() && frames.send(Ok(out)).await.is_err() {
                listening = false;
            }
            // Only a meter needs the rest once the shell has gone.
            if !listening && meter.is_none() {
                return;
            }
        }
        if let Some(redactor) = &mut redactor {
            let rest = redactor.finish();
            if listening && !rest.is_empty() {
                let _ = frames.send(Ok(Bytes::from(rest))).await;
            }
        }
        if let Some(meter) = meter {
            meter.finish(status);
        }
    });
    let frames = futures::stream::unfold(receiver, |mut receiver| async move {
        let item = receiver.recv().await?;
        Some((item.map(Frame::data), receiver))
    });
    BodyExt::boxed_unsync(StreamBody::new(frames))
}
