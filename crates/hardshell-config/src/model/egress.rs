//! `[egress]`: where code in `exec` shells may connect, through the egress
//! broker, and which secrets it may use where. Nothing else leaves a shell.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `[egress]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Egress {
    /// `[[egress.routes]]`: each an allowed destination.
    pub routes: Vec<EgressRoute>,
    /// `[egress.secrets.NAME]`: where `hs-secret:NAME` becomes the secret.
    pub secrets: BTreeMap<String, SecretBinding>,
}

/// One allowed destination.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EgressRoute {
    /// Exact names, or `*.example.com` for the names under one.
    pub hosts: Vec<String>,
    /// Destination ports.
    pub ports: Vec<u16>,
    /// Plain HTTP only: allowed methods. A route with methods or paths
    /// cannot be tunnelled through (`CONNECT`), since the broker could not see them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    /// Plain HTTP only: allowed path prefixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
}

/// Where a secret may be used.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretBinding {
    /// Hosts (exact or `*.example.com`) the value may be sent to.
    pub hosts: Vec<String>,
    /// Only in this request header, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}
