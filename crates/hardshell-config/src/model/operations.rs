//! `[ratelimit]`, `[audit]`, `[upstream]`, `[metrics]`: how the edge runs.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::model::storage::S3;

/// `[ratelimit]`: the seed's `RATE_LIMIT_RPM` and `RATE_LIMIT_BURST`, applied per
/// principal and per client address.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimit {
    /// Sustained requests per minute.
    pub requests_per_minute: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
    /// Failed authentication attempts per minute, per address and per account.
    pub failed_auth_per_minute: u32,
    /// Failed attempts allowed at once before the per-minute rate applies.
    pub failed_auth_burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            requests_per_minute: 60,
            burst: 10,
            failed_auth_per_minute: 5,
            failed_auth_burst: 5,
        }
    }
}

/// `[audit]`: the tamper-evident log (the seed's Logpush to R2).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// Milliseconds between flushes of buffered request records. Admin actions
    /// are written before they are answered, whatever this says.
    pub flush_interval_ms: u64,
    /// Write the audit log to this bucket instead of the state store (e.g. a
    /// separate bucket with its own, write-only credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3>,
}

impl Default for Audit {
    fn default() -> Self {
        Self {
            flush_interval_ms: 1000,
            s3: None,
        }
    }
}

/// `[upstream]`: where the edge proxies authorised chat traffic (the Worker's job
/// in the seed). Until the built-in agent runs, any local HTTP server can be it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// `http://127.0.0.1:PORT` (loopback only) or `unix:/path/to/socket`.
    pub url: String,
    /// Seconds to wait for the upstream to answer.
    #[serde(default = "default_upstream_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_upstream_timeout_secs() -> u64 {
    120
}

/// `[metrics]`: Prometheus metrics. Without this table they are served at
/// `/metrics` to admins only.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// A separate loopback listener serving only `/metrics`, without authentication.
    pub listen: SocketAddr,
}
