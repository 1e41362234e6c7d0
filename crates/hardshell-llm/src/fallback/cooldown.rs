//! The cooldown of one fallback entry: a pure state machine, the time passed in.

use std::time::Duration;

use tokio::time::Instant;

/// How long an entry rests after its first, second, and third and later retryable
/// failures in a row.
pub const COOLDOWN_STEPS: [Duration; 3] = [
    Duration::from_secs(30),
    Duration::from_secs(60),
    Duration::from_secs(300),
];

/// The longest a provider's own `Retry-After` is honoured for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Whether an entry may be tried, and for how long it must rest after failing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cooldown {
    /// Retryable failures since the last success.
    failures: u32,
    until: Option<Instant>,
}

impl Cooldown {
    /// Whether the entry is resting at `now`.
    pub fn is_cooling(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| now < until)
    }

    /// How much longer the entry rests, zero when it does not.
    pub fn remaining(&self, now: Instant) -> Duration {
        self.until
            .map_or(Duration::ZERO, |until| until.saturating_duration_since(now))
    }

    /// A retryable failure at `now`: rest for the next, longer step, or for as
    /// long as the provider asked (its `Retry-After`, up to [`MAX_RETRY_AFTER`])
    /// if that is longer.
    pub fn record_failure(&mut self, now: Instant, asked: Option<Duration>) {
        self.failures = self.failures.saturating_add(1);
        let step = usize::try_from(self.failures - 1)
            .unwrap_or(usize::MAX)
            .min(COOLDOWN_STEPS.len() - 1);
        let rest = COOLDOWN_STEPS[step].max(asked.unwrap_or_default().min(MAX_RETRY_AFTER));
        self.until = Some(now + rest);
    }

    /// A complete reply: the entry is healthy again.
    pub fn record_success(&mut self) {
        *self = Self::default();
    }

    /// Retryable failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_fresh_entry_is_not_cooling() {
        let now = Instant::now();
        assert!(!Cooldown::default().is_cooling(now));
        assert_eq!(Cooldown::default().remaining(now), Duration::ZERO);
    }

    #[test]
    fn repeated_failures_rest_30_s_then_1_min_then_5_min() {
        let start = Instant::now();
        let mut cooldown = Cooldown::default();

        cooldown.record_failure(start, None);
        assert!(cooldown.is_cooling(start + 29 * SECOND));
        assert!(!cooldown.is_cooling(start + 30 * SECOND));

        let second = start + 30 * SECOND;
        cooldown.record_failure(second, None);
        assert!(cooldown.is_cooling(second + 59 * SECOND));
        assert!(!cooldown.is_cooling(second + 60 * SECOND));

        for _ in 0..5 {
            let later = start + 1000 * SECOND;
            cooldown.record_failure(later, None);
            assert_eq!(cooldown.remaining(later), 300 * SECOND);
            assert!(cooldown.is_cooling(later + 299 * SECOND));
            assert!(!cooldown.is_cooling(later + 300 * SECOND));
        }
    }

    #[test]
    fn a_success_resets_the_steps() {
        let now = Instant::now();
        let mut cooldown = Cooldown::default();
        cooldown.record_failure(now, None);
        cooldown.record_failure(now, None);
        cooldown.record_success();
        assert!(!cooldown.is_cooling(now));
        assert_eq!(cooldown.failures(), 0);
        cooldown.record_failure(now, None);
        assert_eq!(cooldown.remaining(now), 30 * SECOND);
    }

    #[test]
    fn a_longer_retry_after_is_honoured_up_to_an_hour() {
        let now = Instant::now();
        let mut cooldown = Cooldown::default();
        cooldown.record_failure(now, Some(5 * SECOND));
        assert_eq!(
            cooldown.remaining(now),
            30 * SECOND,
            "shorter than the step"
        );
        cooldown.record_failure(now, Some(600 * SECOND));
        assert_eq!(cooldown.remaining(now), 600 * SECOND);
        cooldown.record_failure(now, Some(86_400 * SECOND));
        assert_eq!(cooldown.remaining(now), MAX_RETRY_AFTER);
    }
}
