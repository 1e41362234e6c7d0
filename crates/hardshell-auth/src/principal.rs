//! The result of authentication: who the request is from and how we know.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The owner's passkey, through the built-in login (the embedded default).
    Passkey,
    /// A Cloudflare Access JWT (`Cf-Access-Jwt-Assertion` or `CF_Authorization`).
    CloudflareAccess,
    /// An OpenID Connect login (authorization code flow with PKCE).
    Oidc,
    /// An API token (`Authorization: Bearer hs_tok_...`).
    ApiToken,
}

impl Method {
    /// Interactive methods are logins a person performed; an API token is not one,
    /// so it never counts as a fresh login.
    pub fn is_interactive(self) -> bool {
        !matches!(self, Method::ApiToken)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Passkey => "passkey",
            Method::CloudflareAccess => "cloudflare_access",
            Method::Oidc => "oidc",
            Method::ApiToken => "api_token",
        }
    }
}

/// What an API token may do; fixed when the token is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Talk to the agent.
    Chat,
    /// Everything `chat` and `browser` may, plus administration.
    Admin,
    /// Drive a browser through the edge's `/cdp`, and nothing else: it
    /// cannot talk to the agent or administer, so a token handed to a
    /// browser-automation client (Playwright, OpenClaw) is worth no more.
    Browser,
}

impl TokenScope {
    /// The scope as it is written: in the CLI, the admin API and records.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Chat => "chat",
            TokenScope::Admin => "admin",
            TokenScope::Browser => "browser",
        }
    }
}

/// An authenticated identity. Holds no credential: only what was proven.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Stable identifier within its method: `owner`, the OIDC `sub`, a token id.
    pub subject: String,
    /// Verified email address, ASCII lower-cased, when the method provides one
    /// made only of printable ASCII (see [`verified_email`]).
    pub email: Option<String>,
    /// Group memberships asserted by the identity provider.
    pub groups: Vec<String>,
    pub method: Method,
    /// When the login (or token use) was proven; the basis of "fresh login".
    pub authenticated_at: DateTime<Utc>,
    /// For API tokens, what the token may do.
    pub token_scope: Option<TokenScope>,
}

/// A client certificate issued by hardshell's device CA, verified on this
/// connection and not revoked: the seed's "device posture".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The name given at `hardshell device issue NAME`.
    pub name: String,
    /// The certificate's serial number, hex.
    pub serial: String,
}

/// The address a provider asserted, as a principal carries it: printable ASCII
/// only, ASCII lower-cased. Anything else maps to no email at all.
///
/// Rules compare addresses ASCII case-insensitively, so the principal must not
/// fold any other way: Unicode lower-casing maps the Kelvin sign `\u{212A}` to
/// `k`, which turned a verified `\u{212A}aren@example.com` into the owner's
/// `karen@example.com` and its admin role. A provider that lets someone verify
/// such an address does not make it the same mailbox as the ASCII one.
pub(crate) fn verified_email(asserted: &str) -> Option<String> {
    let printable_ascii = !asserted.is_empty() && asserted.bytes().all(|b| b.is_ascii_graphic());
    printable_ascii.then(|| asserted.to_ascii_lowercase())
}

/// Group names from an identity provider's claim: an array of strings or a
/// single string. Anything else in it is ignored, so a provider's claim of an
/// unexpected shape yields no groups rather than refusing the login.
pub(crate) fn groups_from_claim(value: serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::String(one) => vec![one],
        serde_json::Value::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                serde_json::Value::String(name) => Some(name),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_scopes_are_written_as_their_names() {
        for (scope, name) in [
            (TokenScope::Chat, "chat"),
            (TokenScope::Admin, "admin"),
            (TokenScope::Browser, "browser"),
        ] {
            assert_eq!(scope.as_str(), name);
            let json = serde_json::to_string(&scope).unwrap_or_default();
            assert_eq!(json, format!("\"{name}\""));
            let parsed: Option<TokenScope> = serde_json::from_str(&json).ok();
            assert_eq!(parsed, Some(scope));
        }
        // Case and unknown names are refused, not mapped to a scope.
        for bad in [r#""Browser""#, r#""cdp""#, r#""""#] {
            assert!(serde_json::from_str::<TokenScope>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ascii_addresses_are_lower_cased_in_ascii_only() {
        assert_eq!(
            verified_email("Karen@Example.COM").as_deref(),
            Some("karen@example.com")
        );
    }

    #[test]
    fn addresses_outside_printable_ascii_map_to_no_email() {
        // The Kelvin sign lower-cases to an ASCII `k` under Unicode rules.
        assert_eq!(
            "\u{212A}aren@example.com".to_lowercase(),
            "karen@example.com"
        );
        for asserted in [
            "\u{212A}aren@example.com",
            "\u{130}van@example.com",
            "k\u{AD}aren@example.com",
            "karen@example.com\n",
            "karen @example.com",
            "",
        ] {
            assert_eq!(verified_email(asserted), None, "{asserted:?}");
        }
    }
}
