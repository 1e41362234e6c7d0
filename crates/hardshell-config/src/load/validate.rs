//! Rules that span several keys or need more than a type to check. Each failure
//! points at the key to change and says what to change it to.

use std::net::IpAddr;

use hardshell_vocabulary::ModelRef;
use url::Url;

use crate::load::{ConfigError, LoadedConfig};
use crate::model::{Approval, S3, StorageBackend};

/// `[exec] max_file_mb` at most: a file shared with or by the agent is held
/// whole in the edge's memory.
const MAX_FILE_MB: u64 = 1024;
/// The most exec shells `[shell] pool` may keep prepared.
const MAX_POOL: u32 = 8;

impl LoadedConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.validate_listener()?;
        self.validate_tls()?;
        self.validate_llm()?;
        self.validate_access()?;
        self.validate_storage()?;
        self.validate_exec()?;
        self.validate_egress()?;
        self.validate_workload()?;
        self.validate_browser()?;
        self.validate_channels()?;
        self.validate_modules()?;
        self.validate_operations()
    }

    /// What the broker could not use, refused here rather than at start.
    fn validate_egress(&self) -> Result<(), ConfigError> {
        let egress = &self.config.egress;
        if egress.max_mb == 0 {
            return Err(self.error_at("egress.max_mb", "must be at least 1"));
        }
        for (i, route) in egress.routes.iter().enumerate() {
            let key = |field: &str| format!("egress.routes[{i}].{field}");
            if route.hosts.is_empty() {
                return Err(self.error_at(&key("hosts"), "name at least one host"));
            }
            if route.ports.is_empty() || route.ports.contains(&0) {
                return Err(self.error_at(&key("ports"), "name at least one port, none of them 0"));
            }
            if route.tls && route.ports.contains(&80) {
                return Err(self.error_at(
                    &key("ports"),
                    "a tls route speaks TLS to these ports; 80 is plain HTTP's (did you mean 443?)",
                ));
            }
            if route.inspect == Some(false) && (route.methods.is_some() || route.paths.is_some()) {
                return Err(self.error_at(
                    &key("inspect"),
                    "a raw tunnel's requests cannot be read, so its method and path rules could \
                     not be applied; drop the rules or the `inspect = false`",
                ));
            }
            if let Some(methods) = &route.methods
                && let Some(bad) = methods
                    .iter()
                    .find(|m| m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()))
            {
                return Err(
                    self.error_at(&key("methods"), format!("{bad:?} is not an HTTP method"))
                );
            }
            if let Some(paths) = &route.paths
                && let Some(bad) = paths.iter().find(|p| !p.starts_with('/'))
            {
                return Err(self.error_at(&key("paths"), format!("{bad:?} must start with /")));
            }
        }
        for (name, binding) in &egress.secrets {
            let key = format!("egress.secrets.{name}");
            if !hardshell_vocabulary::SecretName::is_valid(name) {
                return Err(self.error_at(
                    &key,
                    "a secret's name is upper-case letters, digits and _, starting with a letter",
                ));
            }
            // Its value is the egress CA's key: a placeholder for it would
            // send the key to whatever host it were bound to.
            if name == hardshell_vocabulary::EGRESS_CA_SECRET {
                return Err(self.error_at(
                    &key,
                    "the egress CA's key is never sent anywhere; it cannot be bound",
                ));
            }
            if binding.hosts.is_empty() {
                return Err(self.error_at(&format!("{key}.hosts"), "name at least one host"));
            }
            if let Some(header) = &binding.header
                && (header.is_empty()
                    || !header
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            {
                return Err(self.error_at(
                    &format!("{key}.header"),
                    format!("{header:?} is not a header name"),
                ));
            }
        }
        Ok(())
    }

    fn validate_exec(&self) -> Result<(), ConfigError> {
        let exec = &self.config.exec;
        for (i, program) in exec.allow.iter().enumerate() {
            if !is_program_name(program) {
                return Err(self.error_at(
                    &format!("exec.allow[{i}]"),
                    format!(
                        "{program:?} is not a program name: letters, digits and . _ + - only, \
                         or an absolute path"
                    ),
                ));
            }
        }
        for (key, value) in [
            ("exec.timeout_secs", exec.timeout_secs),
            ("exec.approval_timeout_secs", exec.approval_timeout_secs),
            ("exec.max_output_bytes", exec.max_output_bytes as u64),
            ("exec.memory_mb", exec.memory_mb),
            ("exec.max_pids", exec.max_pids),
            ("exec.max_file_mb", exec.max_file_mb),
        ] {
            if value == 0 {
                return Err(self.error_at(key, "must be at least 1"));
            }
        }
        // A shared file is held whole in the edge's memory, a few per session.
        if exec.max_file_mb > MAX_FILE_MB {
            return Err(self.error_at(
                "exec.max_file_mb",
                format!("must be at most {MAX_FILE_MB}: shared files are held in memory"),
            ));
        }
        let shell = &self.config.shell;
        for (key, value) in [
            ("shell.max_instances", u64::from(shell.max_instances)),
            ("shell.memory_mb", shell.memory_mb),
            ("shell.max_pids", shell.max_pids),
            ("shell.cpu_percent", u64::from(shell.cpu_percent)),
            ("shell.tmp_mb", shell.tmp_mb),
        ] {
            if value == 0 {
                return Err(self.error_at(key, "must be at least 1"));
            }
        }
        if shell.pool > MAX_POOL {
            return Err(self.error_at(
                "shell.pool",
                format!("must be at most {MAX_POOL}: each is a shell kept waiting"),
            ));
        }
        // ext4's own floor, and at most one inode per KiB (mkfs.ext4 refuses more).
        if shell.workspace_mb < 16 {
            return Err(self.error_at("shell.workspace_mb", "must be at least 16"));
        }
        if shell.workspace_inodes < 128
            || shell.workspace_inodes > shell.workspace_mb.saturating_mul(1024)
        {
            return Err(self.error_at(
                "shell.workspace_inodes",
                "must be at least 128 and at most one per KiB of workspace_mb",
            ));
        }
        // A command is asked about and run within one turn: the turn must
        // outlast both, or an approved command would be cut off mid-run.
        let agent = &self.config.agent;
        let needed = match exec.approval {
            Approval::Deny => 0,
            Approval::Allowlist => exec.timeout_secs,
            Approval::Ask => exec.approval_timeout_secs.saturating_add(exec.timeout_secs),
        };
        if agent.enabled && needed >= agent.turn_timeout_secs {
            return Err(self.error_at(
                "agent.turn_timeout_secs",
                format!(
                    "must be more than the {needed} s an exec command may take \
                     (exec.timeout_secs, plus exec.approval_timeout_secs when approval = \"ask\")"
                ),
            ));
        }
        Ok(())
    }

    /// The URL clients use: `[edge] public_url`, or `http(s)://localhost:<port>`.
    pub(super) fn resolve_public_url(&self) -> Result<Url, ConfigError> {
        let edge = &self.config.edge;
        let text = match &edge.public_url {
            Some(text) => text.clone(),
            None => {
                let scheme = if edge.tls.is_some() { "https" } else { "http" };
                format!("{scheme}://localhost:{}/", edge.listen.port())
            }
        };
        Url::parse(&text).map_err(|e| self.error_at("edge.public_url", format!("not a URL: {e}")))
    }

    /// `[edge.tls]`: files or ACME, one of them whole; ACME's names are DNS
    /// names (TLS-ALPN-01 proves no wildcard or address), the public URL's
    /// host among them, and its directory https.
    fn validate_tls(&self) -> Result<(), ConfigError> {
        let Some(tls) = &self.config.edge.tls else {
            return Ok(());
        };
        match (&tls.cert, &tls.key, &tls.acme) {
            (Some(_), Some(_), None) => return Ok(()),
            (None, None, Some(_)) => {}
            (_, _, Some(_)) => {
                return Err(self.error_at(
                    "edge.tls.acme",
                    "acme gets the certificate: remove cert and key, or remove acme",
                ));
            }
            _ => {
                return Err(self.error_at(
                    "edge.tls",
                    "give both cert and key (PEM files), or acme = { email = \"...\", domains = [\"...\"] }",
                ));
            }
        }
        let Some(acme) = &tls.acme else {
            return Ok(());
        };
        let email = acme.email.trim();
        if email != acme.email
            || email.len() > 254
            || !email.contains('@')
            || email.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(self.error_at("edge.tls.acme.email", "an email address"));
        }
        if acme.domains.is_empty() || acme.domains.len() > 100 {
            return Err(self.error_at(
                "edge.tls.acme.domains",
                "list one to 100 names, the public URL's host among them",
            ));
        }
        for (i, domain) in acme.domains.iter().enumerate() {
            // The upstream host's rule: lower case, two labels or more, no
            // address; and no wildcard, which TLS-ALPN-01 cannot prove.
            let name_ok = crate::model::is_dns_name(domain);
            if !name_ok {
                return Err(self.error_at(
                    &format!("edge.tls.acme.domains[{i}]"),
                    format!(
                        "{domain:?} is not a lower-case DNS name hardshell can prove (no wildcard, no address)"
                    ),
                ));
            }
        }
        match (acme.challenge, acme.http_listen) {
            (crate::AcmeChallenge::Http01, None) => {
                return Err(self.error_at(
                    "edge.tls.acme.http_listen",
                    "http-01 is answered on a plain-HTTP listener: set http_listen (usually \"0.0.0.0:80\")",
                ));
            }
            (_, Some(http)) if http.port() == self.config.edge.listen.port() => {
                return Err(self.error_at(
                    "edge.tls.acme.http_listen",
                    "the plain-HTTP listener needs a port of its own, not the edge's",
                ));
            }
            _ => {}
        }
        let directory = Url::parse(&acme.directory)
            .map_err(|e| self.error_at("edge.tls.acme.directory", format!("not a URL: {e}")))?;
        if directory.scheme() != "https" {
            return Err(self.error_at("edge.tls.acme.directory", "the directory must be https://"));
        }
        if let Some(public) = &self.config.edge.public_url
            && let Ok(url) = Url::parse(public)
            && let Some(host) = url.host_str()
            && !acme.domains.iter().any(|d| d.eq_ignore_ascii_case(host))
        {
            return Err(self.error_at(
                "edge.tls.acme.domains",
                format!("the public URL's host {host} must be one of the names, or browsers will refuse the certificate"),
            ));
        }
        Ok(())
    }

    fn validate_listener(&self) -> Result<(), ConfigError> {
        let edge = &self.config.edge;
        let access = &self.config.access;
        if !edge.listen.ip().is_loopback() {
            if !access.has_login_method() {
                return Err(self.error_at(
                    "edge.listen",
                    format!(
                        "refusing to listen on {}: no access method is configured ([access.passkey], \
                         [access.cloudflare] or [access.oidc]), so hardshell listens only on loopback",
                        edge.listen
                    ),
                ));
            }
            if edge.tls.is_none() && edge.trusted_proxies.is_empty() {
                return Err(self.error_at(
                    "edge.listen",
                    format!(
                        "refusing to listen on {} without TLS: credentials would cross the network in \
                         clear; configure [edge.tls], or trusted_proxies if a proxy terminates TLS",
                        edge.listen
                    ),
                ));
            }
        }
        if let Some(text) = &edge.public_url {
            let url = Url::parse(text)
                .map_err(|e| self.error_at("edge.public_url", format!("not a URL: {e}")))?;
            let https = url.scheme() == "https";
            if !https && url.scheme() != "http" {
                return Err(self.error_at(
                    "edge.public_url",
                    "public_url must be https:// (or http:// on localhost)",
                ));
            }
            if !https && !is_local_host(url.host_str().unwrap_or("")) {
                return Err(self.error_at(
                    "edge.public_url",
                    "public_url must be https:// unless it is localhost: browsers allow passkeys and \
                     secure cookies only on https",
                ));
            }
            if !https && edge.tls.is_some() {
                return Err(self.error_at(
                    "edge.public_url",
                    "public_url must be https:// when [edge.tls] is set: the listener speaks TLS",
                ));
            }
            if url.path() != "/" || url.query().is_some() {
                return Err(self.error_at(
                    "edge.public_url",
                    "public_url must be an origin, without a path",
                ));
            }
        } else if !edge.listen.ip().is_loopback() {
            return Err(self.error_at(
                "edge.public_url",
                "listening off loopback needs public_url, the https URL clients use to reach this edge",
            ));
        }
        let limits = [
            ("edge.max_header_bytes", edge.max_header_bytes as u64, 1024),
            ("edge.max_body_bytes", edge.max_body_bytes, 1),
            ("edge.header_timeout_secs", edge.header_timeout_secs, 1),
            ("edge.request_timeout_secs", edge.request_timeout_secs, 1),
            ("edge.max_connections", edge.max_connections as u64, 1),
            (
                "edge.max_connections_per_address",
                edge.max_connections_per_address as u64,
                1,
            ),
        ];
        for (key, value, minimum) in limits {
            if value < minimum {
                return Err(self.error_at(key, format!("must be at least {minimum}")));
            }
        }
        if edge.max_connections_per_address > edge.max_connections {
            return Err(self.error_at(
                "edge.max_connections_per_address",
                "must not be more than edge.max_connections",
            ));
        }
        Ok(())
    }

    fn validate_access(&self) -> Result<(), ConfigError> {
        let access = &self.config.access;
        for (i, rule) in access.rules.iter().enumerate() {
            if rule.emails.is_empty() && rule.groups.is_empty() {
                return Err(self.error_at(
                    &format!("access.rules[{i}]"),
                    "this rule lists no emails and no groups, so it matches nobody",
                ));
            }
            // Logins carry only printable-ASCII emails (hardshell-auth's
            // `verified_email`), so any other entry could never match.
            if let Some(email) = rule
                .emails
                .iter()
                .find(|email| email.is_empty() || !email.bytes().all(|b| b.is_ascii_graphic()))
            {
                return Err(self.error_at(
                    &format!("access.rules[{i}].emails"),
                    format!(
                        "{:?} is not a printable-ASCII address; logins with such an address are not matched by email",
                        email
                    ),
                ));
            }
        }
        if access.devices.enabled && self.config.edge.tls.is_none() {
            return Err(self.error_at(
                "access.devices.enabled",
                "device certificates are presented in the TLS handshake: configure [edge.tls]",
            ));
        }
        let rule_needs_device = access.rules.iter().any(|rule| rule.require_device);
        if (access.require_device || rule_needs_device) && !access.devices.enabled {
            let key = if access.require_device {
                "access.require_device"
            } else {
                "access.rules"
            };
            return Err(self.error_at(
                key,
                "requiring a device certificate needs [access.devices] enabled = true",
            ));
        }
        if access.fresh_login_minutes == 0 || access.session_hours == 0 {
            return Err(self.error_at(
                "access",
                "fresh_login_minutes and session_hours must be at least 1",
            ));
        }
        if let Some(cloudflare) = &access.cloudflare {
            let domain = &cloudflare.team_domain;
            let bare_host = !domain.is_empty()
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            if !bare_host {
                return Err(self.error_at(
                    "access.cloudflare.team_domain",
                    "give the bare team domain, e.g. myteam.cloudflareaccess.com (no https://, no path)",
                ));
            }
            if cloudflare.audience.trim().is_empty() {
                return Err(self.error_at(
                    "access.cloudflare.audience",
                    "the Access application's AUD tag is required",
                ));
            }
            if cloudflare.only_from_trusted_proxies && self.config.edge.trusted_proxies.is_empty() {
                return Err(self.error_at(
                    "access.cloudflare.only_from_trusted_proxies",
                    "no proxy is trusted ([edge] trusted_proxies is empty), so no Access token would ever be accepted",
                ));
            }
        }
        if let Some(oidc) = &access.oidc {
            let issuer = Url::parse(&oidc.issuer)
                .map_err(|e| self.error_at("access.oidc.issuer", format!("not a URL: {e}")))?;
            let loopback = issuer.host_str().is_some_and(is_loopback_host);
            if issuer.scheme() != "https" && !(issuer.scheme() == "http" && loopback) {
                return Err(self.error_at(
                    "access.oidc.issuer",
                    "the issuer must be https:// (http only on loopback)",
                ));
            }
        }
        Ok(())
    }

    fn validate_storage(&self) -> Result<(), ConfigError> {
        let storage = &self.config.storage;
        match (storage.backend, &storage.s3) {
            (StorageBackend::S3, None) => {
                return Err(self.error_at(
                    "storage.backend",
                    "backend = \"s3\" needs a [storage.s3] table with at least bucket, \
                     access_key_id and secret_access_key",
                ));
            }
            (StorageBackend::File, Some(_)) => {
                return Err(self.error_at(
                    "storage.s3",
                    "[storage.s3] is set but storage.backend is \"file\"; set backend = \"s3\" \
                     to use the bucket, or remove the table",
                ));
            }
            _ => {}
        }
        if let Some(s3) = &storage.s3 {
            self.validate_s3("storage.s3", s3)?;
        }
        if let Some(s3) = &self.config.audit.s3 {
            self.validate_s3("audit.s3", s3)?;
        }
        Ok(())
    }

    fn validate_s3(&self, table: &str, s3: &S3) -> Result<(), ConfigError> {
        if let Some(endpoint) = &s3.endpoint
            && !(endpoint.starts_with("https://") || endpoint.starts_with("http://"))
        {
            return Err(self.error_at(
                &format!("{table}.endpoint"),
                "endpoint must start with https:// or http://",
            ));
        }
        if !is_valid_bucket_name(&s3.bucket) {
            return Err(self.error_at(
                &format!("{table}.bucket"),
                format!(
                    "{:?} is not a valid bucket name (3-63 characters: a-z, 0-9, '.', '-')",
                    s3.bucket
                ),
            ));
        }
        Ok(())
    }

    fn validate_operations(&self) -> Result<(), ConfigError> {
        let limits = &self.config.ratelimit;
        for (key, value) in [
            ("ratelimit.requests_per_minute", limits.requests_per_minute),
            ("ratelimit.burst", limits.burst),
            (
                "ratelimit.failed_auth_per_minute",
                limits.failed_auth_per_minute,
            ),
            ("ratelimit.failed_auth_burst", limits.failed_auth_burst),
        ] {
            if value == 0 {
                return Err(self.error_at(key, "must be at least 1"));
            }
        }
        if self.config.audit.flush_interval_ms == 0 {
            return Err(self.error_at("audit.flush_interval_ms", "must be at least 1"));
        }
        if let Some(upstream) = &self.config.upstream
            && !is_local_upstream(&upstream.url)
        {
            return Err(self.error_at(
                "upstream.url",
                "the upstream must be on this machine: http://127.0.0.1:PORT, http://[::1]:PORT \
                 or unix:/absolute/path",
            ));
        }
        if let Some(upstream) = &self.config.upstream {
            let public = self.resolve_public_url().ok();
            upstream
                .check(public.as_ref().and_then(Url::host_str))
                .map_err(|problem| self.error_at(problem.key, problem.message))?;
        }
        if let Some(metrics) = &self.config.metrics
            && !metrics.listen.ip().is_loopback()
        {
            return Err(self.error_at(
                "metrics.listen",
                "the unauthenticated metrics listener must be on loopback",
            ));
        }
        Ok(())
    }
}

impl LoadedConfig {
    fn validate_llm(&self) -> Result<(), ConfigError> {
        let llm = &self.config.llm;
        for (name, provider) in &llm.providers {
            let key = format!("llm.providers.{name}");
            if !is_provider_name(name) {
                return Err(self.error_at(&key, "provider names are a-z, 0-9, '-' and '_'"));
            }
            let url = Url::parse(&provider.base_url).map_err(|e| {
                self.error_at(&format!("{key}.base_url"), format!("not a URL: {e}"))
            })?;
            let loopback =
                url.host_str().is_some_and(is_loopback_host) || url.host_str() == Some("localhost");
            let allowed = url.scheme() == "https"
                || (url.scheme() == "http" && (loopback || self.config.dangerous.llm_allow_http));
            if !allowed {
                return Err(self.error_at(
                    &format!("{key}.base_url"),
                    "the provider must be https:// (http only on loopback, or with [dangerous] llm_allow_http)",
                ));
            }
        }
        for (i, entry) in llm.chain.iter().enumerate() {
            let key = format!("llm.chain[{i}]");
            // Parsed as `up` will parse it, so a model name it would refuse
            // (a space, say) is found here.
            let model = ModelRef::parse(entry).ok();
            match model.as_ref().map(ModelRef::provider) {
                Some(provider) if llm.providers.contains_key(provider) => {}
                Some(provider) => {
                    return Err(self.error_at(
                        &key,
                        format!("{entry:?} names provider {provider:?}, which has no [llm.providers.{provider}] table"),
                    ));
                }
                _ => return Err(self.error_at(&key, format!("{entry:?} is not provider/model"))),
            }
        }
        for (i, price) in llm.prices.iter().enumerate() {
            let valid = |value: f64| value.is_finite() && value >= 0.0;
            if ModelRef::parse(&price.model).is_err()
                || !valid(price.input_per_mtok)
                || !valid(price.output_per_mtok)
            {
                return Err(self.error_at(
                    &format!("llm.prices[{i}]"),
                    "a price is a provider/model and non-negative USD per million tokens",
                ));
            }
        }
        if let Some(cap) = llm.monthly_cap_usd
            && !(cap.is_finite() && cap > 0.0)
        {
            return Err(self.error_at(
                "llm.monthly_cap_usd",
                "the cap must be a positive number of dollars",
            ));
        }
        let agent = &self.config.agent;
        for (key, value) in [
            ("agent.max_steps", u64::from(agent.max_steps)),
            ("agent.turn_timeout_secs", agent.turn_timeout_secs),
            ("agent.max_message_bytes", agent.max_message_bytes as u64),
            ("agent.max_tokens", u64::from(agent.max_tokens)),
        ] {
            if value == 0 {
                return Err(self.error_at(key, "must be at least 1"));
            }
        }
        Ok(())
    }
}

/// A program as a command names it: a plain name looked up on PATH, or an
/// absolute path; nothing a shell would expand or split. `[exec] allow` is
/// checked with it, and the edge's vetting of commands uses the same test.
pub fn is_program_name(text: &str) -> bool {
    let name_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-');
    let plain =
        |part: &str| !part.is_empty() && part != "." && part != ".." && part.bytes().all(name_byte);
    match text.strip_prefix('/') {
        Some(path) => path.split('/').all(plain),
        None => plain(text) && !text.starts_with('-'),
    }
}

fn is_provider_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_local_host(host: &str) -> bool {
    host == "localhost" || is_loopback_host(host)
}

fn is_local_upstream(text: &str) -> bool {
    if let Some(path) = text.strip_prefix("unix:") {
        return path.starts_with('/');
    }
    match Url::parse(text) {
        Ok(url) => {
            url.scheme() == "http"
                && url.host_str().is_some_and(is_loopback_host)
                && url.port().is_some()
                && url.path() == "/"
        }
        Err(_) => false,
    }
}

fn is_valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}
