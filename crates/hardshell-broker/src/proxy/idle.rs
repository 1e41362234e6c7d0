//! The requests in flight on one inspected connection, so that a connection
//! with none for a while is closed: an idle h2 connection (clients keep them
//! for minutes) or kept-alive HTTP/1.1 one would otherwise hold one of the
//! shell's connection slots, and an upstream's worth of the edge, for good.
//! A request counts as in flight from its head until its answer's body has
//! been sent or dropped, so a long upload or a long stream of events is
//! never cut for being idle.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use tokio::sync::watch;

use super::Body;

/// How many requests one connection has in flight.
#[derive(Debug, Clone)]
pub(super) struct InFlight(Arc<watch::Sender<usize>>);

/// One request in flight; done when dropped.
#[derive(Debug)]
pub(super) struct Busy(Arc<watch::Sender<usize>>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl InFlight {
    pub(super) fn new() -> Self {
        Self(Arc::new(watch::channel(0).0))
    }

    pub(super) fn begin(&self) -> Busy {
        self.0.send_modify(|n| *n += 1);
        Busy(self.0.clone())
    }

    /// Resolves once the connection has had no request in flight for
    /// `limit` in a row.
    pub(super) async fn idle_for(&self, limit: Duration) {
        let mut count = self.0.subscribe();
        loop {
            // The sender lives in `self`, so neither wait can end closed.
            if count.wait_for(|n| *n == 0).await.is_err() {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(limit) => return,
                // A request began (or another ended): count again.
                changed = count.changed() => if changed.is_err() { return },
            }
        }
    }
}

/// `body`, with `busy` held until it has been sent or dropped.
pub(super) fn held(body: Body, busy: Busy) -> Body {
    BodyExt::boxed_unsync(body.map_frame(move |frame| {
        let _busy = &busy;
        frame
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_is_idle_only_after_the_limit_with_nothing_in_flight() {
        let in_flight = InFlight::new();
        let limit = Duration::from_millis(100);
        let busy = in_flight.begin();
        // Busy for twice the limit: not idle.
        let idle = tokio::time::timeout(limit * 2, in_flight.idle_for(limit)).await;
        assert!(idle.is_err());
        drop(busy);
        let started = std::time::Instant::now();
        in_flight.idle_for(limit).await;
        assert!(started.elapsed() >= limit);
    }
}
