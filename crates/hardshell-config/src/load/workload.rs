//! `[workload]`'s rules: a pinned image of no known-vulnerable release, an
//! origin of its own, an environment that cannot undo the shell's way out,
//! secrets only where the broker can key them, and bounded sizes and times.

use std::ops::RangeInclusive;

use url::Url;

use crate::advisories::{self, Verdict};
use crate::load::{ConfigError, LoadedConfig};
use crate::model::{EnvValue, RESERVED_ENV, Workload};

const MEMORY_MB: RangeInclusive<u64> = 64..=65_536;
/// Percent of one core: up to 64 cores.
const CPU_PERCENT: RangeInclusive<u64> = 1..=6_400;
/// The state volume: room for a real workload's state (OpenClaw's is tens
/// of MB), at most 256 GiB.
const STATE_MB: RangeInclusive<u64> = 16..=262_144;
const READY_TIMEOUT_SECS: RangeInclusive<u64> = 1..=3_600;
const STOP_GRACE_SECS: RangeInclusive<u64> = 1..=600;
const MAX_ENV_VARS: usize = 256;
const MAX_SEED_FILES: usize = 64;
const MAX_ENV_VALUE_BYTES: usize = 32 * 1024;
const MAX_ARGS: usize = 256;

impl LoadedConfig {
    pub(super) fn validate_workload(&self) -> Result<(), ConfigError> {
        let Some(workload) = &self.config.workload else {
            return Ok(());
        };
        if self.config.upstream.is_some() {
            return Err(self.error_at(
                "workload",
                "[workload] and [upstream] both name what the edge proxies to; keep one",
            ));
        }
        if workload.browser && !self.config.browser_runs() {
            return Err(self.error_at(
                "workload.browser",
                "the workload's browsers are hardshell's: set [browser] enabled = true",
            ));
        }
        self.validate_image(workload)?;
        self.validate_origin(workload)?;
        self.validate_process(workload)?;
        self.validate_env(workload)?;
        self.validate_seed(workload)
    }

    fn validate_seed(&self, workload: &Workload) -> Result<(), ConfigError> {
        if workload.seed.is_empty() {
            return Ok(());
        }
        if workload.state_dir.is_none() {
            return Err(self.error_at(
                "workload.seed",
                "seeds the state directory: set [workload] state_dir too",
            ));
        }
        if workload.seed.len() > MAX_SEED_FILES {
            return Err(self.error_at("workload.seed", format!("at most {MAX_SEED_FILES} files")));
        }
        for (inside, file) in &workload.seed {
            // A path in the state directory: relative, plain, and short
            // enough to stay below it however it is joined.
            if inside.is_empty()
                || inside.starts_with('/')
                || inside.len() > 255
                || !is_plain_absolute(&format!("/{inside}"))
            {
                return Err(self.error_at(
                    "workload.seed",
                    format!(
                        "{inside:?} must be a path in the state directory: relative, without . or .. parts"
                    ),
                ));
            }
            if file.as_os_str().is_empty() {
                return Err(self.error_at(
                    "workload.seed",
                    format!("{inside:?}: name the file on this machine to copy"),
                ));
            }
        }
        Ok(())
    }

    fn validate_image(&self, workload: &Workload) -> Result<(), ConfigError> {
        let dangerous = &self.config.dangerous;
        if workload.image.digest().is_none() && !dangerous.unpinned_images {
            return Err(self.error_at(
                "workload.image",
                format!(
                    "the image is not pinned by digest, so the registry decides what runs; {} \
                     (or set [dangerous] unpinned_images = true)",
                    workload.image.how_to_pin()
                ),
            ));
        }
        if let Verdict::Affected(version, found) = advisories::openclaw_verdict(&workload.image)
            && !dangerous.known_vulnerable_images
        {
            return Err(self.error_at(
                "workload.image",
                format!(
                    "{} (or set [dangerous] known_vulnerable_images = true)",
                    advisories::describe_affected(version, &found)
                ),
            ));
        }
        Ok(())
    }

    fn validate_origin(&self, workload: &Workload) -> Result<(), ConfigError> {
        let host = workload.host.as_str();
        if host
            .rsplit('.')
            .next()
            .is_some_and(|label| label.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(self.error_at(
                "workload.host",
                "give a host name of its own (e.g. openclaw.agent.example.com), not an address",
            ));
        }
        let edge_host = match &self.config.edge.public_url {
            Some(text) => Url::parse(text)
                .ok()
                .and_then(|url| url.host_str().map(str::to_ascii_lowercase)),
            None => Some("localhost".to_owned()),
        };
        if edge_host.as_deref() == Some(host) {
            return Err(self.error_at(
                "workload.host",
                "the workload needs an origin of its own, not the edge's: its pages must not \
                 share an origin with the edge's own routes (/admin, tokens); use a name \
                 beside it, e.g. openclaw.<edge's host>",
            ));
        }
        if workload.port == Some(0) {
            return Err(self.error_at("workload.port", "must be 1 to 65535"));
        }
        if let Some(header) = &workload.identity_header {
            let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^`|~".contains(&b);
            // The edge drops every underscored name a client sends (CGI reads
            // `_` as `-`), so such a header could not be told from a forgery.
            if header.is_empty() || header.len() > 64 || !header.bytes().all(tchar) {
                return Err(self.error_at(
                    "workload.identity_header",
                    format!("{header:?} is not a header name (letters, digits and -, no _)"),
                ));
            }
            let lower = header.to_ascii_lowercase();
            if hardshell_vocabulary::headers::is_edge_owned(&lower) {
                return Err(self.error_at(
                    "workload.identity_header",
                    format!(
                        "{header} is a header the edge removes or sets for itself; name one of \
                         the workload's own, e.g. X-Forwarded-User"
                    ),
                ));
            }
        }
        if let Some(path) = &workload.health_path
            && (!path.starts_with('/')
                || path.len() > 1024
                || !path.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(self.error_at(
                "workload.health_path",
                "a path starting with /, printable ASCII without spaces",
            ));
        }
        Ok(())
    }

    fn validate_process(&self, workload: &Workload) -> Result<(), ConfigError> {
        // One instance: its state has one owner at a time (the state's lease),
        // and a second shell would write the same directory under it.
        if workload.max_instances != 1 {
            return Err(self.error_at(
                "workload.max_instances",
                "must be 1: hardshell runs exactly one instance of the workload per machine, \
                 since its state has one owner at a time (the state lease). Write \
                 max_instances = 1 (or leave it out); for another instance, run another \
                 hardshell machine on another bucket prefix ([storage] prefix)",
            ));
        }
        for (key, value, range) in [
            ("workload.memory_mb", workload.memory_mb, MEMORY_MB),
            (
                "workload.cpu_percent",
                workload.cpu_percent.map_or(100, u64::from),
                CPU_PERCENT,
            ),
            ("workload.state_mb", workload.state_mb, STATE_MB),
            (
                "workload.ready_timeout_secs",
                workload.ready_timeout_secs,
                READY_TIMEOUT_SECS,
            ),
            (
                "workload.stop_grace_secs",
                workload.stop_grace_secs,
                STOP_GRACE_SECS,
            ),
        ] {
            if !range.contains(&value) {
                return Err(self.error_at(
                    key,
                    format!("must be from {} to {}", range.start(), range.end()),
                ));
            }
        }
        for (key, args) in [
            ("workload.entrypoint", &workload.entrypoint),
            ("workload.command", &workload.command),
        ] {
            let Some(args) = args else { continue };
            if args.is_empty() && key == "workload.entrypoint" {
                return Err(self.error_at(key, "name the program to run, or leave the key out"));
            }
            if args.len() > MAX_ARGS || args.iter().any(|arg| arg.contains('\0')) {
                return Err(self.error_at(
                    key,
                    format!("at most {MAX_ARGS} arguments, none with a NUL byte"),
                ));
            }
        }
        for (key, path) in [
            ("workload.working_dir", &workload.working_dir),
            ("workload.state_dir", &workload.state_dir),
        ] {
            if let Some(path) = path
                && !is_plain_absolute(path)
            {
                return Err(self.error_at(
                    key,
                    format!(
                        "{path:?} must be an absolute path inside the image, without . or .. parts"
                    ),
                ));
            }
        }
        if workload.state_dir.as_deref() == Some("/") {
            return Err(self.error_at(
                "workload.state_dir",
                "the state directory cannot be the image's whole root; name the directory its state lives in",
            ));
        }
        Ok(())
    }

    fn validate_env(&self, workload: &Workload) -> Result<(), ConfigError> {
        if workload.env.len() > MAX_ENV_VARS {
            return Err(self.error_at("workload.env", format!("at most {MAX_ENV_VARS} variables")));
        }
        for (name, value) in &workload.env {
            let key = format!("workload.env.{name}");
            let printable = name.bytes().all(|b| b.is_ascii_graphic());
            if name.is_empty() || name.len() > 128 || name.contains('=') || !printable {
                return Err(self.error_at(
                    &key,
                    "an environment variable's name is printable ASCII without = or spaces",
                ));
            }
            if RESERVED_ENV.contains(&name.to_ascii_uppercase().as_str()) {
                return Err(self.error_at(
                    &key,
                    format!(
                        "hardshell sets {name} itself, for the shell's way out through the \
                         egress broker and its CA; remove it"
                    ),
                ));
            }
            match value {
                EnvValue::Literal(text) => {
                    if text.contains('\0') || text.len() > MAX_ENV_VALUE_BYTES {
                        return Err(self.error_at(
                            &key,
                            format!(
                                "a value has no NUL byte and at most {MAX_ENV_VALUE_BYTES} bytes"
                            ),
                        ));
                    }
                }
                EnvValue::Secret(secret) => {
                    if !self.config.egress.secrets.contains_key(secret.as_str()) {
                        return Err(self.error_at(
                            &key,
                            format!(
                                "secret {secret} is bound to no host, so the workload would hold \
                                 only its placeholder and the broker would never swap it in; add \
                                 [egress.secrets.{secret}] hosts = [\"<the API's host>\"] (and an \
                                 [[egress.routes]] entry for that host)"
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// `/a/b`: absolute, no empty, `.` or `..` parts, no NUL.
pub(super) fn is_plain_absolute(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    path.strip_prefix('/').is_some_and(|rest| {
        rest.split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\0'))
    })
}
