//! The limiter's promises, checked on generated traffic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::time::Duration;

use hardshell_ratelimit::{Decision, Limiter, Quota, Tat, check};
use proptest::prelude::*;

fn quota() -> impl Strategy<Value = Quota> {
    (1u32..=6000, 1u32..=20).prop_map(|(per_minute, burst)| Quota::new(per_minute, burst).unwrap())
}

/// Request times as gaps from the previous request, in fractions of an interval, so
/// the traffic is dense enough to hit the limit and sparse enough to refill.
fn arrivals(quota: Quota, gaps: &[u16]) -> Vec<Duration> {
    let mut now = Duration::from_secs(1000);
    gaps.iter()
        .map(|gap| {
            now += quota.interval().mul_f64(f64::from(*gap) / 256.0);
            now
        })
        .collect()
}

fn nanos(d: Duration) -> u128 {
    d.as_nanos()
}

proptest! {
    #[test]
    fn no_window_admits_more_than_burst_plus_rate(
        quota in quota(),
        gaps in prop::collection::vec(0u16..512, 1..200),
    ) {
        let mut tat: Option<Tat> = None;
        let mut admitted = Vec::new();
        for now in arrivals(quota, &gaps) {
            let (decision, next) = check(tat, &quota, now);
            tat = Some(next);
            if decision.is_allowed() {
                admitted.push(now);
            }
        }
        for (i, start) in admitted.iter().enumerate() {
            for (j, end) in admitted.iter().enumerate().skip(i) {
                let window = nanos(*end - *start);
                // ceil(window × per_minute / 60 s), exactly, in integers.
                let by_rate = (window * u128::from(quota.per_minute())).div_ceil(60_000_000_000);
                let count = (j - i + 1) as u128;
                prop_assert!(
                    count <= u128::from(quota.burst()) + by_rate,
                    "{count} admitted in {window} ns under {quota:?}"
                );
            }
        }
    }

    #[test]
    fn a_denied_request_retried_at_retry_after_is_admitted(
        quota in quota(),
        gaps in prop::collection::vec(0u16..64, 1..100),
    ) {
        let mut tat: Option<Tat> = None;
        for now in arrivals(quota, &gaps) {
            let (decision, next) = check(tat, &quota, now);
            tat = Some(next);
            if let Decision::Deny { retry_after } = decision {
                let (retried, _) = check(tat, &quota, now + retry_after);
                prop_assert!(retried.is_allowed(), "retry at +{retry_after:?} refused");
                let (early, _) = check(tat, &quota, now + retry_after - Duration::from_nanos(1));
                prop_assert!(!early.is_allowed(), "retry_after is longer than needed");
            }
        }
    }

    #[test]
    fn a_steady_stream_at_the_rate_is_always_admitted(quota in quota(), count in 1usize..500, start in 0u64..1_000_000) {
        let mut tat: Option<Tat> = None;
        let mut now = Duration::from_millis(start);
        for _ in 0..count {
            let (decision, next) = check(tat, &quota, now);
            prop_assert!(decision.is_allowed());
            tat = Some(next);
            now += quota.interval();
        }
    }

    #[test]
    fn distinct_keys_are_independent(
        quota in quota(),
        traffic in prop::collection::vec((0u8..4, 0u16..256), 1..300),
    ) {
        let limiter = Limiter::new(quota, NonZeroUsize::new(64).unwrap());
        let mut alone: HashMap<u8, Option<Tat>> = HashMap::new();
        let mut now = Duration::from_secs(1);
        for (key, gap) in traffic {
            now += quota.interval().mul_f64(f64::from(gap) / 1024.0);
            let shared = limiter.check(&key, now);
            let tat = alone.entry(key).or_default();
            let (by_itself, next) = check(*tat, &quota, now);
            *tat = Some(next);
            prop_assert_eq!(shared, by_itself);
        }
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_distinct_keys(
        quota in quota(),
        max_keys in 1usize..200,
        flood in prop::collection::vec((any::<u32>(), 0u16..64), 1..2000),
    ) {
        let limiter = Limiter::new(quota, NonZeroUsize::new(max_keys).unwrap());
        let mut now = Duration::from_secs(1);
        for (key, gap) in flood {
            now += quota.interval().mul_f64(f64::from(gap) / 256.0);
            limiter.check(&key, now);
            prop_assert!(limiter.len() <= max_keys);
        }
    }
}
