//! API tokens that stay valid long, and tokens nobody uses: every token
//! expires (a year at most), but one valid for months, or one unused for
//! months, is a key lying around.

use chrono::{DateTime, Duration, Utc};

use crate::{Finding, Severity};

/// The checks [`check`] runs.
pub const CHECKS: &[&str] = &["tokens.lifetime", "tokens.unused"];

/// A token valid longer than this from now is a finding.
const LONG_DAYS: i64 = 90;
/// A live token not used for this long (or never, since it was made this
/// long ago) is a finding.
const UNUSED_DAYS: i64 = 90;

/// What `doctor` needs of one API token.
#[derive(Debug, Clone)]
pub struct Token {
    pub id: String,
    pub name: String,
    /// Whether its scope is `admin` (it can make other tokens, read the
    /// audit log, change secrets).
    pub admin: bool,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Its last verification, to the day; `None` if never used.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

/// The findings for `tokens` at `now`.
pub fn check(tokens: &[Token], now: DateTime<Utc>) -> Vec<Finding> {
    let mut findings = long_lived(tokens, now);
    findings.extend(unused(tokens, now));
    findings
}

/// Live tokens not used for [`UNUSED_DAYS`].
fn unused(tokens: &[Token], now: DateTime<Utc>) -> Vec<Finding> {
    tokens
        .iter()
        .filter(|token| !token.revoked && token.expires_at > now)
        .filter_map(|token| {
            let since = token.last_used_at.unwrap_or(token.created_at);
            let days = (now - since).num_days();
            (days >= UNUSED_DAYS).then_some((token, days))
        })
        .map(|(token, days)| {
            let (severity, scope) = if token.admin {
                (Severity::Medium, "an admin")
            } else {
                (Severity::Low, "a")
            };
            let what = match token.last_used_at {
                Some(_) => format!(
                    "{scope} token {} ({}) was last used {days} days ago",
                    token.id, token.name
                ),
                None => format!(
                    "{scope} token {} ({}) was made {days} days ago and never used",
                    token.id, token.name
                ),
            };
            Finding::new(
                "tokens.unused",
                severity,
                what,
                "A token nobody uses still opens the edge to whoever holds a copy; its                  owner will not notice it is gone.",
                format!("hardshell token revoke {}", token.id),
            )
        })
        .collect()
}

/// Live tokens valid for more than [`LONG_DAYS`] from now.
fn long_lived(tokens: &[Token], now: DateTime<Utc>) -> Vec<Finding> {
    tokens
        .iter()
        .filter(|token| !token.revoked && token.expires_at - now > Duration::days(LONG_DAYS))
        .map(|token| {
            let days = (token.expires_at - now).num_days();
            let (severity, scope) = if token.admin {
                (Severity::Medium, "an admin")
            } else {
                (Severity::Low, "a")
            };
            Finding::new(
                "tokens.lifetime",
                severity,
                format!(
                    "{scope} token {} ({}) is valid for {days} more days",
                    token.id, token.name
                ),
                "A token is a key anyone who copies it can use until it expires; the longer \
                 it lives, the longer a leak goes on.",
                format!(
                    "hardshell token revoke {}, and create one with --expires-in 90d or less",
                    token.id
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_live_token_valid_past_ninety_days_is_found_and_admin_ones_weigh_more() {
        let now = Utc::now();
        let token = |id: &str, admin, days, revoked| Token {
            id: id.into(),
            name: format!("{id} name"),
            admin,
            created_at: now,
            expires_at: now + Duration::days(days),
            last_used_at: Some(now),
            revoked,
        };
        let found = check(
            &[
                token("short", true, 30, false),
                token("chat-year", false, 365, false),
                token("admin-year", true, 365, false),
                token("revoked-year", true, 365, true),
            ],
            now,
        );
        let seen: Vec<(Severity, &str)> = found
            .iter()
            .map(|f| (f.severity, f.what.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    Severity::Low,
                    "a token chat-year (chat-year name) is valid for 365 more days"
                ),
                (
                    Severity::Medium,
                    "an admin token admin-year (admin-year name) is valid for 365 more days"
                ),
            ]
        );
        assert!(
            found[1]
                .fix
                .starts_with("hardshell token revoke admin-year")
        );
    }

    #[test]
    fn a_live_token_unused_for_ninety_days_is_found_and_used_or_dead_ones_are_not() {
        let now = Utc::now();
        let token = |id: &str, admin, made: i64, used: Option<i64>| Token {
            id: id.into(),
            name: format!("{id} name"),
            admin,
            created_at: now - Duration::days(made),
            expires_at: now + Duration::days(30),
            last_used_at: used.map(|days| now - Duration::days(days)),
            revoked: false,
        };
        let mut revoked = token("revoked", true, 200, None);
        revoked.revoked = true;
        let mut expired = token("expired", true, 200, None);
        expired.expires_at = now - Duration::days(1);
        let found = check(
            &[
                token("busy", true, 200, Some(1)),
                token("young", false, 10, None),
                token("idle", false, 200, Some(120)),
                token("never", true, 95, None),
                revoked,
                expired,
            ],
            now,
        );
        let seen: Vec<(&str, Severity, &str)> = found
            .iter()
            .map(|f| (f.check, f.severity, f.what.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "tokens.unused",
                    Severity::Low,
                    "a token idle (idle name) was last used 120 days ago"
                ),
                (
                    "tokens.unused",
                    Severity::Medium,
                    "an admin token never (never name) was made 95 days ago and never used"
                ),
            ]
        );
        assert_eq!(found[1].fix, "hardshell token revoke never");
    }
}
