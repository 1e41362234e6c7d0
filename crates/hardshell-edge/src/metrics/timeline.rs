//! The last day of answered requests, a minute at a time, by outcome: what
//! the admin page draws as requests and refusals over time.
//!
//! One counter per minute and outcome, in a ring of a day's minutes. Each
//! counter holds its minute in the high 32 bits and its count in the low 32,
//! so a counter left from a day ago starts again at one with a single
//! compare-and-swap: exact, without a lock on the request path. Written here:
//! the Prometheus counters are totals, and a time-series crate would keep
//! far more than the chart needs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use http::StatusCode;

/// Minutes kept: one day.
pub(crate) const MINUTES: u64 = 24 * 60;

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Answered below 400.
    Served,
    /// Refused for who asked or how often: 401, 403, 407, 429.
    Refused,
    /// Any other 4xx: a bad or unknown request.
    ClientError,
    /// 5xx.
    ServerError,
}

const OUTCOMES: usize = 4;

impl Outcome {
    pub fn of(status: StatusCode) -> Outcome {
        match status.as_u16() {
            401 | 403 | 407 | 429 => Outcome::Refused,
            400..=499 => Outcome::ClientError,
            500.. => Outcome::ServerError,
            _ => Outcome::Served,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Requests in one span of minutes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Point {
    /// The span's first minute, in minutes since the Unix epoch.
    pub minute: u64,
    pub served: u64,
    pub refused: u64,
    pub client_errors: u64,
    pub server_errors: u64,
}

pub(crate) struct Timeline {
    /// `MINUTES × OUTCOMES` counters: minute `m`'s are at `(m % MINUTES) × OUTCOMES`.
    counters: Box<[AtomicU64]>,
}

/// Minutes since the Unix epoch, by the wall clock.
pub(crate) fn this_minute() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() / 60)
}

impl Timeline {
    pub fn new() -> Self {
        // 46 KiB: a day of minutes, four outcomes each.
        let counters = (0..MINUTES as usize * OUTCOMES)
            .map(|_| AtomicU64::new(0))
            .collect();
        Self { counters }
    }

    pub fn record(&self, outcome: Outcome, minute: u64) {
        let counter = &self.counters[slot(minute) + outcome.index()];
        let stamp = (minute & 0xffff_ffff) << 32;
        let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
            Some(if held & !0xffff_ffff == stamp {
                // The same minute: one more, stopping at the most it can say.
                held + u64::from(held & 0xffff_ffff < 0xffff_ffff)
            } else {
                stamp | 1
            })
        });
    }

    fn count(&self, outcome: Outcome, minute: u64) -> u64 {
        let held = self.counters[slot(minute) + outcome.index()].load(Ordering::Relaxed);
        if held >> 32 == minute & 0xffff_ffff {
            held & 0xffff_ffff
        } else {
            0
        }
    }

    /// The `minutes` (at most a day) up to and including `now`, summed `step`
    /// minutes to a point, oldest first.
    pub fn points(&self, now: u64, minutes: u64, step: u64) -> Vec<Point> {
        let minutes = minutes.clamp(1, MINUTES);
        let step = step.clamp(1, minutes);
        let first = now.saturating_sub(minutes - 1);
        let mut points = Vec::new();
        let mut start = first;
        while start <= now {
            let mut point = Point {
                minute: start,
                ..Point::default()
            };
            for minute in start..(start + step).min(now + 1) {
                point.served += self.count(Outcome::Served, minute);
                point.refused += self.count(Outcome::Refused, minute);
                point.client_errors += self.count(Outcome::ClientError, minute);
                point.server_errors += self.count(Outcome::ServerError, minute);
            }
            points.push(point);
            start += step;
        }
        points
    }
}

fn slot(minute: u64) -> usize {
    // Below MINUTES × OUTCOMES, which fits any usize.
    ((minute % MINUTES) as usize) * OUTCOMES
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 29_000_000;

    #[test]
    fn statuses_fall_into_outcomes() {
        for (status, outcome) in [
            (200, Outcome::Served),
            (304, Outcome::Served),
            (101, Outcome::Served),
            (401, Outcome::Refused),
            (403, Outcome::Refused),
            (429, Outcome::Refused),
            (400, Outcome::ClientError),
            (404, Outcome::ClientError),
            (413, Outcome::ClientError),
            (500, Outcome::ServerError),
            (503, Outcome::ServerError),
        ] {
            assert_eq!(
                Outcome::of(StatusCode::from_u16(status).unwrap()),
                outcome,
                "{status}"
            );
        }
    }

    #[test]
    fn minutes_are_counted_apart_and_summed_by_step() {
        let timeline = Timeline::new();
        for _ in 0..3 {
            timeline.record(Outcome::Served, NOW);
        }
        timeline.record(Outcome::Refused, NOW);
        timeline.record(Outcome::Served, NOW - 1);
        timeline.record(Outcome::ServerError, NOW - 2);
        timeline.record(Outcome::ClientError, NOW - 5);
        let points = timeline.points(NOW, 3, 1);
        assert_eq!(
            points,
            [
                Point {
                    minute: NOW - 2,
                    server_errors: 1,
                    ..Point::default()
                },
                Point {
                    minute: NOW - 1,
                    served: 1,
                    ..Point::default()
                },
                Point {
                    minute: NOW,
                    served: 3,
                    refused: 1,
                    ..Point::default()
                },
            ]
        );
        // Five-minute points over ten minutes: NOW-9..NOW-5 and NOW-4..NOW.
        let points = timeline.points(NOW, 10, 5);
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].minute, NOW - 9);
        assert_eq!(points[0].client_errors, 1);
        assert_eq!(
            (points[1].served, points[1].refused, points[1].server_errors),
            (4, 1, 1)
        );
    }

    #[test]
    fn a_day_old_minute_is_forgotten_when_its_slot_comes_round() {
        let timeline = Timeline::new();
        timeline.record(Outcome::Served, NOW - MINUTES);
        timeline.record(Outcome::Served, NOW - MINUTES);
        // Not within the last day: not shown, though its slot is NOW's.
        assert_eq!(timeline.points(NOW, MINUTES, 1).last().unwrap().served, 0);
        timeline.record(Outcome::Served, NOW);
        assert_eq!(timeline.points(NOW, 1, 1)[0].served, 1);
        assert_eq!(timeline.points(NOW, MINUTES, MINUTES).len(), 1);
        assert_eq!(timeline.points(NOW, MINUTES * 7, 0).len(), MINUTES as usize);
    }

    #[test]
    fn counts_from_many_threads_are_exact() {
        let timeline = std::sync::Arc::new(Timeline::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let timeline = timeline.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        timeline.record(Outcome::Served, NOW);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(timeline.points(NOW, 1, 1)[0].served, 40_000);
    }
}
