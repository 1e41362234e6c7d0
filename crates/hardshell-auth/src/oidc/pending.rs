//! A login that was started and has not come back yet.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::OidcError;

/// `created_at` comes from this machine's clock, so a record dated further
/// ahead than an ordinary clock adjustment is corrupt or forged.
const MAX_FUTURE_SKEW: Duration = Duration::from_secs(60);

/// What [`super::OidcClient::begin`] hands the gateway to keep server-side,
/// keyed by [`PendingLogin::state`], until the provider redirects back.
/// Serialisable for that store; its secrets are zeroed on drop and redacted in
/// `Debug`. It must be used once: take it out of the store before
/// [`super::OidcClient::complete`].
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct PendingLogin {
    pub(super) state: String,
    pub(super) nonce: String,
    pub(super) pkce_verifier: String,
    #[zeroize(skip)]
    pub(super) created_at: DateTime<Utc>,
}

impl PendingLogin {
    /// The `state` sent to the provider; the key to store this login under.
    pub fn state(&self) -> &str {
        &self.state
    }

    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// Refuses a login older than `timeout`, or dated in the future.
    pub(super) fn check_age(&self, now: DateTime<Utc>, timeout: Duration) -> Result<(), OidcError> {
        let age = now.signed_duration_since(self.created_at);
        let too_old = age.to_std().is_ok_and(|age| age > timeout);
        let from_future = (-age).to_std().is_ok_and(|ahead| ahead > MAX_FUTURE_SKEW);
        if too_old || from_future {
            return Err(OidcError::LoginExpired {
                timeout_secs: timeout.as_secs(),
            });
        }
        Ok(())
    }

    /// Compares the `state` the provider sent back, in constant time.
    pub(super) fn state_matches(&self, returned: &str) -> bool {
        self.state.as_bytes().ct_eq(returned.as_bytes()).into()
    }
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("state", &"<redacted>")
            .field("nonce", &"<redacted>")
            .field("pkce_verifier", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}
