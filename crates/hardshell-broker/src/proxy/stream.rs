//! Request bodies: read whole up to the scan window ([`Broker::read_body`]);
//! a longer one, sent on as it arrives: the window went first (read whole, scanned and swapped as any body), then
//! each further piece passes through the [`StreamScan`], is counted against
//! the shell's budget, and leaves. A piece that carries a secret's value or
//! a placeholder, the budget spent, or a stalled or broken body, ends the
//! body with an error, which aborts the request to the destination: nothing
//! after it is sent. Each such cut is recorded as it happens.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::sync::watch;

use http::{Response, StatusCode};

use super::shell::{BUDGET_SPENT, Limits, Shell};
use super::{Body, BoxError, Broker, Event, EventSink, refusal};
use crate::host::Host;
use crate::secrets::{Stopped, StreamScan};

/// What is left of a body after the window: the rest of the piece the
/// window ended in, and the body still arriving.
pub(super) struct Rest {
    pub(super) first: Bytes,
    pub(super) body: Incoming,
}

/// A request's body as read: the whole of it or the window, the shell's
/// buffer allowance it holds, and what is left to stream.
pub(super) type Read = (
    Bytes,
    Option<tokio::sync::OwnedSemaphorePermit>,
    Option<Rest>,
);

/// Why a streamed body was cut: the shell's answer, already recorded.
#[derive(Debug, Clone)]
pub(super) enum Cut {
    /// The value of this secret.
    Leak(String),
    Placeholder,
    Spent,
    Stalled,
    Broken,
}

/// Where a streamed body reports back to the request that sent it.
pub(super) struct Watch {
    /// Changes as each piece leaves, and is closed once the body has ended,
    /// however it ended: the wait for the answer starts then. A destination
    /// that stops taking the body is given up on like one that does not
    /// answer.
    pub(super) progress: watch::Receiver<usize>,
    pub(super) cut: Arc<Mutex<Option<Cut>>>,
}

impl Watch {
    pub(super) fn cut(&self) -> Option<Cut> {
        self.cut
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// What the stream needs from the broker and the request.
pub(super) struct Streaming {
    pub(super) shell: Shell,
    pub(super) limits: Limits,
    pub(super) events: EventSink,
    pub(super) host: Host,
    pub(super) port: u16,
    pub(super) window: usize,
}

struct State {
    rest: Option<Rest>,
    scan: StreamScan,
    run: Streaming,
    cut: Arc<Mutex<Option<Cut>>>,
    progress: Option<watch::Sender<usize>>,
}

impl State {
    fn stop(&mut self, cut: Cut) -> BoxError {
        let event = match &cut {
            Cut::Leak(name) => Some(Event::LeakBlocked {
                name: name.clone(),
                host: self.run.host.to_string(),
            }),
            Cut::Placeholder => Some(self.denied(format!(
                "the request body has a secret placeholder past its first {} bytes (the part read whole, where placeholders are swapped), so it was cut there",
                self.run.window
            ))),
            Cut::Spent => Some(self.denied(BUDGET_SPENT.to_owned())),
            // The shell's own failure, not a decision.
            Cut::Stalled | Cut::Broken => None,
        };
        if let Some(event) = event {
            (self.run.events)(event);
        }
        *self.cut.lock().unwrap_or_else(PoisonError::into_inner) = Some(cut);
        // Nothing more is read, let alone sent.
        self.rest = None;
        self.progress.take();
        BoxError::from("the request body was cut")
    }

    fn denied(&self, reason: String) -> Event {
        Event::Denied {
            host: self.run.host.to_string(),
            port: self.run.port,
            reason,
        }
    }

    /// The next piece to send, `None` at the end.
    async fn next(&mut self) -> Option<Result<Bytes, BoxError>> {
        loop {
            let rest = self.rest.as_mut()?;
            let piece = if rest.first.is_empty() {
                let frame =
                    tokio::time::timeout(self.run.limits.body_idle, rest.body.frame()).await;
                match frame {
                    Err(_) => return Some(Err(self.stop(Cut::Stalled))),
                    Ok(Some(Err(_))) => return Some(Err(self.stop(Cut::Broken))),
                    Ok(None) => {
                        self.rest = None;
                        self.progress.take();
                        return match self.scan.finish() {
                            Ok(last) => (!last.is_empty()).then_some(Ok(last)),
                            Err(Stopped::Secret(found)) => {
                                Some(Err(self.stop(Cut::Leak(found.name))))
                            }
                            Err(Stopped::Placeholder) => Some(Err(self.stop(Cut::Placeholder))),
                        };
                    }
                    // Trailers are not sent on.
                    Ok(Some(Ok(frame))) => match frame.into_data() {
                        Ok(data) => data,
                        Err(_) => continue,
                    },
                }
            } else {
                std::mem::take(&mut rest.first)
            };
            if !self.run.shell.spend(piece.len(), &self.run.limits) {
                return Some(Err(self.stop(Cut::Spent)));
            }
            match self.scan.push(&piece) {
                Ok(out) if out.is_empty() => continue,
                Ok(out) => {
                    if let Some(progress) = &self.progress {
                        progress.send_modify(|sent| *sent += out.len());
                    }
                    return Some(Ok(out));
                }
                Err(Stopped::Secret(found)) => return Some(Err(self.stop(Cut::Leak(found.name)))),
                Err(Stopped::Placeholder) => return Some(Err(self.stop(Cut::Placeholder))),
            }
        }
    }
}

/// The body to send after the window (`head`, sent first as it is), and
/// where it reports.
pub(super) fn streamed(head: Bytes, rest: Rest, scan: StreamScan, run: Streaming) -> (Body, Watch) {
    let (progress, watch) = watch::channel(0);
    let cut = Arc::new(Mutex::new(None));
    let state = State {
        rest: Some(rest),
        scan,
        run,
        cut: cut.clone(),
        progress: Some(progress),
    };
    let first = futures::stream::iter((!head.is_empty()).then(|| Ok(Frame::data(head))));
    let pieces = futures::stream::unfold(state, |mut state| async move {
        let next = state.next().await?;
        Some((next.map(Frame::data), state))
    });
    let body = BodyExt::boxed_unsync(StreamBody::new(futures::StreamExt::chain(first, pieces)));
    (
        body,
        Watch {
            progress: watch,
            cut,
        },
    )
}

/// The shell's answer to a streamed body the broker cut (already recorded).
pub(super) fn cut_refusal(cut: &Cut) -> Response<Body> {
    match cut {
        Cut::Leak(secret) => refusal(
            StatusCode::FORBIDDEN,
            &format!(
                "hardshell broker: refused: the request carries the value of secret {secret}\n"
            ),
        ),
        Cut::Placeholder => refusal(
            StatusCode::FORBIDDEN,
            "hardshell broker: refused: the request body has a secret placeholder past the part the broker reads whole, where placeholders are swapped\n",
        ),
        Cut::Spent => refusal(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("hardshell broker: refused: {BUDGET_SPENT}\n"),
        ),
        Cut::Stalled => refusal(
            StatusCode::REQUEST_TIMEOUT,
            "hardshell broker: the request body stalled\n",
        ),
        Cut::Broken => refusal(
            StatusCode::BAD_REQUEST,
            "hardshell broker: the request body is broken\n",
        ),
    }
}

impl Broker {
    /// A request's body, whole, counted against the shell's buffer
    /// allowance as it arrives; past `max_body_bytes`, refused, or when it
    /// `streams`, those first bytes and the [`Rest`].
    pub(super) async fn read_body(
        &self,
        shell: &Shell,
        mut body: Incoming,
        streams: bool,
    ) -> Result<Read, Response<Body>> {
        let mut read = Vec::new();
        let mut held: Option<tokio::sync::OwnedSemaphorePermit> = None;
        loop {
            let Ok(frame) = tokio::time::timeout(self.limits.body_idle, body.frame()).await else {
                return Err(refusal(
                    StatusCode::REQUEST_TIMEOUT,
                    "hardshell broker: the request body stalled\n",
                ));
            };
            let Some(frame) = frame else { break };
            let Ok(frame) = frame else {
                return Err(refusal(
                    StatusCode::BAD_REQUEST,
                    "hardshell broker: the request body is broken\n",
                ));
            };
            let Ok(mut data) = frame.into_data() else {
                continue;
            };
            let mut past = None;
            if read.len() + data.len() > self.limits.max_body_bytes && streams {
                past = Some(data.split_off(self.limits.max_body_bytes - read.len()));
            } else if read.len() + data.len() > self.limits.max_body_bytes {
                return Err(refusal(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "hardshell broker: the request body is too large\n",
                ));
            }
            let want = u32::try_from((read.len() + data.len()).div_ceil(1024)).unwrap_or(u32::MAX);
            let have = held
                .as_ref()
                .map_or(0, |p| u32::try_from(p.num_permits()).unwrap_or(u32::MAX));
            if want > have {
                let Ok(more) = shell.buffered.clone().try_acquire_many_owned(want - have) else {
                    return Err(refusal(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "hardshell broker: this shell has too many request bytes in flight\n",
                    ));
                };
                match &mut held {
                    Some(permit) => permit.merge(more),
                    None => held = Some(more),
                }
            }
            read.extend_from_slice(&data);
            if let Some(first) = past {
                return Ok((Bytes::from(read), held, Some(Rest { first, body })));
            }
        }
        Ok((Bytes::from(read), held, None))
    }
}
