//! What the operator configures for an OpenID Connect login.

use std::time::Duration;

use url::Url;
use zeroize::Zeroizing;

use super::EmailVerification;
use crate::fetch::FetchLimits;
use crate::jwks::KeySetPolicy;

/// The OAuth client secret. Zeroed when dropped; never printed.
#[derive(Clone)]
pub struct ClientSecret(Zeroizing<String>);

impl ClientSecret {
    /// Takes the secret as the gateway read it from the secret store.
    pub fn new(secret: Zeroizing<String>) -> Self {
        Self(secret)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// How to log people in with one OpenID Connect provider.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// The issuer exactly as the provider writes it in its tokens, e.g.
    /// `https://accounts.example.com`; discovery is read from
    /// `<issuer>/.well-known/openid-configuration`. Must be `https`, or `http`
    /// to a loopback address.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: ClientSecret,
    /// hardshell's callback, registered with the provider.
    pub redirect_url: Url,
    /// Scopes requested besides `openid`.
    pub scopes: Vec<String>,
    /// The ID token claim that lists the person's groups.
    pub groups_claim: String,
    /// When an ID token's `email` counts as verified.
    pub email_verification: EmailVerification,
    /// How long a started login may take to come back.
    pub login_timeout: Duration,
    pub key_set: KeySetPolicy,
    pub fetch: FetchLimits,
}

impl OidcSettings {
    /// Settings with the defaults: scope `email`, groups from the `groups`
    /// claim, an email only with `email_verified: true`, ten minutes to
    /// finish a login.
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: ClientSecret,
        redirect_url: Url,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret,
            redirect_url,
            scopes: vec!["email".to_owned()],
            groups_claim: "groups".to_owned(),
            email_verification: EmailVerification::Claimed,
            login_timeout: Duration::from_secs(10 * 60),
            key_set: KeySetPolicy::default(),
            fetch: FetchLimits::default(),
        }
    }
}
