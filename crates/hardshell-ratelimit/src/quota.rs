//! [`Quota`]: how many requests a key may make, validated once at start-up.

use std::time::Duration;

const NANOS_PER_MINUTE: u64 = 60_000_000_000;

/// A sustained rate plus a burst, e.g. 60 requests a minute with bursts of 10.
///
/// Built only through [`Quota::new`], so a zero or absurd quota cannot reach the
/// limiter. The emission interval (time between requests at the sustained rate) is
/// `60 s / per_minute` rounded down to whole nanoseconds: a client sending at exactly
/// the configured rate is never refused, and the rounding admits at most one extra
/// request per `interval` intervals (one in 10,000 at the highest allowed rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    per_minute: u32,
    burst: u32,
    interval_nanos: u64,
}

/// Why a quota was refused. Messages name the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error("rate limit of 0 requests per minute would refuse everything; set at least 1")]
    ZeroRate,
    #[error("rate limit burst of 0 would refuse everything; set at least 1")]
    ZeroBurst,
    #[error("rate limit of {per_minute} requests per minute is above the maximum of {max}")]
    RateTooHigh { per_minute: u32, max: u32 },
    #[error("rate limit burst of {burst} is above the maximum of {max}")]
    BurstTooHigh { burst: u32, max: u32 },
}

impl Quota {
    /// 100,000 requests a second: more than one edge serves, and keeps the emission
    /// interval at 10 µs or more, so rounding it to nanoseconds stays negligible.
    pub const MAX_PER_MINUTE: u32 = 6_000_000;
    /// Keeps `burst × interval` far from overflowing 64-bit nanoseconds.
    pub const MAX_BURST: u32 = 1_000_000;

    pub fn new(per_minute: u32, burst: u32) -> Result<Self, QuotaError> {
        if per_minute == 0 {
            return Err(QuotaError::ZeroRate);
        }
        if burst == 0 {
            return Err(QuotaError::ZeroBurst);
        }
        if per_minute > Self::MAX_PER_MINUTE {
            return Err(QuotaError::RateTooHigh {
                per_minute,
                max: Self::MAX_PER_MINUTE,
            });
        }
        if burst > Self::MAX_BURST {
            return Err(QuotaError::BurstTooHigh {
                burst,
                max: Self::MAX_BURST,
            });
        }
        Ok(Self {
            per_minute,
            burst,
            interval_nanos: NANOS_PER_MINUTE / u64::from(per_minute),
        })
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// How many requests a key with no recent history may make at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Time between requests at the sustained rate.
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_nanos)
    }

    pub(crate) fn interval_nanos(&self) -> u64 {
        self.interval_nanos
    }

    /// How far ahead of now a key's theoretical arrival time may run and still be
    /// admitted: `(burst - 1)` intervals. Bounded by the limits in [`Quota::new`].
    pub(crate) fn tolerance_nanos(&self) -> u64 {
        self.interval_nanos * u64::from(self.burst - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_rate_is_refused() {
        assert_eq!(Quota::new(0, 5), Err(QuotaError::ZeroRate));
    }

    #[test]
    fn zero_burst_is_refused() {
        assert_eq!(Quota::new(60, 0), Err(QuotaError::ZeroBurst));
    }

    #[test]
    fn absurd_values_are_refused_with_the_value_named() {
        let err = Quota::new(Quota::MAX_PER_MINUTE + 1, 1).unwrap_err();
        assert!(err.to_string().contains("6000001"), "{err}");
        let err = Quota::new(60, Quota::MAX_BURST + 1).unwrap_err();
        assert!(err.to_string().contains("1000001"), "{err}");
    }

    #[test]
    fn largest_quota_is_accepted() {
        let quota = Quota::new(Quota::MAX_PER_MINUTE, Quota::MAX_BURST).unwrap();
        assert_eq!(quota.interval(), Duration::from_micros(10));
        assert_eq!(quota.tolerance_nanos(), 10_000 * 999_999);
    }

    #[test]
    fn interval_is_a_minute_divided_by_the_rate() {
        let quota = Quota::new(60, 10).unwrap();
        assert_eq!(quota.interval(), Duration::from_secs(1));
        assert_eq!(quota.per_minute(), 60);
        assert_eq!(quota.burst(), 10);
        // 60 s / 7 = 8.571428571428... s, rounded down.
        let quota = Quota::new(7, 1).unwrap();
        assert_eq!(quota.interval(), Duration::from_nanos(8_571_428_571));
    }
}
