//! The checks every request and tunnel passes before anything is dialled
//! ([`Broker::admit`]), and how each decision is recorded and answered.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use http::{Response, StatusCode};

use super::shell::{BUDGET_SPENT, Shell};
use super::upstream::Upstream;
use super::{Body, Broker, Event, refusal};
use crate::host::Host;
use crate::policy::{Request as Asked, Route};

/// Why the broker will not dial an allowed host: the refusal's reason, on
/// record and in the 403 body.
#[derive(Debug, thiserror::Error)]
enum AddressRefused {
    #[error("{host} does not resolve: {source}")]
    Unresolved {
        host: Host,
        #[source]
        source: std::io::Error,
    },
    #[error("{host} has no address")]
    NoAddress { host: Host },
    #[error("{host} resolves to {refused}")]
    Guarded {
        host: Host,
        #[source]
        refused: crate::address::Refused,
    },
}

/// HTTPS's port: plain HTTP there is refused unless the broker speaks TLS on.
const HTTPS_PORT: u16 = 443;
impl Broker {
    /// The checks every request and tunnel passes, in this order, before
    /// anything is dialled: the host name scanned for secret values, the
    /// route decided, the name resolved and its addresses guarded, the
    /// shell's budget. The route, and where to send: in TLS on a `tls`
    /// route and for a request read inside an inspected tunnel.
    pub(super) async fn admit(
        &self,
        shell: &Shell,
        host: &Host,
        port: u16,
        asked: &Asked<'_>,
    ) -> Result<(&Route, Upstream), Response<Body>> {
        // First, before the name is recorded anywhere (a refusal's audit
        // record and log line name the host) or looked up (under a wildcard
        // route, its labels would reach that domain's name servers).
        // With its dots taken out too: a value split across labels is one.
        let scanner = self.scanner.current().await;
        let name = host.as_str();
        let dotless: String = name.chars().filter(|c| *c != '.').collect();
        let found = match scanner.find(name.as_bytes()) {
            Some(found) => Some((found, scanner.redact(name).0)),
            // Split across labels: no label alone shows what to cut.
            None => scanner
                .find(dotless.as_bytes())
                .map(|found| (found.clone(), format!("[redacted:{}]", found.name))),
        };
        if let Some((found, shown)) = found {
            (self.events)(Event::LeakBlocked {
                name: found.name.clone(),
                host: shown,
            });
            return Err(refusal(
                StatusCode::FORBIDDEN,
                &format!(
                    "hardshell broker: refused: the host name carries the value of secret {}\n",
                    found.name
                ),
            ));
        }
        let route = match self.policy.decide(asked) {
            Ok(route) => route,
            Err(denied) => return Err(self.deny(host, port, &denied.to_string())),
        };
        // Plain HTTP to HTTPS's port on a route that does not speak TLS on:
        // it would leave in the clear, a secret swapped into it too (an
        // inspected route binds secrets), to whatever answers there.
        if matches!(asked, Asked::Http { .. }) && port == HTTPS_PORT && !route.tls {
            return Err(self.deny(
                host,
                port,
                "plain HTTP to port 443 would leave unencrypted: use https:// (the broker reads it inside the tunnel) or a tls route",
            ));
        }
        let address = match self.address(host, port, route.internal).await {
            Ok(address) => address,
            Err(refused) => return Err(self.deny(host, port, &refused.to_string())),
        };
        if shell.spent.load(Ordering::SeqCst) >= self.limits.max_bytes {
            return Err(self.spent(host, port));
        }
        let inspected = matches!(asked, Asked::Inspected { .. });
        let upstream = Upstream {
            address,
            tls_name: (route.tls || inspected).then(|| host.to_string()),
        };
        Ok((route, upstream))
    }

    /// Recorded once every check has passed, right before the request or
    /// tunnel leaves: a request refused later (a leak, a misdirected secret,
    /// the tap) is recorded as that, not as allowed.
    pub(super) fn allowed(&self, host: &Host, port: u16, tunnel: bool, inspected: bool) {
        (self.events)(Event::Allowed {
            host: host.to_string(),
            port,
            tunnel,
            inspected,
        });
    }

    pub(super) fn deny(&self, host: &Host, port: u16, reason: &str) -> Response<Body> {
        (self.events)(Event::Denied {
            host: host.to_string(),
            port,
            reason: reason.to_owned(),
        });
        refusal(
            StatusCode::FORBIDDEN,
            &format!("hardshell broker: refused: {reason}\n"),
        )
    }

    pub(super) fn leak(&self, secret: &str, host: &Host) -> Response<Body> {
        (self.events)(Event::LeakBlocked {
            name: secret.to_owned(),
            host: host.to_string(),
        });
        refusal(
            StatusCode::FORBIDDEN,
            &format!(
                "hardshell broker: refused: the request carries the value of secret {secret}\n"
            ),
        )
    }

    pub(super) fn spent(&self, host: &Host, port: u16) -> Response<Body> {
        (self.events)(Event::Denied {
            host: host.to_string(),
            port,
            reason: BUDGET_SPENT.to_owned(),
        });
        refusal(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("hardshell broker: refused: {BUDGET_SPENT}\n"),
        )
    }

    /// The address to dial: every address the name resolves to must pass the
    /// guard (a name that points at both a public and an internal address is
    /// refused whole), unless the route is one the operator named; the first
    /// is dialled.
    async fn address(
        &self,
        host: &Host,
        port: u16,
        internal: bool,
    ) -> Result<SocketAddr, AddressRefused> {
        let addresses = self.resolver.resolve(host, port).await.map_err(|source| {
            AddressRefused::Unresolved {
                host: host.clone(),
                source,
            }
        })?;
        let first = *addresses
            .first()
            .ok_or_else(|| AddressRefused::NoAddress { host: host.clone() })?;
        if !internal {
            for address in &addresses {
                self.guard
                    .check(address.ip())
                    .map_err(|refused| AddressRefused::Guarded {
                        host: host.clone(),
                        refused,
                    })?;
            }
        }
        Ok(first)
    }
}
