//! A module's capabilities: everything it may do beyond computing. Nothing
//! undeclared exists for it. These are what the owner reads and accepts,
//! what the lock keeps a full copy of, and what an update is compared by.

use std::collections::BTreeSet;
use std::fmt;

use hardshell_module_wire::{HostGrant, ModuleGrants, WorkspaceGrant};
use hardshell_vocabulary::{Host, SecretName};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most memory a module may ask for, in MiB.
pub const MAX_MEMORY_MB: u32 = 256;
/// The longest a module's call may ask to run, in milliseconds.
pub const MAX_TIMEOUT_MS: u32 = 60_000;
/// Hosts one module may reach.
pub const MAX_HOSTS: usize = 32;
/// Secrets one module may use.
pub const MAX_SECRETS: usize = 32;

/// `[capabilities]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// The hosts it may reach, through the broker, as routes of its own.
    #[serde(default)]
    pub hosts: Vec<HostAccess>,
    /// Besides `hosts`: reading any public web page, `GET` and `HEAD` of any
    /// host on port 443 (https) or 80 (http), through the broker, which
    /// refuses every internal address a name resolves to; no secret is sent
    /// there (a secret binds to one of `hosts`). What the `fetch` module
    /// needs; the owner is shown it as the widest grant there is.
    #[serde(default, skip_serializing_if = "is_false")]
    pub public_web: bool,
    /// Secrets it may use, each as a placeholder bound to one of `hosts`.
    #[serde(default)]
    pub secrets: Vec<SecretUse>,
    /// What it may do with the conversation's workspace.
    #[serde(default)]
    pub workspace: WorkspaceAccess,
    /// Its memory cap, in MiB (1 to 256).
    pub memory_mb: u32,
    /// How long one call may run, in milliseconds (1 to 60 000).
    pub timeout_ms: u32,
}

/// One host a module may reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostAccess {
    #[serde(with = "host_name")]
    pub host: Host,
    #[serde(default = "https_port")]
    pub port: u16,
    #[serde(default)]
    pub scheme: Scheme,
    /// The methods it may use; absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<BTreeSet<Method>>,
    /// The path its requests must start with; absent: any path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
}

fn is_false(value: &bool) -> bool {
    !value
}

fn https_port() -> u16 {
    443
}

/// How a module's requests reach a host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    #[default]
    Https,
    Http,
}

/// The HTTP methods a host route can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

/// A secret a module may use: its placeholder is swapped for the value
/// only on the way to `host`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretUse {
    pub name: SecretName,
    #[serde(with = "host_name")]
    pub host: Host,
}

/// What a module may do with the conversation's workspace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceAccess {
    /// It sees no workspace.
    #[default]
    None,
    Read,
    Write,
}

impl Capabilities {
    /// What the module's host process applies: the hosts, the workspace and
    /// the limits. The secrets are the broker's; the host never sees them.
    pub fn grants(&self) -> ModuleGrants {
        let hosts = self
            .hosts
            .iter()
            .map(|access| HostGrant {
                scheme: match access.scheme {
                    Scheme::Https => "https".into(),
                    Scheme::Http => "http".into(),
                },
                host: access.host.clone(),
                port: access.port,
                methods: access
                    .methods
                    .as_ref()
                    .map(|methods| methods.iter().map(ToString::to_string).collect()),
                path_prefix: access.path_prefix.clone(),
            })
            .collect();
        ModuleGrants {
            hosts,
            public_web: self.public_web,
            workspace: match self.workspace {
                WorkspaceAccess::None => WorkspaceGrant::None,
                WorkspaceAccess::Read => WorkspaceGrant::Read,
                WorkspaceAccess::Write => WorkspaceGrant::Write,
            },
            memory_mb: self.memory_mb,
            timeout_ms: u64::from(self.timeout_ms),
        }
    }

    /// The rules types do not hold; `Err` says which one failed.
    pub(crate) fn check(&self) -> Result<(), String> {
        if !(1..=MAX_MEMORY_MB).contains(&self.memory_mb) {
            return Err(format!("memory_mb must be 1 to {MAX_MEMORY_MB}"));
        }
        if !(1..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return Err(format!("timeout_ms must be 1 to {MAX_TIMEOUT_MS}"));
        }
        if self.hosts.len() > MAX_HOSTS || self.secrets.len() > MAX_SECRETS {
            return Err(format!(
                "at most {MAX_HOSTS} hosts and {MAX_SECRETS} secrets"
            ));
        }
        let mut routes = BTreeSet::new();
        for access in &self.hosts {
            if access.port == 0 {
                return Err(format!("{}: port 0 is no port", access.host));
            }
            if access.methods.as_ref().is_some_and(BTreeSet::is_empty) {
                return Err(format!(
                    "{}: methods = [] allows nothing; leave it out for any method",
                    access.host
                ));
            }
            if let Some(prefix) = &access.path_prefix
                && !is_path_prefix(prefix)
            {
                return Err(format!(
                    "{}: path_prefix must start with / and hold printable ASCII without \
                     . or .. segments, ? or #, at most 256 bytes",
                    access.host
                ));
            }
            // A host and port is one route of the module's broker, http or
            // https: the same pair under both schemes would be one route.
            if !routes.insert((access.host.as_str(), access.port)) {
                return Err(format!(
                    "{}:{} is declared twice (a host and port is one route, http or https)",
                    access.host, access.port
                ));
            }
        }
        let mut secrets = BTreeSet::new();
        for secret in &self.secrets {
            if !self.hosts.iter().any(|access| access.host == secret.host) {
                return Err(format!(
                    "secret {} is bound to {}, which is not one of its hosts",
                    secret.name, secret.host
                ));
            }
            if !secrets.insert((secret.name.as_str(), secret.host.as_str())) {
                return Err(format!(
                    "secret {} for {} is declared twice",
                    secret.name, secret.host
                ));
            }
        }
        Ok(())
    }
}

/// A path a prefix can be compared with as text and mean one thing: no
/// `.`/`..` segments, no escapes, no query.
fn is_path_prefix(prefix: &str) -> bool {
    prefix.starts_with('/')
        && prefix.len() <= 256
        && prefix
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#' | b'%' | b'\\'))
        && !prefix
            .split('/')
            .any(|segment| segment == "." || segment == "..")
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        };
        f.write_str(text)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        })
    }
}

impl fmt::Display for WorkspaceAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WorkspaceAccess::None => "none",
            WorkspaceAccess::Read => "read",
            WorkspaceAccess::Write => "write",
        })
    }
}

/// One host route in plain words, as the owner is shown it.
impl fmt::Display for HostAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)?;
        match &self.path_prefix {
            Some(prefix) => write!(f, " paths under {prefix}")?,
            None => write!(f, " any path")?,
        }
        match &self.methods {
            Some(methods) => {
                let names: Vec<String> = methods.iter().map(Method::to_string).collect();
                write!(f, ", methods {}", names.join(" "))
            }
            None => write!(f, ", any method"),
        }
    }
}

/// A [`Host`] written as its name.
mod host_name {
    use super::*;

    pub fn serialize<S: Serializer>(host: &Host, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(host.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Host, D::Error> {
        let text = String::deserialize(d)?;
        if text.contains('*') {
            return Err(serde::de::Error::custom(
                "a module's host is one exact name, never a wildcard",
            ));
        }
        Host::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_process_is_granted_the_hosts_workspace_and_limits_but_no_secret() {
        let capabilities: Capabilities = serde_json::from_str(
            r#"{"hosts":[{"host":"api.search.example","methods":["GET"],"path_prefix":"/v1/"},
                         {"host":"plain.example","port":8080,"scheme":"http"}],
                "secrets":[{"name":"SEARCH_KEY","host":"api.search.example"}],
                "workspace":"read","memory_mb":32,"timeout_ms":4000}"#,
        )
        .unwrap();
        let grants = capabilities.grants();
        let text = serde_json::to_string(&grants).unwrap();
        assert_eq!(
            text,
            r#"{"hosts":[{"scheme":"https","host":"api.search.example","port":443,"methods":["GET"],"path_prefix":"/v1/"},{"scheme":"http","host":"plain.example","port":8080,"methods":null,"path_prefix":null}],"public_web":false,"workspace":"read","memory_mb":32,"timeout_ms":4000}"#
        );
        assert!(!text.contains("SEARCH_KEY"));
    }
}
