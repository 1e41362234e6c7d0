//! This machine's clock against the store's. Sessions, tokens and
//! certificates expire by it, audit records are stamped with it, and S3
//! refuses a request signed more than 15 minutes off its own clock. The
//! store's time is the one it gave the object the probe wrote.

use chrono::{DateTime, Duration, Utc};

use crate::{Finding, Severity};

/// The checks [`check`] runs.
pub const CHECKS: &[&str] = &["clock.skew"];

/// What a store's times can be off by without any clock being wrong: S3's
/// `Last-Modified` is in whole seconds.
const RESOLUTION: Duration = Duration::seconds(2);

/// How far the store's time `server` for an object written between
/// `before` and `after` (this machine's clock) lies outside that window:
/// positive when the store is ahead.
pub fn skew(before: DateTime<Utc>, after: DateTime<Utc>, server: DateTime<Utc>) -> Duration {
    if server + RESOLUTION < before {
        server - before
    } else if server > after + RESOLUTION {
        server - after
    } else {
        Duration::zero()
    }
}

/// The findings for this machine's clock being `skew` behind the store at
/// `endpoint` (positive: the store is ahead).
pub fn check(endpoint: &str, skew: Duration) -> Vec<Finding> {
    let off = skew.abs();
    let severity = if off > Duration::minutes(5) {
        Severity::High
    } else if off > Duration::minutes(1) {
        Severity::Medium
    } else {
        return Vec::new();
    };
    let direction = if skew > Duration::zero() {
        "behind"
    } else {
        "ahead of"
    };
    vec![Finding::new(
        "clock.skew",
        severity,
        format!(
            "this machine's clock is {} s {direction} the store's ({endpoint})",
            off.num_seconds()
        ),
        "Sessions, tokens and certificates expire by it and audit records are stamped with \
         it; S3 refuses requests signed more than 15 minutes off its clock, and the edge \
         then cannot read or write anything.",
        "run a time service (systemd-timesyncd, chrony) and check `timedatectl` says the \
         clock is synchronized",
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_inside_the_write_is_no_skew_and_one_outside_is_measured_from_its_edge() {
        let before = DateTime::parse_from_rfc3339("2026-12-06T12:00:00.500Z")
            .unwrap()
            .to_utc();
        let after = before + Duration::milliseconds(300);
        // S3 truncates to the second: 12:00:00 for a write at 12:00:00.5.
        let truncated = before - Duration::milliseconds(500);
        assert_eq!(skew(before, after, truncated), Duration::zero());
        let behind = before - Duration::minutes(10);
        assert_eq!(skew(before, after, behind), -Duration::minutes(10));
        let ahead = after + Duration::hours(2);
        assert_eq!(skew(before, after, ahead), Duration::hours(2));
    }

    #[test]
    fn a_minute_off_is_nothing_two_are_medium_and_ten_high() {
        assert_eq!(check("s3", Duration::seconds(50)), []);
        let found = check("s3", Duration::minutes(2));
        assert_eq!(found[0].severity, Severity::Medium);
        assert_eq!(
            found[0].what,
            "this machine's clock is 120 s behind the store's (s3)"
        );
        let found = check("s3", -Duration::minutes(10));
        assert_eq!(found[0].severity, Severity::High);
        assert!(found[0].what.contains("600 s ahead of"), "{found:?}");
    }
}
