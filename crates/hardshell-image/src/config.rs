//! The image's own run settings (entrypoint, cmd, env, working directory, exposed
//! ports, user), parsed from its config blob into types the workload starter uses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the image says about how to run it. `[workload]` may override each part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    pub architecture: String,
    pub os: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `NAME=value` pairs, in the image's order.
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub exposed_ports: Vec<ExposedPort>,
    /// As the image names it (`1000`, `node`, `1000:1000`); the shell maps it.
    pub user: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExposedPort {
    pub port: u16,
    pub protocol: PortProtocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortProtocol {
    Tcp,
    Udp,
    Sctp,
}

/// Why an image config was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("image config is not valid JSON")]
    Json(#[from] serde_json::Error),
    #[error("image config env entry {0:?} is not NAME=value")]
    Env(String),
    #[error("image config exposes {0:?}, not PORT[/tcp|udp|sctp]")]
    Port(String),
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    config: Option<RawRun>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawRun {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    user: Option<String>,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8]) -> Result<Self, ConfigError> {
        let raw: Raw = serde_json::from_slice(bytes)?;
        let run = raw.config.unwrap_or_default();
        let env = run
            .env
            .unwrap_or_default()
            .into_iter()
            .map(|entry| match entry.split_once('=') {
                Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
                _ => Err(ConfigError::Env(entry)),
            })
            .collect::<Result<_, _>>()?;
        let exposed_ports = run
            .exposed_ports
            .unwrap_or_default()
            .into_keys()
            .map(|key| parse_port(&key).ok_or(ConfigError::Port(key)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            architecture: raw.architecture,
            os: raw.os,
            entrypoint: run.entrypoint.unwrap_or_default(),
            cmd: run.cmd.unwrap_or_default(),
            env,
            working_dir: run.working_dir.filter(|w| !w.is_empty()),
            exposed_ports,
            user: run.user.filter(|u| !u.is_empty()),
        })
    }
}

fn parse_port(key: &str) -> Option<ExposedPort> {
    let (port, protocol) = key.split_once('/').unwrap_or((key, "tcp"));
    let protocol = match protocol {
        "tcp" => PortProtocol::Tcp,
        "udp" => PortProtocol::Udp,
        "sctp" => PortProtocol::Sctp,
        _ => return None,
    };
    Some(ExposedPort {
        port: port.parse().ok().filter(|p| *p != 0)?,
        protocol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_config_is_parsed_into_types() {
        let json = br#"{"architecture":"amd64","os":"linux","config":{
            "User":"node","ExposedPorts":{"18789/tcp":{},"53/udp":{}},
            "Env":["PATH=/usr/bin:/bin","EMPTY=","A=b=c"],
            "Entrypoint":["docker-entrypoint.sh"],"Cmd":["node","openclaw.mjs"],
            "WorkingDir":"/app"}}"#;
        let c = ImageConfig::parse(json).unwrap();
        assert_eq!(c.entrypoint, ["docker-entrypoint.sh"]);
        assert_eq!(c.cmd, ["node", "openclaw.mjs"]);
        assert_eq!(c.env[2], ("A".to_owned(), "b=c".to_owned()));
        assert_eq!(c.env[1], ("EMPTY".to_owned(), String::new()));
        assert_eq!(c.working_dir.as_deref(), Some("/app"));
        assert_eq!(c.user.as_deref(), Some("node"));
        assert_eq!(
            c.exposed_ports,
            [
                ExposedPort {
                    port: 18789,
                    protocol: PortProtocol::Tcp
                },
                ExposedPort {
                    port: 53,
                    protocol: PortProtocol::Udp
                }
            ]
        );
    }

    #[test]
    fn malformed_env_and_ports_are_refused() {
        let env = br#"{"config":{"Env":["NOEQUALS"]}}"#;
        assert!(matches!(ImageConfig::parse(env), Err(ConfigError::Env(_))));
        let port = br#"{"config":{"ExposedPorts":{"http/tcp":{}}}}"#;
        assert!(matches!(
            ImageConfig::parse(port),
            Err(ConfigError::Port(_))
        ));
        let empty = br#"{}"#;
        assert_eq!(ImageConfig::parse(empty).unwrap().cmd, Vec::<String>::new());
    }
}
