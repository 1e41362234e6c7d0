//! `[access]`: who may reach the agent — authentication methods and the policy.

use serde::{Deserialize, Serialize};

use crate::secret_ref::SecretRef;

/// `[access]`: the seed's "Owner Only" Access policy, and the ways to log in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Access {
    /// Require a valid, unrevoked device certificate (mTLS) on every
    /// authenticated request, whatever the method.
    pub require_device: bool,
    /// Actions that weaken security (issuing tokens, pairing devices, setup links)
    /// need a login at most this many minutes old.
    pub fresh_login_minutes: u64,
    /// Browser sessions end this many hours after login, whatever the activity.
    pub session_hours: u64,
    /// Who gets which role when they log in through Cloudflare Access or OIDC.
    /// A login matching no rule is denied. (The owner's passkey is always admin;
    /// an API token has the role of its scope.)
    pub rules: Vec<Rule>,
    /// The built-in owner login with a passkey.
    pub passkey: Passkey,
    /// Cloudflare Access in front of this edge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloudflare: Option<Cloudflare>,
    /// Any OpenID Connect provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc: Option<Oidc>,
    /// hardshell's own device CA, for client certificates (needs `[edge.tls]`).
    pub devices: Devices,
}

/// One `[[access.rules]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// `"chat"` (talk to the agent) or `"admin"` (also pairing, secrets, config,
    /// modules, audit).
    pub role: RuleRole,
    /// Email addresses this rule matches, case-insensitively.
    #[serde(default)]
    pub emails: Vec<String>,
    /// Group names (from the identity provider's groups claim) this rule matches.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Apply this rule only on connections with a valid device certificate.
    #[serde(default)]
    pub require_device: bool,
}

/// The role a rule grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleRole {
    /// Talk to the agent.
    Chat,
    /// Administer the instance.
    Admin,
}

/// `[access.passkey]`: the owner's login.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Passkey {
    /// Offer the owner's passkey login. The first `hardshell up` prints a
    /// one-time setup link (valid 15 minutes) to register the passkey.
    pub enabled: bool,
}

/// `[access.cloudflare]`: verify Cloudflare Access JWTs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Cloudflare {
    /// Your team domain, e.g. `myteam.cloudflareaccess.com`.
    pub team_domain: String,
    /// The Access application's AUD tag.
    pub audience: String,
    /// Accept Access tokens only on connections from `[edge] trusted_proxies`
    /// (Cloudflare's addresses, or the tunnel's). Off by default: a token is
    /// accepted from any peer, since it is signed by Cloudflare and bound to
    /// this application's audience; turn this on when the edge is reachable
    /// other than through Cloudflare, so that a token copied from a browser
    /// only works through Access.
    #[serde(default)]
    pub only_from_trusted_proxies: bool,
}

/// `[access.oidc]`: log in through an OpenID Connect provider.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Oidc {
    /// The issuer URL; discovery is read from `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret, as a reference (`secret:NAME` or `env:NAME`).
    pub client_secret: SecretRef,
    /// Scopes to request besides `openid`.
    #[serde(default = "default_oidc_scopes")]
    pub scopes: Vec<String>,
    /// The ID-token claim holding group names.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// The provider verifies every address it puts in `email` (e.g. a company
    /// directory), so an ID token without `email_verified` still maps its
    /// email. Off by default: only `email_verified: true` counts, and without
    /// it only groups can match a rule.
    #[serde(default)]
    pub provider_verifies_emails: bool,
}

/// `[access.devices]`: the device CA.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Devices {
    /// Run the CA and accept client certificates it issued (`hardshell device issue`).
    pub enabled: bool,
}

impl Default for Access {
    fn default() -> Self {
        Self {
            require_device: false,
            fresh_login_minutes: 10,
            session_hours: 12,
            rules: Vec::new(),
            passkey: Passkey::default(),
            cloudflare: None,
            oidc: None,
            devices: Devices::default(),
        }
    }
}

impl Default for Passkey {
    fn default() -> Self {
        Self { enabled: true }
    }
}

fn default_oidc_scopes() -> Vec<String> {
    vec!["email".to_owned(), "profile".to_owned()]
}

fn default_groups_claim() -> String {
    "groups".to_owned()
}

impl Access {
    /// Whether any way to log in is on (API tokens always are, but they are made
    /// by an admin who already has access, so they do not count).
    pub fn has_login_method(&self) -> bool {
        self.passkey.enabled || self.cloudflare.is_some() || self.oidc.is_some()
    }
}
