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
/// A workload hardshell runs is served by the edge as exactly this value, its
/// `url` the unix socket of its inbound forwarder.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// `http://127.0.0.1:PORT` (loopback only) or `unix:/path/to/socket`.
    pub url: String,
    /// Seconds to wait for the upstream to answer.
    #[serde(default = "default_upstream_timeout_secs")]
    pub timeout_secs: u64,
    /// A host name of the upstream's own (`app.agent.example.com` beside the
    /// public URL's `agent.example.com`): the upstream is served there and only
    /// there, on an origin apart from the edge's, so that script the upstream
    /// serves cannot use the owner's edge session. Without it the upstream is
    /// served on the edge's own origin, beside the edge's routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// A header the edge sets to the authenticated principal's name for an
    /// upstream that trusts its proxy (OpenClaw's `trustedProxy.userHeader`),
    /// beside the signed `X-Hardshell-Identity`. A client's own copy is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_header: Option<String>,
}

/// What is wrong with `[upstream] host` or `identity_header`: the key and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamProblem {
    pub key: &'static str,
    pub message: &'static str,
}

impl Upstream {
    /// Checks `host` against the public URL's host (`public_host`), and that
    /// `identity_header` is a header name the edge does not own
    /// (`hardshell_vocabulary::headers`, the lists its proxy scrubs with), so
    /// `config check` finds it before the edge refuses to start.
    pub fn check(&self, public_host: Option<&str>) -> Result<(), UpstreamProblem> {
        if let Some(host) = &self.host {
            let problem = |message| UpstreamProblem {
                key: "upstream.host",
                message,
            };
            if !is_dns_name(host) {
                return Err(problem(
                    "a DNS name of the upstream's own, lower case, without scheme, port or path \
                     (e.g. app.agent.example.com)",
                ));
            }
            if public_host.is_some_and(|public| public.eq_ignore_ascii_case(host)) {
                return Err(problem(
                    "must differ from edge.public_url's host: the upstream's origin is apart \
                     from the edge's",
                ));
            }
        }
        if let Some(name) = &self.identity_header {
            let problem = |message| UpstreamProblem {
                key: "upstream.identity_header",
                message,
            };
            if !is_header_name(name) {
                return Err(problem(
                    "a header name: letters, digits and '-' (e.g. X-Forwarded-User)",
                ));
            }
            if hardshell_vocabulary::headers::is_edge_owned(name) {
                return Err(problem(
                    "a header the edge strips or sets itself; name one of the upstream's own (e.g. X-Forwarded-User)",
                ));
            }
        }
        Ok(())
    }
}

/// A lower-case DNS name of at least two labels (one label of letters, digits
/// and inner hyphens each, 63 bytes at most), not an IP address. By hand: the
/// url crate accepts any host a URL may carry, IPs and odd bytes included.
pub(crate) fn is_dns_name(text: &str) -> bool {
    let labels: Vec<&str> = text.split('.').collect();
    text.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
}

/// Letters, digits and inner hyphens: a narrower set than a header name may
/// use (RFC 9110 tchar), and no underscore, which the edge's proxy drops.
fn is_header_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && !text.starts_with('-')
        && !text.ends_with('-')
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
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

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(host: Option<&str>, header: Option<&str>) -> Upstream {
        Upstream {
            url: "unix:/run/u.sock".into(),
            timeout_secs: 1,
            host: host.map(str::to_owned),
            identity_header: header.map(str::to_owned),
        }
    }

    #[test]
    fn an_upstream_host_is_a_dns_name_apart_from_the_edges() {
        let public = Some("agent.example.com");
        for good in [
            "app.agent.example.com",
            "openclaw.localhost",
            "a-1.b2.example",
        ] {
            assert_eq!(upstream(Some(good), None).check(public), Ok(()), "{good}");
        }
        for bad in [
            "agent.example.com",
            "localhost",
            "https://app.example.com",
            "app.example.com:8443",
            "app.example.com/",
            "127.0.0.1",
            "App.Example.com",
            "-app.example.com",
            "app..example.com",
            "app.example.com.",
            "app_x.example.com",
        ] {
            assert_eq!(
                upstream(Some(bad), None).check(public).map_err(|p| p.key),
                Err("upstream.host"),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_identity_header_is_a_plain_header_name() {
        assert_eq!(upstream(None, Some("X-Forwarded-User")).check(None), Ok(()));
        for bad in [
            "",
            "X_Forwarded_User",
            "X-User:",
            "X User",
            "-x",
            "x\u{e9}",
            // The edge's own: stripped from clients, or set by it.
            "X-Forwarded-For",
            "x-hardshell-identity",
            "Authorization",
            "Cookie",
        ] {
            assert_eq!(
                upstream(None, Some(bad)).check(None).map_err(|p| p.key),
                Err("upstream.identity_header"),
                "{bad:?}"
            );
        }
    }
}
