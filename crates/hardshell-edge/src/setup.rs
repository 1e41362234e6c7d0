//! Building the edge's shared state from the config and the stores.

use std::sync::Arc;
use std::time::Duration;

use hardshell_audit::AuditLog;
use hardshell_auth::devices::{DeviceAuthority, RevokedSerials};
use hardshell_auth::identity::IdentitySigner;
use hardshell_auth::passkey::{OwnerPasskeys, RelyingParty};
use hardshell_auth::{
    CfAccessSettings, CfAccessVerifier, ClientSecret, EmailVerification, Ephemeral, Handoffs,
    OidcSettings, Policy, RevocationFeed, Role, Rule, SessionStore, TokenStore,
};
use hardshell_config::{LoadedConfig, RuleRole};
use hardshell_storage::{ObjectKey, Scope, StorageError, Store};
use url::Url;

use crate::EdgeError;
use crate::agent::AgentClient;
use crate::audit::Trail;
use crate::connector::Target;
use crate::cookies::CookiePolicy;
use crate::metrics::Metrics;
use crate::pipeline::limits::RateLimits;
use crate::proxy::{Upstream, UpstreamSite};
use crate::routes;

use crate::state::{AdminReads, EdgeState, Limits, OidcLogin};

/// Logins in progress at once, per method. Anyone may start one, so the
/// pending state is bounded: past this, new ones get 503 until some expire
/// (passkey ceremonies after 5 minutes, OIDC logins after 10). Each holds
/// about 1 KB.
const MAX_PENDING_LOGINS: usize = 1000;
/// Passkey registrations need a setup link, so few are ever in progress.
const MAX_PENDING_REGISTRATIONS: usize = 100;

/// What the edge is built from.
#[derive(Debug)]
pub struct EdgeSetup<'a> {
    pub config: &'a LoadedConfig,
    /// The state store; the edge uses its `tokens`, `sessions` and `pending` scopes.
    pub store: &'a Store,
    /// Signs the identity the upstream receives.
    pub signer: IdentitySigner,
    /// This edge's audit log (its own log id; see `hardshell-audit`),
    /// shared with the brokers and exec, which record their decisions in it too.
    pub audit: Arc<AuditLog>,
    /// The OIDC client secret, resolved from its `secret:` or `env:` reference.
    pub oidc_client_secret: Option<ClientSecret>,
    /// Where to fetch Cloudflare Access keys instead of the team's own URL: for
    /// tests and air-gapped mirrors (https, or http on loopback only).
    pub cloudflare_certs_url: Option<Url>,
    /// The built-in agent's socket, when it runs (`Config::agent_runs`):
    /// the chat routes are registered with its client, or not at all.
    pub agent_socket: Option<std::path::PathBuf>,
    /// The agent's `exec` tool, when the agent runs and `[exec] approval`
    /// is not `deny`; built with the same audit log.
    pub exec: Option<hardshell_exec::ExecService>,
    /// The browser's CDP service, with `[browser] enabled`: served at `/cdp`.
    pub browser: Option<Arc<hardshell_browser::CdpService>>,
    /// With `[workload]`, its health as its probes see it: the upstream's
    /// failures while it starts are answered as such.
    pub workload_status: Option<tokio::sync::watch::Receiver<hardshell_workload::Status>>,
    /// The chat channels' webhook routes, each with its platform's verifier.
    pub webhooks: Vec<Arc<dyn hardshell_channels::webhook::WebhookEndpoint>>,
    /// With `[edge.tls] acme`, where the listener's certificate comes from
    /// (`hardshell-acme`'s `Certificates`, kept current by its issuer).
    pub certificates: Option<Arc<dyn rustls::server::ResolvesServerCert>>,
    /// The parts the admin page shows beside the edge's own (the modules,
    /// the workload), each read by its wiring.
    pub parts: Vec<crate::Part>,
}

/// What [`EdgeSetup::build`] made: the edge's state and, beside it (the
/// state holds the parts, the routes are above them), its route table,
/// for [`crate::Edge::bind`].
pub struct Built {
    pub(crate) state: Arc<EdgeState>,
    pub(crate) routes: routes::Routes,
    turns: Option<crate::ChatTurns>,
}

impl Built {
    /// The agent's turns for the chat channels, when the agent runs.
    pub fn chat_turns(&self) -> Option<crate::ChatTurns> {
        self.turns.clone()
    }
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built").finish_non_exhaustive()
    }
}

impl EdgeSetup<'_> {
    pub async fn build(self) -> Result<Built, EdgeError> {
        let config = &self.config.config;
        let scope = |name: &'static str| {
            open_scope(self.store, name).map_err(|source| EdgeError::OpenScope {
                scope: name,
                source,
            })
        };
        let public_url = &self.config.public_url;
        let https = public_url.scheme() == "https";
        let upstream = match &config.upstream {
            Some(upstream) => {
                let served = upstream_of(upstream, public_url)?;
                Some(match self.workload_status.clone() {
                    Some(status) => served.with_readiness(status),
                    None => served,
                })
            }
            None => None,
        };
        let devices = match config.access.devices.enabled {
            true => Some(device_authority(self.store).await?),
            false => None,
        };
        let tls = match (&config.edge.tls, &self.certificates) {
            (None, _) => None,
            (Some(tls), certificates) => match (tls.files(), certificates) {
                (Some((cert, key)), _) => Some(
                    crate::tls::Tls::load(
                        &self.config.base_dir().join(cert),
                        &self.config.base_dir().join(key),
                        devices.as_ref(),
                    )
                    .await?,
                ),
                (None, Some(certificates)) => Some(
                    crate::tls::Tls::with_resolver(Arc::clone(certificates), devices.as_ref())
                        .await?,
                ),
                (None, None) => return Err(crate::tls::TlsError::NoSource.into()),
            },
        };
        let session_lifetime =
            Duration::from_secs(config.access.session_hours.saturating_mul(3600));
        // The config's `agent_runs` decided whether there is an agent socket.
        let behind = match (&upstream, self.agent_socket) {
            (Some(upstream), _) => routes::Behind::Upstream {
                own_host: upstream.site.is_some(),
            },
            (None, Some(socket)) => routes::Behind::Agent(Arc::new(AgentClient::new(socket))),
            (None, None) => routes::Behind::Nothing,
        };
        let routes = routes::table(&behind, self.browser.is_some(), &self.webhooks)
            .map_err(|source| EdgeError::Routes { source })?;
        let passkeys = owner_passkeys(self.config, self.store)?;
        let cf_access = match &config.access.cloudflare {
            Some(cloudflare) => {
                let mut settings =
                    CfAccessSettings::new(&cloudflare.team_domain, &cloudflare.audience);
                settings.certs_url = self.cloudflare_certs_url.clone();
                Some(
                    CfAccessVerifier::new(settings)
                        .map_err(|source| EdgeError::CloudflareAccess { source })?,
                )
            }
            None => None,
        };
        let oidc = match (&config.access.oidc, self.oidc_client_secret) {
            (Some(oidc), Some(secret)) => {
                let redirect = public_url
                    .join("auth/oidc/callback")
                    .map_err(|source| EdgeError::OidcRedirectUrl { source })?;
                let mut settings =
                    OidcSettings::new(&oidc.issuer, &oidc.client_id, secret, redirect);
                settings.scopes = oidc.scopes.clone();
                settings.groups_claim = oidc.groups_claim.clone();
                settings.email_verification = match oidc.provider_verifies_emails {
                    true => EmailVerification::AlwaysByProvider,
                    false => EmailVerification::Claimed,
                };
                Some(OidcLogin {
                    settings,
                    client: tokio::sync::OnceCell::new(),
                })
            }
            (Some(_), None) => {
                return Err(EdgeError::OidcClientSecretMissing);
            }
            (None, _) => None,
        };
        let mut admin = admin_reads(
            self.config,
            &scope("llm")?,
            &scope("channels/pairing")?,
            &Features {
                agent: matches!(behind, routes::Behind::Agent(_)),
                upstream: upstream.is_some(),
                exec: self.exec.is_some(),
                browser: self.browser.is_some(),
                passkeys: passkeys.is_some(),
                devices: devices.is_some(),
            },
        );
        admin.parts = self.parts;
        let revocations = RevocationFeed::new();
        let sessions = SessionStore::new(scope("sessions")?, session_lifetime)
            .announcing_to(revocations.clone());
        let state = Arc::new(EdgeState {
            policy: policy(self.config),
            tokens: TokenStore::new(scope("tokens")?).announcing_to(revocations.clone()),
            handoffs: Handoffs::new(
                Ephemeral::new(scope("pending")?, "handoff", MAX_PENDING_LOGINS),
                sessions.clone(),
            ),
            sessions,
            revocations,
            session_max_age_secs: i64::try_from(session_lifetime.as_secs()).unwrap_or(i64::MAX),
            cookies: CookiePolicy { secure: https },
            https,
            public_origin: public_url.origin().ascii_serialization(),
            public_url: public_url.clone(),
            trusted_proxies: config.edge.trusted_proxies.clone(),
            limits: Limits {
                max_header_bytes: config.edge.max_header_bytes,
                max_body_bytes: config.edge.max_body_bytes,
                header_timeout: Duration::from_secs(config.edge.header_timeout_secs),
                request_timeout: Duration::from_secs(config.edge.request_timeout_secs),
                max_connections: config.edge.max_connections,
                max_connections_per_address: config.edge.max_connections_per_address,
            },
            rate_limits: RateLimits::from_config(&config.ratelimit)
                .map_err(|source| EdgeError::RateLimits { source })?,
            audit: Trail::new(self.audit),
            upstream,
            assertions: hardshell_auth::identity::AssertionCache::new(self.signer),
            metrics: Metrics::new(),
            metrics_listen: config.metrics.as_ref().map(|metrics| metrics.listen),
            tls,
            revoked_devices: devices
                .clone()
                .map(|authority| RevokedSerials::new(authority, crate::tls::REVOCATION_MAX_AGE)),
            devices,
            passkeys,
            registrations: Ephemeral::new(
                scope("pending")?,
                "passkey-registration",
                MAX_PENDING_REGISTRATIONS,
            ),
            logins: Ephemeral::new(scope("pending")?, "passkey-login", MAX_PENDING_LOGINS),
            cf_access,
            cf_access_only_from_proxies: config
                .access
                .cloudflare
                .as_ref()
                .is_some_and(|cloudflare| cloudflare.only_from_trusted_proxies),
            oidc,
            oidc_pending: Ephemeral::new(scope("pending")?, "oidc", MAX_PENDING_LOGINS),
            exec: self.exec,
            screenshots: self.browser.as_ref().map(|browser| browser.screenshots()),
            browser: self.browser,
            admin,
        });
        let turns = match &behind {
            routes::Behind::Agent(agent) => {
                Some(crate::ChatTurns::new(agent.clone(), state.clone()))
            }
            _ => None,
        };
        Ok(Built {
            state,
            routes,
            turns,
        })
    }
}

/// The `[access]` table as the pure policy sees it.
/// The edge's view of `[upstream]`: where it is, and with `host`, the origin
/// of its own it is served on. The same value serves a workload hardshell
/// runs: its `url` is the unix socket of the workload's inbound forwarder.
fn upstream_of(
    upstream: &hardshell_config::Upstream,
    public_url: &Url,
) -> Result<Upstream, EdgeError> {
    let target = Target::parse(&upstream.url).ok_or_else(|| EdgeError::UpstreamUrl {
        url: upstream.url.clone(),
    })?;
    let mut served = Upstream::new(target, Duration::from_secs(upstream.timeout_secs));
    if let Some(host) = &upstream.host {
        served = served.on_site(UpstreamSite::new(host, public_url));
    }
    if let Some(name) = &upstream.identity_header {
        let refused = || EdgeError::UpstreamIdentityHeader { name: name.clone() };
        let header = http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|_| refused())?;
        if crate::proxy::is_edges_own_header(&header) {
            return Err(refused());
        }
        served = served.with_identity_header(header);
    }
    Ok(served)
}

fn policy(config: &LoadedConfig) -> Policy {
    let access = &config.config.access;
    Policy {
        rules: access
            .rules
            .iter()
            .map(|rule| Rule {
                role: match rule.role {
                    RuleRole::Chat => Role::Chat,
                    RuleRole::Admin => Role::Admin,
                },
                emails: rule.emails.clone(),
                groups: rule.groups.clone(),
                require_device: rule.require_device,
            })
            .collect(),
        require_device: access.require_device,
        fresh_login: Duration::from_secs(access.fresh_login_minutes.saturating_mul(60)),
    }
}

/// Which parts an edge runs, as the admin page is told.
struct Features {
    agent: bool,
    upstream: bool,
    exec: bool,
    browser: bool,
    passkeys: bool,
    devices: bool,
}

/// What the admin page reads: the spend ledger (prices are the gateway's
/// business; reading needs none) and the access configuration, named but
/// never with a secret (an OIDC client's secret is not in the config, and
/// Cloudflare's audience tag is an identifier, not a credential).
fn admin_reads(
    config: &LoadedConfig,
    llm: &Scope,
    pairing: &Scope,
    features: &Features,
) -> AdminReads {
    let access = &config.config.access;
    let channels = hardshell_channels::Platform::ALL
        .into_iter()
        .any(|platform| config.config.channels.enabled(platform));
    let rules: Vec<serde_json::Value> = policy(config)
        .rules
        .iter()
        .map(|rule| {
            serde_json::json!({
                "role": rule.role.as_str(),
                "emails": rule.emails,
                "groups": rule.groups,
                "require_device": rule.require_device,
            })
        })
        .collect();
    AdminReads {
        ledger: hardshell_llm::UsageLedger::new(llm.clone(), hardshell_llm::PriceList::new()),
        spend_cap_usd: config.config.llm.monthly_cap_usd,
        verifying: tokio::sync::Mutex::new(()),
        access: serde_json::json!({
            "passkey": features.passkeys,
            "oidc": access.oidc.as_ref().map(|oidc| serde_json::json!({ "issuer": oidc.issuer })),
            "cloudflare": access.cloudflare.as_ref().map(|cloudflare| {
                serde_json::json!({ "team_domain": cloudflare.team_domain })
            }),
            "devices": {
                "enabled": features.devices,
                "required": access.require_device,
            },
            "rules": rules,
        }),
        pairings: channels.then(|| hardshell_channels::Pairings::new(pairing.clone())),
        parts: Vec::new(),
        features: serde_json::json!({
            "channels": channels,
            "agent": features.agent,
            "upstream": features.upstream,
            "exec": features.exec,
            "browser": features.browser,
            "passkeys": features.passkeys,
            "devices": features.devices,
        }),
    }
}

/// Housekeeping while the edge runs: give rate-limit memory back between bursts,
/// delete abandoned ceremonies, and pick up device revocations made elsewhere
/// (the CLI, another replica).
pub(crate) async fn background(state: Arc<EdgeState>) {
    // One tick closes one window of audit summaries.
    let mut tick = tokio::time::interval(crate::audit::SUMMARY_WINDOW);
    tick.tick().await;
    loop {
        tick.tick().await;
        state.audit.close_window();
        state.rate_limits.sweep();
        let handoffs = state.handoffs.pending();
        for pending in [
            &state.logins,
            &state.registrations,
            &state.oidc_pending,
            handoffs,
        ] {
            if let Err(e) = pending.sweep(chrono::Utc::now()).await {
                tracing::error!(error = %e, "deleting expired ceremony state failed");
            }
        }
        if let Some(tls) = &state.tls
            && let Err(e) = tls.refresh(state.devices.as_ref()).await
        {
            tracing::error!(error = %e, "refreshing the device revocation list failed");
        }
    }
}

/// The owner's passkeys as the config describes them (`None` when passkey login
/// is off): the relying party is the public URL's host and origin.
pub fn owner_passkeys(
    config: &LoadedConfig,
    store: &Store,
) -> Result<Option<OwnerPasskeys>, EdgeError> {
    if !config.config.access.passkey.enabled {
        return Ok(None);
    }
    let passkeys_err = |source| EdgeError::Passkeys { source };
    let public_url = &config.public_url;
    let host = public_url.host_str().unwrap_or("localhost");
    let origin = public_url.origin().ascii_serialization();
    let relying_party = RelyingParty::new(host, &origin, "hardshell").map_err(passkeys_err)?;
    let scope =
        open_scope(store, "auth/passkey").map_err(|source| EdgeError::PasskeyStore { source })?;
    Ok(Some(
        OwnerPasskeys::new(&scope, &relying_party).map_err(passkeys_err)?,
    ))
}

/// The device CA in the state store (`auth/devices`), made on first use.
pub async fn device_authority(store: &Store) -> Result<DeviceAuthority, EdgeError> {
    let scope =
        open_scope(store, "auth/devices").map_err(|source| EdgeError::DeviceStore { source })?;
    DeviceAuthority::load_or_create(&scope, chrono::Utc::now())
        .await
        .map_err(|source| EdgeError::DeviceAuthority { source })
}

/// The device CA in the state store, if one was ever made; never makes one.
pub async fn existing_device_authority(
    store: &Store,
) -> Result<Option<DeviceAuthority>, EdgeError> {
    let scope =
        open_scope(store, "auth/devices").map_err(|source| EdgeError::DeviceStore { source })?;
    DeviceAuthority::load(&scope)
        .await
        .map_err(|source| EdgeError::DeviceAuthority { source })
}

/// The state store's scope `name`, a key written in this crate.
fn open_scope(store: &Store, name: &str) -> Result<Scope, StorageError> {
    store.root().scope(&ObjectKey::parse(name)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(identity_header: &str) -> hardshell_config::Upstream {
        hardshell_config::Upstream {
            url: "unix:/run/workload.sock".into(),
            timeout_secs: 1,
            host: Some("app.agent.example.com".into()),
            identity_header: Some(identity_header.into()),
        }
    }

    #[test]
    fn the_identity_header_cannot_be_one_the_edge_keeps_for_itself() {
        let public = Url::parse("https://agent.example.com").unwrap();
        for ours in [
            "X-Hardshell-Identity",
            "X-Forwarded-For",
            "x-real-ip",
            "Authorization",
            "Cookie",
            "X-Request-Id",
            "Connection",
            "Host",
        ] {
            assert!(
                matches!(
                    upstream_of(&upstream(ours), &public),
                    Err(EdgeError::UpstreamIdentityHeader { .. })
                ),
                "{ours}"
            );
        }
        let served = upstream_of(&upstream("X-Forwarded-User"), &public).unwrap();
        assert_eq!(served.identity_header.unwrap().as_str(), "x-forwarded-user");
        let site = served.site.unwrap();
        assert_eq!(site.authority, "app.agent.example.com");
        assert_eq!(site.origin, "https://app.agent.example.com");
        let with_port = Url::parse("https://agent.example.com:8443").unwrap();
        let site = upstream_of(&upstream("X-User"), &with_port)
            .unwrap()
            .site
            .unwrap();
        assert_eq!(site.origin, "https://app.agent.example.com:8443");
        assert!(site.serves(Some("app.agent.example.com:8443")));
        assert!(!site.serves(Some("app.agent.example.com")));
        assert!(!site.serves(None));
    }
}
