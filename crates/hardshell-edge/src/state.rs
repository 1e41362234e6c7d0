//! Everything the edge's request path shares, built once at start-up.

use std::sync::Arc;

use hardshell_auth::identity::AssertionCache;
use hardshell_auth::passkey::OwnerPasskeys;
use hardshell_auth::{CfAccessVerifier, Ephemeral, Policy, SessionStore, TokenStore};

use hardshell_config::Cidr;

use crate::audit::Trail;
use crate::cookies::CookiePolicy;
use crate::metrics::Metrics;
use crate::pipeline::limits::RateLimits;
use crate::proxy::Upstream;

/// Request limits enforced by the server and the pipeline.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub max_body_bytes: u64,
    pub header_timeout: std::time::Duration,
    pub request_timeout: std::time::Duration,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
}

pub struct EdgeState {
    pub(crate) policy: Policy,
    pub(crate) tokens: TokenStore,
    pub(crate) sessions: SessionStore,
    pub(crate) session_max_age_secs: i64,
    pub(crate) cookies: CookiePolicy,
    pub(crate) https: bool,
    /// `scheme://host[:port]` of the public URL, as browsers send it in `Origin`.
    pub(crate) public_origin: String,
    pub(crate) public_url: url::Url,
    pub(crate) trusted_proxies: Vec<Cidr>,
    pub(crate) limits: Limits,
    pub(crate) rate_limits: RateLimits,
    pub(crate) audit: Trail,
    pub(crate) upstream: Option<Upstream>,
    /// The upstream's `X-Hardshell-Identity`, signed once per principal.
    pub(crate) assertions: AssertionCache,
    pub(crate) metrics: Metrics,
    /// `[metrics] listen`: a separate loopback listener serving only
    /// `/metrics`. Without it, `/metrics` is served on the main listener to
    /// admins; with it, only there.
    pub(crate) metrics_listen: Option<std::net::SocketAddr>,
    pub(crate) tls: Option<crate::tls::Tls>,
    /// The device CA, when `[access.devices]` is enabled.
    pub(crate) devices: Option<hardshell_auth::devices::DeviceAuthority>,
    /// The device CA's revocations, checked on every request that carries a
    /// device (set exactly when `devices` is).
    pub(crate) revoked_devices: Option<hardshell_auth::devices::RevokedSerials>,
    /// Where sessions, tokens and devices this edge revokes are announced, for
    /// connections that outlive their request (WebSockets) to close.
    pub(crate) revocations: hardshell_auth::RevocationFeed,
    /// The owner's passkeys, when `[access.passkey]` is enabled.
    pub(crate) passkeys: Option<OwnerPasskeys>,
    /// Pending passkey registrations and logins, single use.
    pub(crate) registrations: Ephemeral,
    pub(crate) logins: Ephemeral,
    /// Cloudflare Access JWT verification, when `[access.cloudflare]` is set.
    pub(crate) cf_access: Option<CfAccessVerifier>,
    /// Accept Access tokens only from peers in `trusted_proxies`.
    pub(crate) cf_access_only_from_proxies: bool,
    /// OIDC login, when `[access.oidc]` is set.
    pub(crate) oidc: Option<OidcLogin>,
    pub(crate) oidc_pending: Ephemeral,
    /// Login hand-over codes to the upstream's own host (`routes/handoff.rs`).
    pub(crate) handoffs: hardshell_auth::Handoffs,
    /// The agent's `exec` tool, when it has one.
    pub(crate) exec: Option<hardshell_exec::ExecService>,
    /// The browser's CDP service, with `[browser] enabled` (`/cdp`).
    pub(crate) browser: Option<Arc<hardshell_browser::CdpService>>,
    /// The agent's browsers' screenshots (the browser's), shown in its chats.
    pub(crate) screenshots: Option<Arc<hardshell_browser::Screenshots>>,
    /// What the admin page reads besides the stores above.
    pub(crate) admin: AdminReads,
}

/// What the admin page (`routes/admin/`) reads that no other route needs.
pub(crate) struct AdminReads {
    /// The model gateway's spend ledger; the edge only reads it.
    pub ledger: hardshell_llm::UsageLedger,
    /// `[llm] monthly_cap_usd`.
    pub spend_cap_usd: Option<f64>,
    /// One audit verification at a time: each reads every log whole.
    pub verifying: tokio::sync::Mutex<()>,
    /// The access configuration as the overview shows it: methods and rules,
    /// never a secret (made once, at start).
    pub access: serde_json::Value,
    /// Which parts this edge runs, for the page to show or hide its sections.
    pub features: serde_json::Value,
    /// The chat platforms' pairings, when one is enabled.
    pub pairings: Option<hardshell_channels::Pairings>,
    /// The parts the edge runs beside (modules, the workload), as their
    /// wiring reads them.
    pub parts: Vec<crate::Part>,
}

/// The OIDC client, discovered on first use so a provider that is briefly down
/// at start-up does not keep the edge from starting.
pub(crate) struct OidcLogin {
    pub settings: hardshell_auth::OidcSettings,
    pub client: tokio::sync::OnceCell<hardshell_auth::OidcClient>,
}

impl std::fmt::Debug for EdgeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeState")
            .field("policy", &self.policy)
            .field("https", &self.https)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

pub(crate) type SharedState = Arc<EdgeState>;
