//! `hardshell import wrangler.toml`: a Moltworker deployment's `wrangler.toml`
//! translated into a `hardshell.toml` that loads, a report of where each key
//! went, and the `hardshell secret put` lines to run.
//!
//! Invariant: nothing is dropped silently (every key is mapped or reported),
//! and nothing weaker than the source is written: a tag without a digest,
//! `REQUIRE_AUTH = "false"` and a release with a known remote-code-execution
//! advisory are refused with the fix.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod known;
mod map;
mod render;
mod wrangler;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

pub use hardshell_config::advisories;

/// The file OpenClaw's own config is written to, beside the `hardshell.toml`,
/// and the name it has in the workload's state directory.
pub const OPENCLAW_CONFIG_FILE: &str = "openclaw.json";

/// Choices the command line passes in.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Write `[dangerous] unpinned_images = true` for an image without a digest
    /// instead of refusing it.
    pub allow_unpinned: bool,
    /// The workload's own host name; the Worker's route's host, else
    /// `openclaw.localhost`, when not given.
    pub host: Option<String>,
    /// Secrets beyond those the file implies (`--secret NAME[=HOST,…]`).
    pub extra_secrets: Vec<ExtraSecret>,
}

/// `--secret NAME` (a name the import knows the hosts of) or
/// `--secret NAME=HOST[,HOST…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraSecret {
    /// The secret's name, which is also the workload's variable.
    pub name: String,
    /// Where the broker may send it; empty means "the known hosts for NAME".
    pub hosts: Vec<String>,
}

impl FromStr for ExtraSecret {
    type Err = ImportError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, hosts) = match text.split_once('=') {
            Some((name, hosts)) => (
                name,
                hosts
                    .split(',')
                    .map(|host| host.trim().to_owned())
                    .filter(|host| !host.is_empty())
                    .collect(),
            ),
            None => (text, Vec::new()),
        };
        if !hardshell_vocabulary::SecretName::is_valid(name) {
            return Err(ImportError::SecretName {
                name: name.to_owned(),
            });
        }
        Ok(Self {
            name: name.to_owned(),
            hosts,
        })
    }
}

/// The result: the config's text, what went where, what to run next.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The `hardshell.toml` to write; it loads with `hardshell-config`.
    pub config: String,
    /// Every key of the source, mapped or reported.
    pub report: Vec<Note>,
    /// Secrets to store before `hardshell up`, by name.
    pub secrets: Vec<String>,
    /// OpenClaw's own config, to write as [`OPENCLAW_CONFIG_FILE`] beside the
    /// `hardshell.toml` (whose `[workload.seed]` names it): its model and how
    /// it trusts the edge; `None` for other images.
    pub openclaw_config: Option<String>,
}

impl Imported {
    /// `hardshell secret put NAME` for each secret, one a line.
    pub fn secret_lines(&self) -> Vec<String> {
        self.secrets
            .iter()
            .map(|name| format!("hardshell secret put {name}"))
            .collect()
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The source key, dotted (`vars.RATE_LIMIT_RPM`).
    pub from: String,
    /// What happened to it.
    pub outcome: Outcome,
    /// Where it went, or why it did not.
    pub text: String,
}

/// What became of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written into the config.
    Mapped,
    /// Not written: hardshell does it another way, later, or not at all.
    Reported,
    /// Written, but needs the operator's attention.
    Warning,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = match self.outcome {
            Outcome::Mapped => "mapped  ",
            Outcome::Reported => "reported",
            Outcome::Warning => "WARNING ",
        };
        write!(f, "{outcome} {}: {}", self.from, self.text)
    }
}

/// Why a file could not be imported. Never carries a `[vars]` value: one may
/// be a credential pasted where it does not belong.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Not TOML.
    #[error("not a valid wrangler.toml: {message}")]
    Toml {
        /// The parser's message.
        message: String,
    },
    /// A key of the wrong shape.
    #[error("`{key}`: {message}")]
    Shape {
        /// The dotted key.
        key: String,
        /// What was expected.
        message: String,
    },
    /// More than one container: hardshell runs one workload.
    #[error(
        "more than one container is configured; hardshell runs one workload: keep one [[containers.config]]"
    )]
    Containers,
    /// No image at all.
    #[error("no container image: [[containers.config]] image is required")]
    NoImage,
    /// An image reference that does not parse (the seed's `sha256:abc123...`).
    #[error(
        "`containers.config.image` = {image:?}: {message}; find the real digest with `skopeo inspect --format '{{{{.Digest}}}}' docker://<image:tag>` or `hardshell image pull <image:tag>`"
    )]
    Image {
        /// The reference as written.
        image: String,
        /// What is wrong with it.
        message: String,
    },
    /// A Dockerfile for wrangler to build (Moltworker's own `./Dockerfile`):
    /// hardshell runs images, it does not build them.
    #[error(
        "`containers.config.image` = {image:?} is a Dockerfile, which wrangler builds; hardshell runs \
         built images: build and push it (e.g. `docker build -t REGISTRY/openclaw:TAG . && docker push \
         REGISTRY/openclaw:TAG`, or write an OCI layout), then set image to it with its @sha256: digest, \
         or use the official ghcr.io/openclaw/openclaw:VERSION@sha256:..."
    )]
    Dockerfile {
        /// The path as written.
        image: String,
    },
    /// A tag without a digest, refused as weaker than a pinned image.
    #[error(
        "`containers.config.image` = {image:?} is not pinned by digest, so the registry decides what runs; {fix}; or pass --allow-unpinned to write [dangerous] unpinned_images = true"
    )]
    Unpinned {
        /// The reference as written.
        image: String,
        /// How to find its digest.
        fix: String,
    },
    /// A release with known remote-code-execution advisories.
    #[error("`containers.config.image`: {message}")]
    Vulnerable {
        /// The advisories and the release to move to.
        message: String,
    },
    /// A setting hardshell will not reproduce because it is weaker.
    #[error("`{key}`: {reason}")]
    Weaker {
        /// The dotted key.
        key: String,
        /// Why, and what hardshell does instead.
        reason: String,
    },
    /// `--secret` with a name that is not a secret name.
    #[error("--secret {name:?}: a secret's name is A-Z, 0-9 and _, starting with a letter")]
    SecretName {
        /// The name as given.
        name: String,
    },
    /// `--secret NAME` for a name whose hosts the import does not know.
    #[error("--secret {name}: say where it may be sent, e.g. --secret {name}=api.example.com")]
    SecretHosts {
        /// The name.
        name: String,
    },
    /// `--host` that is not a host name.
    #[error("--host {host:?} is not a host name")]
    Host {
        /// As given.
        host: String,
    },
    /// The written config did not load: a value out of hardshell's bounds.
    #[error("the translated config is not valid: {0}")]
    Config(#[source] hardshell_config::ConfigError),
}

/// Translates `text` (a `wrangler.toml`) into an [`Imported`].
pub fn import(text: &str, options: &Options) -> Result<Imported, ImportError> {
    let source = wrangler::Wrangler::parse(text)?;
    let plan = map::plan(source, options)?;
    let config = render::config(&plan);
    // What is written must load as it is: checked here, not left to `up`.
    hardshell_config::LoadedConfig::parse(&config, Path::new("hardshell.toml"))
        .map_err(ImportError::Config)?;
    Ok(Imported {
        openclaw_config: render::openclaw_config(&plan),
        secrets: plan.secret_names(),
        report: plan.notes,
        config,
    })
}
