//! Who the passkeys are bound to: the relying party id (a domain) and the one
//! origin the browser must report.

use url::{Host, Url};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use super::{CEREMONY_TTL, PasskeyError};

/// Longest relying party name shown by authenticators that we accept.
const MAX_NAME_LEN: usize = 64;

/// The relying party: passkeys are bound to `id`, and a ceremony only counts when
/// the browser ran it on `origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    id: String,
    origin: Url,
    name: String,
}

impl RelyingParty {
    /// `id` is a domain (`localhost`, `agent.example.com`); `origin` the URL the
    /// owner opens (`http://localhost:8787`, `https://agent.example.com`), whose host
    /// must be `id` or below it; `name` what authenticators show.
    ///
    /// Browsers allow WebAuthn over plain http only on `localhost`, and never on an
    /// IP address, so neither is accepted here: the failure shows at start, not as a
    /// browser error at the first login.
    pub fn new(id: &str, origin: &str, name: &str) -> Result<Self, PasskeyError> {
        let invalid = |field, value: &str, reason| PasskeyError::InvalidRelyingParty {
            field,
            value: value.to_owned(),
            reason,
        };
        let parsed =
            Url::parse(origin).map_err(|_| invalid("origin", origin, "is not an absolute URL"))?;
        let host = match parsed.host() {
            Some(Host::Domain(host)) => host.to_owned(),
            Some(Host::Ipv4(_) | Host::Ipv6(_)) => {
                return Err(invalid(
                    "origin",
                    origin,
                    "is an IP address; passkeys need a domain name (use localhost)",
                ));
            }
            None => return Err(invalid("origin", origin, "has no host")),
        };
        match parsed.scheme() {
            "https" => {}
            "http" if host == "localhost" => {}
            _ => {
                return Err(invalid(
                    "origin",
                    origin,
                    "must be https (plain http only for localhost)",
                ));
            }
        }
        if parsed.path() != "/"
            || parsed.query().is_some()
            || parsed.fragment().is_some()
            || !parsed.username().is_empty()
            || parsed.password().is_some()
        {
            return Err(invalid(
                "origin",
                origin,
                "must be scheme://host[:port] only, without path, query or credentials",
            ));
        }
        // The parsed form must equal the input, so nothing is normalised behind
        // the operator's back (case, IDNA, percent escapes).
        let id_is_domain = matches!(Host::parse(id), Ok(Host::Domain(domain)) if domain == id);
        if !id_is_domain {
            return Err(invalid("id", id, "must be a lower-case domain name"));
        }
        if host != id && !host.ends_with(&format!(".{id}")) {
            return Err(invalid(
                "id",
                id,
                "must be the origin's host or a domain above it",
            ));
        }
        if name.trim().is_empty() || name.len() > MAX_NAME_LEN {
            return Err(invalid("name", name, "must be 1 to 64 bytes, not blank"));
        }
        Ok(Self {
            id: id.to_owned(),
            origin: parsed,
            name: name.to_owned(),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn origin(&self) -> &Url {
        &self.origin
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The WebAuthn verifier for this party. Exactly one origin, no subdomains, no
    /// other ports: anything else the browser reports is refused.
    pub(super) fn webauthn(&self) -> Result<Webauthn, PasskeyError> {
        let misconfigured = |_| PasskeyError::InvalidRelyingParty {
            field: "origin",
            value: self.origin.to_string(),
            reason: "is refused by the WebAuthn library for this relying party id",
        };
        WebauthnBuilder::new(&self.id, &self.origin)
            .map_err(misconfigured)?
            .rp_name(&self.name)
            .allow_subdomains(false)
            .allow_any_port(false)
            .timeout(CEREMONY_TTL)
            .build()
            .map_err(misconfigured)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_over_http_is_accepted() {
        let party = RelyingParty::new("localhost", "http://localhost:8787", "hardshell").unwrap();
        assert_eq!(party.origin().as_str(), "http://localhost:8787/");
        party.webauthn().unwrap();
    }

    #[test]
    fn subdomain_origin_under_the_id_is_accepted() {
        RelyingParty::new("example.com", "https://agent.example.com", "hardshell").unwrap();
    }

    #[test]
    fn plain_http_beyond_localhost_is_refused() {
        let err = RelyingParty::new("example.com", "http://example.com", "hs").unwrap_err();
        assert!(err.to_string().contains("must be https"), "{err}");
    }

    #[test]
    fn ip_address_origin_is_refused() {
        let err = RelyingParty::new("localhost", "http://127.0.0.1:8787", "hs").unwrap_err();
        assert!(err.to_string().contains("IP address"), "{err}");
    }

    #[test]
    fn id_that_does_not_cover_the_origin_is_refused() {
        for id in ["example.org", "ample.com", "agent.example.com.evil"] {
            let err = RelyingParty::new(id, "https://agent.example.com", "hs").unwrap_err();
            assert!(err.to_string().contains("domain above it"), "{id}: {err}");
        }
    }

    #[test]
    fn origin_with_a_path_is_refused() {
        let err = RelyingParty::new("localhost", "http://localhost:8787/login", "hs").unwrap_err();
        assert!(err.to_string().contains("without path"), "{err}");
    }

    #[test]
    fn upper_case_or_empty_id_is_refused() {
        for id in ["LocalHost", ""] {
            assert!(
                RelyingParty::new(id, "http://localhost", "hs").is_err(),
                "{id}"
            );
        }
    }

    #[test]
    fn blank_name_is_refused() {
        assert!(RelyingParty::new("localhost", "http://localhost", " ").is_err());
    }
}
