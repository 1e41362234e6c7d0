//! The rate-limit phase's state: four limiters over one monotonic clock.
//!
//! Requests are limited per client address and per principal (the seed's
//! RATE_LIMIT_RPM / RATE_LIMIT_BURST). Failed authentications have their own,
//! stricter limiters per address and per (account, address): a client over that
//! budget is refused before its credential is even checked. Addresses are keyed
//! as [`ClientKey`]s: an IPv6 client by its /64.
//!
//! The account budget is per (token id, address), not per token id: token ids
//! are not secret (the upstream and the audit log see them), so a budget per id
//! let anyone lock a token's holder out with a few wrong secrets. A guesser
//! spread over many addresses gains nothing from the change: a token's secret
//! is 256 random bits.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use hardshell_ratelimit::{ClientKey, Decision, Limiter, Quota, QuotaError};

/// Keys remembered per limiter. Spent keys are swept when room is needed; a flood
/// of distinct keys beyond this is refused rather than allowed to grow memory.
const MAX_KEYS: usize = 100_000;

pub(crate) struct RateLimits {
    origin: Instant,
    per_address: Limiter<ClientKey>,
    per_principal: Limiter<String>,
    failures_per_address: Limiter<ClientKey>,
    failures_per_account: Limiter<(String, ClientKey)>,
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limited {
    Address,
    Principal,
    FailedAuth,
}

impl Limited {
    pub fn as_str(self) -> &'static str {
        match self {
            Limited::Address => "address",
            Limited::Principal => "principal",
            Limited::FailedAuth => "failed_auth",
        }
    }
}

impl RateLimits {
    pub fn new(requests: Quota, failures: Quota) -> Self {
        let max = NonZeroUsize::new(MAX_KEYS).unwrap_or(NonZeroUsize::MIN);
        Self {
            origin: Instant::now(),
            per_address: Limiter::new(requests, max),
            per_principal: Limiter::new(requests, max),
            failures_per_address: Limiter::new(failures, max),
            failures_per_account: Limiter::new(failures, max),
        }
    }

    pub fn from_config(config: &hardshell_config::RateLimit) -> Result<Self, QuotaError> {
        Ok(Self::new(
            Quota::new(config.requests_per_minute, config.burst)?,
            Quota::new(config.failed_auth_per_minute, config.failed_auth_burst)?,
        ))
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Refuses an address that has used up its failed-authentication budget.
    pub fn check_lockout(&self, client: IpAddr) -> Result<(), u64> {
        deny_secs(
            self.failures_per_address
                .peek(&ClientKey::from(client), self.now()),
        )
    }

    /// Charges a failed authentication to the address and, when known, to the
    /// account as tried from that address.
    pub fn charge_failure(&self, client: IpAddr, account: Option<&str>) {
        let now = self.now();
        let client = ClientKey::from(client);
        self.failures_per_address.check(&client, now);
        if let Some(account) = account {
            self.failures_per_account
                .check(&(account.to_owned(), client), now);
        }
    }

    /// Whether `client` is locked out of an account by its own failures against
    /// it; failures from other addresses never lock it out.
    pub fn account_locked(&self, account: &str, client: IpAddr) -> Option<u64> {
        let key = (account.to_owned(), ClientKey::from(client));
        deny_secs(self.failures_per_account.peek(&key, self.now())).err()
    }

    /// Charges one request to the address and, when authenticated, the principal.
    pub fn charge_request(
        &self,
        client: IpAddr,
        principal: Option<&str>,
    ) -> Result<(), (Limited, u64)> {
        let now = self.now();
        deny_secs(self.per_address.check(&ClientKey::from(client), now))
            .map_err(|secs| (Limited::Address, secs))?;
        if let Some(principal) = principal {
            deny_secs(self.per_principal.check(&principal.to_owned(), now))
                .map_err(|secs| (Limited::Principal, secs))?;
        }
        Ok(())
    }

    /// Gives memory back between bursts; called on a timer.
    pub fn sweep(&self) {
        let now = self.now();
        self.per_address.evict_expired(now);
        self.per_principal.evict_expired(now);
        self.failures_per_address.evict_expired(now);
        self.failures_per_account.evict_expired(now);
    }
}

fn deny_secs(decision: Decision) -> Result<(), u64> {
    match decision.retry_after_secs() {
        None => Ok(()),
        Some(secs) => Err(secs),
    }
}
