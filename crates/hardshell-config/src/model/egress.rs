//! `[egress]`: where code in `exec` shells may connect, through the egress
//! broker, and which secrets it may use where. Nothing else leaves a shell.

use std::collections::BTreeMap;

use hardshell_vocabulary::HostPattern;
use serde::{Deserialize, Serialize};

/// `[egress]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Egress {
    /// `[[egress.routes]]`: each an allowed destination.
    pub routes: Vec<EgressRoute>,
    /// `[egress.secrets.NAME]`: where `hs-secret:NAME` becomes the secret.
    pub secrets: BTreeMap<String, SecretBinding>,
    /// Megabytes one command's shell may move through the broker, both ways
    /// together; past it, requests get 429 and open streams are cut.
    pub max_mb: u64,
}

impl Default for Egress {
    fn default() -> Self {
        Self {
            routes: Vec::new(),
            secrets: BTreeMap::new(),
            max_mb: 1024,
        }
    }
}

/// One allowed destination.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EgressRoute {
    /// Exact names, or `*.example.com` for the names under one; parsed here,
    /// so a bad one is refused with its line.
    pub hosts: Vec<HostPattern>,
    /// Destination ports.
    pub ports: Vec<u16>,
    /// Plain HTTP only: allowed methods. A route with methods or paths
    /// cannot be tunnelled through (`CONNECT`), since the broker could not see them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    /// Plain HTTP only: allowed path prefixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    /// The shell sends plain HTTP (`http://host/...`) and the broker speaks
    /// TLS to the destination, checking its certificate: the broker reads
    /// every request, so placeholders work and the leak scan sees it. A URL
    /// without a port means 443; tunnels to these hosts are refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls: bool,
    /// Whether the broker ends a shell's TLS on this route (`CONNECT`): it
    /// answers with a certificate for the host from the install's egress CA,
    /// which every shell trusts, reads each request inside and applies what
    /// a plain-HTTP request gets (rules, placeholders, the leak scan), then
    /// speaks TLS to the destination itself. `false` leaves the tunnel raw
    /// (a client that pins certificates, a protocol other than TLS): the
    /// broker then sees a host and a port only. Unset, see
    /// [`Egress::inspects`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inspect: Option<bool>,
}

impl Egress {
    /// Whether `route` is inspected: as it says, or by default where the
    /// broker has something to apply inside (a secret bound to one of its
    /// hosts, a method or path rule, a `tls` route) or where its ports
    /// include 443, HTTPS's, so the leak scan reads what leaves there. A
    /// route only for other ports (SSH's 22) stays a raw tunnel unless it
    /// says otherwise: what it carries is not TLS.
    pub fn inspects(&self, route: &EgressRoute) -> bool {
        route.inspect.unwrap_or_else(|| {
            let bound = self.secrets.values().any(|binding| {
                binding
                    .hosts
                    .iter()
                    .any(|bound| route.hosts.iter().any(|host| host.overlaps(bound)))
            });
            bound
                || route.tls
                || route.methods.is_some()
                || route.paths.is_some()
                || route.ports.contains(&443)
        })
    }
}

/// Where a secret may be used.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretBinding {
    /// Hosts (exact or `*.example.com`) the value may be sent to.
    pub hosts: Vec<HostPattern>,
    /// Only in this request header, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}
