//! The response bodies a call holds in host memory, bounded together: each
//! response is bounded alone, but a module could keep many of them unread,
//! and what the host holds for it is outside its memory cap.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

/// What is left of one call's budget for response bytes held at once.
#[derive(Debug, Clone)]
pub(crate) struct HeldBudget(Arc<AtomicUsize>);

impl HeldBudget {
    pub(crate) fn new(bytes: usize) -> Self {
        Self(Arc::new(AtomicUsize::new(bytes)))
    }

    /// `body`, its bytes taken from the budget until it is dropped; `None`
    /// when that much is not left.
    pub(crate) fn hold(&self, body: Bytes) -> Option<HeldBody> {
        let bytes = body.len();
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(bytes)
            })
            .ok()?;
        Some(HeldBody {
            body: Some(body),
            bytes,
            budget: self.clone(),
        })
    }
}

/// A response body whose bytes go back to the call's budget when it is
/// dropped: read to its end, or dropped unread with its response.
#[derive(Debug)]
pub(crate) struct HeldBody {
    body: Option<Bytes>,
    bytes: usize,
    budget: HeldBudget,
}

impl Drop for HeldBody {
    fn drop(&mut self) {
        self.budget.0.fetch_add(self.bytes, Ordering::AcqRel);
    }
}

impl Body for HeldBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let data = self.body.take().filter(|body| !body.is_empty());
        Poll::Ready(data.map(|body| Ok(Frame::data(body))))
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(Bytes::is_empty)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.body.as_ref().map_or(0, |body| body.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_bodies_share_one_budget_and_return_it_when_dropped() {
        let budget = HeldBudget::new(10);
        let first = budget.hold(Bytes::from_static(b"123456")).expect("6 of 10");
        assert!(budget.hold(Bytes::from_static(b"12345")).is_none());
        let second = budget.hold(Bytes::from_static(b"1234")).expect("4 of 4");
        drop(first);
        assert!(budget.hold(Bytes::from_static(b"123456")).is_some());
        drop(second);
    }
}
