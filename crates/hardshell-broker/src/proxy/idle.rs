//! The requests in flight on one inspected connection, so that a connection
//! with none for a while is closed: an idle h2 connection (clients keep them
//! for minutes) or kept-alive HTTP/1.1 one would otherwise hold one of the
//! shell's connection slots, and an upstream's worth of the edge, for good.
//! A request counts as in flight from its head until its answer's body has
//! been sent or dropped, so a long upload or a long stream of events is
//! never cut for being idle.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;

use super::Body;

/// How many requests one connection has in flight, and when the last one
/// ended. Kept in atomics and looked at by a timer a few times per limit,
/// not signalled: a request costs two counter updates and a clock read, and
/// wakes nothing (a wake and a new timer per request cost an inspected
/// request ~20 µs in `bench/broker.sh`).
#[derive(Debug, Clone)]
pub(super) struct InFlight(Arc<State>);

#[derive(Debug)]
struct State {
    count: AtomicUsize,
    /// When the last request ended (or the connection began), in
    /// nanoseconds since `since`.
    last: AtomicU64,
    since: Instant,
}

impl State {
    fn now(&self) -> u64 {
        u64::try_from(self.since.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// One request in flight; done when dropped.
#[derive(Debug)]
pub(super) struct Busy(Arc<State>);

impl Drop for Busy {
    fn drop(&mut self) {
        // The time first: a check between the two sees the request still in
        // flight, never a count of zero with the old time.
        self.0.last.store(self.0.now(), Ordering::SeqCst);
        self.0.count.fetch_sub(1, Ordering::SeqCst);
    }
}

impl InFlight {
    pub(super) fn new() -> Self {
        Self(Arc::new(State {
            count: AtomicUsize::new(0),
            last: AtomicU64::new(0),
            since: Instant::now(),
        }))
    }

    pub(super) fn begin(&self) -> Busy {
        self.0.count.fetch_add(1, Ordering::SeqCst);
        Busy(self.0.clone())
    }

    /// Resolves once the connection has had no request in flight for
    /// `limit` in a row (found within a quarter of `limit` after).
    pub(super) async fn idle_for(&self, limit: Duration) {
        let limit_nanos = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
        let mut tick = tokio::time::interval((limit / 4).max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let state = &self.0;
            if state.count.load(Ordering::SeqCst) == 0
                && state
                    .now()
                    .saturating_sub(state.last.load(Ordering::SeqCst))
                    >= limit_nanos
            {
                return;
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
        let took = started.elapsed();
        assert!(took >= limit && took < limit * 2, "{took:?}");
    }
}
