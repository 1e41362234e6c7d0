//! From the verified claims of an Access token to a [`Principal`].
//!
//! Cloudflare's application token carries `sub`, `email`, `iat` and, for
//! service tokens, `common_name` in place of a user. Groups are not part of the
//! default token: they appear when the identity provider's claims are passed
//! through, either as a top-level `groups` or inside `custom`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::CfAccessError;
use crate::principal::{groups_from_claim, verified_email};
use crate::{Method, Principal};

#[derive(Deserialize)]
pub(crate) struct AccessClaims {
    #[serde(default)]
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    common_name: Option<String>,
    #[serde(default)]
    iat: Option<i64>,
    // Kept loose: a provider's claim of an unexpected shape yields no groups
    // rather than refusing an otherwise valid login.
    #[serde(default)]
    groups: Option<serde_json::Value>,
    #[serde(default)]
    custom: Option<serde_json::Value>,
}

impl AccessClaims {
    /// The principal these claims prove. `iat` becomes the login time, as the
    /// token is issued when the person passes Access.
    pub(crate) fn into_principal(
        self,
        now: DateTime<Utc>,
        leeway: Duration,
    ) -> Result<Principal, CfAccessError> {
        let subject = if !self.sub.is_empty() {
            self.sub
        } else {
            // A service token has an empty `sub` and names itself in `common_name`.
            self.common_name
                .filter(|name| !name.is_empty())
                .ok_or(CfAccessError::MissingClaim { claim: "sub" })?
        };
        let iat = self
            .iat
            .ok_or(CfAccessError::MissingClaim { claim: "iat" })?;
        let issued_at =
            DateTime::<Utc>::from_timestamp(iat, 0).ok_or(CfAccessError::Malformed {
                reason: "iat is out of range",
            })?;
        let skew = chrono::Duration::from_std(leeway).unwrap_or(chrono::Duration::zero());
        if issued_at > now + skew {
            return Err(CfAccessError::NotYetValid);
        }
        let groups = self
            .groups
            .or_else(|| {
                self.custom
                    .and_then(|mut custom| custom.get_mut("groups").map(std::mem::take))
            })
            .map(groups_from_claim)
            .unwrap_or_default();
        Ok(Principal {
            subject,
            email: self.email.as_deref().and_then(verified_email),
            groups,
            method: Method::CloudflareAccess,
            // Within the leeway a token may be issued a moment "after" now;
            // that is skew, and must not make the login look fresher than now.
            authenticated_at: issued_at.min(now),
            token_scope: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(email: &str) -> AccessClaims {
        serde_json::from_value(serde_json::json!({
            "sub": "user-1",
            "email": email,
            "iat": 1_700_000_000,
        }))
        .unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_100, 0).unwrap()
    }

    #[test]
    fn an_ascii_email_is_lower_cased() {
        let principal = claims("Karen@Example.com")
            .into_principal(now(), Duration::from_secs(60))
            .unwrap();
        assert_eq!(principal.email.as_deref(), Some("karen@example.com"));
    }

    #[test]
    fn a_kelvin_sign_email_is_not_folded_into_an_ascii_one() {
        let principal = claims("\u{212A}aren@example.com")
            .into_principal(now(), Duration::from_secs(60))
            .unwrap();
        assert_eq!(principal.email, None);
    }
}
