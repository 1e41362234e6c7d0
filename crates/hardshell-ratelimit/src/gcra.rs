//! The generic cell rate algorithm as one pure step function.
//!
//! Each key carries a single number, its theoretical arrival time ([`Tat`]): when
//! the next request would be due if the key had sent at exactly the sustained rate.
//! A request at `now` is admitted if, after charging it one interval, the TAT runs
//! no more than `burst` intervals ahead of `now`. A key whose TAT is in the past has
//! no history worth keeping, which is what lets the limiter forget it.

use std::time::Duration;

use crate::Quota;

/// A key's theoretical arrival time, in nanoseconds since the caller's origin.
/// Meaningful only with the [`Quota`] that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tat(u64);

impl Tat {
    /// Whether the key is back to a full burst at `now`: such a TAT carries no
    /// state, and dropping it changes no future decision.
    pub fn is_spent(self, now: Duration) -> bool {
        self.0 <= nanos(now)
    }

    pub fn as_duration(self) -> Duration {
        Duration::from_nanos(self.0)
    }
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admit it; `remaining` more could be admitted right now.
    Allow { remaining: u32 },
    /// Refuse it. From [`check`], the same request is admitted `retry_after` from
    /// now. From a full [`Limiter`](crate::Limiter) refusing a new key, it is when
    /// room is expected to free up, which another new key may take first.
    Deny { retry_after: Duration },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }

    /// The `Retry-After` header value for a denial, in whole seconds.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Decision::Allow { .. } => None,
            Decision::Deny { retry_after } => Some(retry_after_secs(*retry_after)),
        }
    }
}

/// Whole seconds, rounded up: a client that waits this long is admitted, whereas
/// rounding down would send it back one second too early, into another refusal.
pub fn retry_after_secs(retry_after: Duration) -> u64 {
    let whole = retry_after.as_secs();
    if retry_after.subsec_nanos() > 0 {
        whole.saturating_add(1)
    } else {
        whole
    }
}

/// One GCRA step: decides a request at `now` for a key whose TAT is `tat` (`None`
/// for a key never seen or forgotten) and returns the key's new TAT. A refusal
/// leaves the TAT as it was, so denied requests cost the client nothing and
/// retrying after `retry_after` is admitted.
pub fn check(tat: Option<Tat>, quota: &Quota, now: Duration) -> (Decision, Tat) {
    let now = nanos(now);
    let interval = quota.interval_nanos();
    let tolerance = quota.tolerance_nanos();
    // A TAT in the past means the key has been quiet long enough to refill.
    let start = tat.map_or(now, |Tat(t)| t.max(now));
    let ahead = start - now;
    if ahead > tolerance {
        let retry_after = Duration::from_nanos(ahead - tolerance);
        return (Decision::Deny { retry_after }, Tat(start));
    }
    let Some(next) = start.checked_add(interval) else {
        // Past 584 years of uptime the clock saturates; refuse rather than wrap.
        let retry_after = Duration::from_nanos(interval);
        return (Decision::Deny { retry_after }, Tat(start));
    };
    // How many more intervals fit under the tolerance after this one.
    let remaining = (tolerance - ahead) / interval;
    let remaining = u32::try_from(remaining).unwrap_or(u32::MAX);
    (Decision::Allow { remaining }, Tat(next))
}

/// Nanoseconds since the origin. `u64` nanoseconds span 584 years of uptime; beyond
/// that, time saturates and [`check`] refuses.
fn nanos(time: Duration) -> u64 {
    u64::try_from(time.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_new_key_gets_its_whole_burst_then_is_denied() {
        let quota = Quota::new(60, 3).unwrap();
        let mut tat = None;
        for remaining in [2, 1, 0] {
            let (decision, next) = check(tat, &quota, secs(100));
            assert_eq!(decision, Decision::Allow { remaining });
            tat = Some(next);
        }
        let (decision, next) = check(tat, &quota, secs(100));
        assert_eq!(
            decision,
            Decision::Deny {
                retry_after: secs(1)
            }
        );
        assert_eq!(Some(next), tat, "a refusal must not charge the key");
    }

    #[test]
    fn burst_of_one_allows_one_request_per_interval() {
        let quota = Quota::new(60, 1).unwrap();
        let (first, tat) = check(None, &quota, secs(0));
        assert_eq!(first, Decision::Allow { remaining: 0 });
        let (early, _) = check(Some(tat), &quota, Duration::from_millis(999));
        assert_eq!(
            early,
            Decision::Deny {
                retry_after: Duration::from_millis(1)
            }
        );
        let (on_time, _) = check(Some(tat), &quota, secs(1));
        assert!(on_time.is_allowed());
    }

    #[test]
    fn a_quiet_key_refills_to_its_full_burst() {
        let quota = Quota::new(60, 5).unwrap();
        let mut tat = None;
        for _ in 0..5 {
            tat = Some(check(tat, &quota, secs(0)).1);
        }
        assert!(!check(tat, &quota, secs(0)).0.is_allowed());
        let (decision, _) = check(tat, &quota, secs(3600));
        assert_eq!(decision, Decision::Allow { remaining: 4 });
        assert!(tat.unwrap().is_spent(secs(5)));
        assert!(!tat.unwrap().is_spent(Duration::from_millis(4999)));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 0);
        let denied = Decision::Deny {
            retry_after: Duration::from_millis(2500),
        };
        assert_eq!(denied.retry_after_secs(), Some(3));
        assert_eq!(Decision::Allow { remaining: 0 }.retry_after_secs(), None);
    }

    #[test]
    fn time_past_the_u64_range_is_denied_not_wrapped() {
        let quota = Quota::new(1, 1).unwrap();
        let far = Duration::from_secs(u64::MAX);
        let (decision, _) = check(None, &quota, far);
        assert!(!decision.is_allowed());
    }
}
