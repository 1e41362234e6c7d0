//! API tokens that stay valid long: every token expires (a year at most),
//! but one valid for months is a key lying around.

use chrono::{DateTime, Duration, Utc};

use crate::{Finding, Severity};

/// The checks [`check`] runs.
pub const CHECKS: &[&str] = &["tokens.lifetime"];

/// A token valid longer than this from now is a finding.
const LONG_DAYS: i64 = 90;

/// What `doctor` needs of one API token.
#[derive(Debug, Clone)]
pub struct Token {
    pub id: String,
    pub name: String,
    /// Whether its scope is `admin` (it can make other tokens, read the
    /// audit log, change secrets).
    pub admin: bool,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

/// The findings for `tokens` at `now`.
pub fn check(tokens: &[Token], now: DateTime<Utc>) -> Vec<Finding> {
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
            expires_at: now + Duration::days(days),
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
}
