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
