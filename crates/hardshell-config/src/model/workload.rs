//! `[workload]`: a digest-pinned OCI image run in a shell in place of the
//! built-in agent, reached only through the edge, keyed only by the broker.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use hardshell_vocabulary::{Host, SecretName};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::secret_ref::SecretRef;
use hardshell_vocabulary::ImageRef;

/// `[workload]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// `registry/repository:tag@sha256:…` or `oci:/abs/path@sha256:…`. Without
    /// a digest it is refused unless `[dangerous] unpinned_images`.
    pub image: ImageRef,
    /// The registry's credential (`user:password` as the secret's value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_credential: Option<SecretRef>,
    /// The workload's own origin: a host name of its own, beside the edge's,
    /// so its pages never share an origin with the edge's routes.
    #[serde(
        serialize_with = "serialize_host",
        deserialize_with = "deserialize_host"
    )]
    pub host: Host,
    /// The port it listens on inside its shell; the image's, if it exposes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Replaces the image's entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's command (its `Cmd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Replaces the image's working directory (absolute, inside the image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// The shell's memory limit.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u64,
    /// Its CPU, in percent of one core (200: two cores); unset, `[shell]
    /// cpu_percent`. OpenClaw's start is mostly its own work: with one core
    /// it takes about twice as long as with two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<u32>,
    /// Shells of it that may run at once (the seed's `max_instances`): only
    /// 1 is accepted, since its state has one owner at a time.
    #[serde(default = "default_max_instances")]
    pub max_instances: u32,
    /// Path answered with a 2xx once it is ready; unset, ready is when its
    /// port accepts a connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_path: Option<String>,
    /// Seconds it may take to become ready; until then it is "starting".
    #[serde(default = "default_ready_timeout_secs")]
    pub ready_timeout_secs: u64,
    /// Seconds between `SIGTERM` and killing its whole shell.
    #[serde(default = "default_stop_grace_secs")]
    pub stop_grace_secs: u64,
    /// Absolute path inside the image persisted in the encrypted object store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
    /// The size of the state directory's volume (an ext4 file system of its
    /// own, like a workspace): what the workload writes there stops at it.
    /// An existing volume keeps the size it was made with.
    #[serde(default = "default_state_mb")]
    pub state_mb: u64,
    /// Header the edge fills with the permitted user's email for a workload
    /// that trusts a proxy's header (OpenClaw's `trustedProxy.userHeader`);
    /// any copy a client sends is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_header: Option<String>,
    /// Whether the workload may open browsers through hardshell's CDP proxy:
    /// `ws://127.0.0.1:9222/cdp?session=workload` inside its shell (OpenClaw's
    /// `browser.cdpUrl`, with `attachOnly`), each connection a fresh browser
    /// in a shell of its own. Needs `[browser] enabled`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub browser: bool,
    /// `[workload.env]`: its environment, over the image's.
    #[serde(default)]
    pub env: BTreeMap<String, EnvValue>,
    /// `[workload.seed]`: the files its state starts with (OpenClaw's
    /// `openclaw.json`), copied into the state directory only while there is
    /// no state at all, stored or local — never over state it has. A path in
    /// the state directory = a file on this machine (relative to this
    /// config's directory).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub seed: BTreeMap<String, PathBuf>,
}

impl Workload {
    /// The state volume's inode count: one per 16 KiB, the ratio of
    /// `[shell]`'s default workspace (1024 MB, 65536 inodes). A key of its
    /// own would be one more number to get wrong for little gain.
    pub fn state_inodes(&self) -> u64 {
        self.state_mb.saturating_mul(64)
    }

    /// Lines for `hardshell config check`: the image and whether it is
    /// pinned, the origin and port, and the environment as the workload sees
    /// it (a secret as its placeholder, with the hosts it is bound to).
    pub fn summary(&self, egress: &super::Egress) -> Vec<String> {
        let pinned = if self.image.digest().is_some() {
            "pinned by digest"
        } else {
            "NOT pinned: [dangerous] unpinned_images"
        };
        let port = self
            .port
            .map_or_else(|| "the image's exposed port".to_owned(), |p| p.to_string());
        let mut lines = vec![
            format!("image {} ({pinned})", self.image),
            format!("host {}, port {port}", self.host),
        ];
        if crate::advisories::openclaw_verdict(&self.image) == crate::advisories::Verdict::Unknown {
            lines.push(format!(
                "its tag names no OpenClaw release: whether known advisories affect it cannot be \
                 told; make sure it is {} or later",
                crate::advisories::openclaw_floor()
            ));
        }
        for (name, value) in &self.env {
            let bound = match value {
                EnvValue::Secret(secret) => egress
                    .secrets
                    .get(secret.as_str())
                    .map(|binding| {
                        let hosts: Vec<String> =
                            binding.hosts.iter().map(ToString::to_string).collect();
                        format!(" (swapped in only for {})", hosts.join(", "))
                    })
                    .unwrap_or_default(),
                EnvValue::Literal(_) => String::new(),
            };
            lines.push(format!("env {name}={}{bound}", value.inside()));
        }
        lines
    }
}

/// One `[workload.env]` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// `"secret:NAME"`: the workload sees `hs-secret:NAME`, which the broker
    /// replaces on the way to the hosts `[egress.secrets.NAME]` binds it to.
    Secret(SecretName),
    /// Any other text, as written.
    Literal(String),
}

/// Variables hardshell sets in a workload's shell for its way out (the
/// broker's proxy and the egress CA; see `hardshell-shells`' policy): a
/// workload's own value would be overwritten or, worse, win.
pub const RESERVED_ENV: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "NODE_USE_ENV_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "NODE_EXTRA_CA_CERTS",
    "HARDSHELL_CDP_URL",
];

/// The text a workload sees in place of a secret.
pub const PLACEHOLDER_PREFIX: &str = "hs-secret:";

impl EnvValue {
    /// What the workload's environment holds: the value, or the placeholder.
    pub fn inside(&self) -> String {
        match self {
            Self::Secret(name) => format!("{PLACEHOLDER_PREFIX}{name}"),
            Self::Literal(text) => text.clone(),
        }
    }
}

impl fmt::Display for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secret(name) => write!(f, "secret:{name}"),
            Self::Literal(text) => f.write_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.strip_prefix("secret:") {
            Some(name) => SecretName::parse(name).map(Self::Secret).map_err(|_| {
                serde::de::Error::custom(format!(
                    "secret name {name:?} is not valid: use A-Z, 0-9 and _, starting with a letter"
                ))
            }),
            None => Ok(Self::Literal(text)),
        }
    }
}

impl Serialize for EnvValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

fn deserialize_host<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Host, D::Error> {
    let text = String::deserialize(deserializer)?;
    Host::parse(&text).map_err(serde::de::Error::custom)
}

fn serialize_host<S: Serializer>(host: &Host, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(host)
}

fn default_memory_mb() -> u64 {
    2048
}

fn default_state_mb() -> u64 {
    1024
}

fn default_max_instances() -> u32 {
    1
}

fn default_ready_timeout_secs() -> u64 {
    120
}

fn default_stop_grace_secs() -> u64 {
    30
}
