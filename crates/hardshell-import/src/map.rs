//! Deciding where each key of the source goes: the [`Plan`] `render` writes.

use std::collections::BTreeMap;

use hardshell_config::advisories::{self, Verdict};
use hardshell_config::{ImageRef, RESERVED_ENV, looks_like_credential};

use crate::wrangler::Wrangler;
use crate::{ImportError, Note, Options, Outcome, known};

/// OpenClaw's gateway port, when the file names none.
pub(crate) const OPENCLAW_PORT: u16 = 18789;
/// Where OpenClaw keeps its state in the official image (user `node`).
pub(crate) const OPENCLAW_STATE_DIR: &str = "/home/node/.openclaw";
/// The header the edge fills for OpenClaw's trusted-proxy mode.
pub(crate) const OPENCLAW_USER_HEADER: &str = "X-Forwarded-User";
/// About what OpenClaw's gateway needs to start (measured: 0.8 GB).
const OPENCLAW_MIN_MEMORY_MB: u64 = 1024;

/// The R2 credentials' names in hardshell's secret store.
pub(crate) const R2_ACCESS_KEY_ID: &str = "R2_ACCESS_KEY_ID";
pub(crate) const R2_SECRET_ACCESS_KEY: &str = "R2_SECRET_ACCESS_KEY";

/// A secret the workload holds as a placeholder, and where it may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkloadSecret {
    pub(crate) name: String,
    pub(crate) hosts: Vec<String>,
}

/// An S3-compatible bucket on R2.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    pub(crate) name: String,
    pub(crate) endpoint: String,
}

#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) image: ImageRef,
    pub(crate) openclaw: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) memory_mb: Option<u64>,
    pub(crate) max_instances: Option<u32>,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) secrets: Vec<WorkloadSecret>,
    pub(crate) ratelimit: (Option<u32>, Option<u32>),
    pub(crate) storage: Option<Bucket>,
    pub(crate) audit: Option<Bucket>,
    pub(crate) models: Vec<String>,
    pub(crate) notes: Vec<Note>,
}

impl Plan {
    /// Every secret to put: the workload's, then the bucket's credentials.
    pub(crate) fn secret_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.secrets.iter().map(|s| s.name.clone()).collect();
        if self.storage.is_some() || self.audit.is_some() {
            names.push(R2_ACCESS_KEY_ID.to_owned());
            names.push(R2_SECRET_ACCESS_KEY.to_owned());
        }
        names
    }

    fn note(&mut self, from: &str, outcome: Outcome, text: impl Into<String>) {
        self.notes.push(Note {
            from: from.to_owned(),
            outcome,
            text: text.into(),
        });
    }

    fn add_secret(&mut self, from: &str, name: &str, hosts: Vec<String>) {
        if self.secrets.iter().any(|secret| secret.name == name) {
            return;
        }
        self.note(
            from,
            Outcome::Mapped,
            format!(
                "[workload.env] {name} = \"secret:{name}\" (the workload sees only \
                 hs-secret:{name}); the broker swaps it in only on the way to {}",
                hosts.join(", ")
            ),
        );
        self.secrets.push(WorkloadSecret {
            name: name.to_owned(),
            hosts,
        });
    }
}

pub(crate) fn plan(mut source: Wrangler, options: &Options) -> Result<Plan, ImportError> {
    let image = image(&source, options)?;
    let openclaw = !matches!(advisories::openclaw_verdict(&image), Verdict::NotOpenClaw);
    let host = options
        .host
        .clone()
        .or_else(|| source.route_host.clone())
        .unwrap_or_else(|| "openclaw.localhost".to_owned());
    if hardshell_vocabulary::Host::parse(&host).is_err() {
        return Err(ImportError::Host { host });
    }
    let mut plan = Plan {
        port: source.port.unwrap_or(OPENCLAW_PORT),
        image,
        openclaw,
        host,
        memory_mb: source.memory_mb,
        // hardshell runs one instance per machine (its state has one owner);
        // any other count is written as 1, and `note_process` says so.
        max_instances: source.max_instances.map(|_| 1),
        env: BTreeMap::new(),
        secrets: Vec::new(),
        ratelimit: (None, None),
        storage: None,
        audit: None,
        models: Vec::new(),
        notes: Vec::new(),
    };
    note_image(&mut plan, &source, options);
    let mut vars = std::mem::take(&mut source.vars);
    // A credential pasted into [vars] is never copied, echoed in the report
    // or in an error, whichever var it is in.
    vars.retain(|name, value| {
        let credential = looks_like_credential(value).is_some();
        if credential {
            plan.notes.push(Note {
                from: format!("vars.{name}"),
                outcome: Outcome::Warning,
                text: format!(
                    "looks like a credential, so it is not copied: store it with `hardshell \
                     secret put {name}` and pass --secret {name}=HOST"
                ),
            });
        }
        !credential
    });
    map_auth(&mut plan, &mut vars)?;
    map_ratelimit(&mut plan, &mut vars)?;
    map_models(&mut plan, &mut vars);
    map_other_vars(&mut plan, vars);
    for extra in &options.extra_secrets {
        let hosts = if extra.hosts.is_empty() {
            known::by_name(&extra.name)
                .map(|known| known.hosts.iter().map(|h| (*h).to_owned()).collect())
                .ok_or_else(|| ImportError::SecretHosts {
                    name: extra.name.clone(),
                })?
        } else {
            extra.hosts.clone()
        };
        plan.add_secret("--secret", &extra.name, hosts);
    }
    map_storage(&mut plan, &source);
    plan.note(
        "(access)",
        Outcome::Warning,
        "Cloudflare Access's policy is not in wrangler.toml: configure who may log in \
         ([access.cloudflare] to keep Access in front, or [access.passkey] / [access.oidc]) \
         and [edge] listen / public_url / tls before serving beyond loopback",
    );
    for key in &source.worker_keys {
        plan.note(
            key,
            Outcome::Reported,
            "configures the Worker; hardshell's edge takes its place",
        );
    }
    for key in &source.unknown {
        plan.note(
            key,
            Outcome::Reported,
            "not understood by the import; not mapped",
        );
    }
    Ok(plan)
}

fn image(source: &Wrangler, options: &Options) -> Result<ImageRef, ImportError> {
    let text = source.image.as_deref().ok_or(ImportError::NoImage)?;
    let last = text.rsplit('/').next().unwrap_or(text);
    if text.starts_with('.') || text.starts_with('/') || last.contains("Dockerfile") {
        return Err(ImportError::Dockerfile {
            image: text.to_owned(),
        });
    }
    let image = ImageRef::parse(text).map_err(|e| ImportError::Image {
        image: text.to_owned(),
        message: e.to_string(),
    })?;
    if image.digest().is_none() && !options.allow_unpinned {
        return Err(ImportError::Unpinned {
            image: text.to_owned(),
            fix: image.how_to_pin(),
        });
    }
    if let Verdict::Affected(version, found) = advisories::openclaw_verdict(&image) {
        return Err(ImportError::Vulnerable {
            message: advisories::describe_affected(version, &found),
        });
    }
    Ok(image)
}

fn note_image(plan: &mut Plan, source: &Wrangler, options: &Options) {
    let from = "containers.config.image";
    if plan.image.digest().is_some() {
        plan.note(
            from,
            Outcome::Mapped,
            format!(
                "[workload] image = {:?} (pinned by digest)",
                plan.image.to_string()
            ),
        );
    } else {
        plan.note(
            from,
            Outcome::Warning,
            format!(
                "[workload] image = {:?} NOT pinned (--allow-unpinned): [dangerous] unpinned_images = true written; {}",
                plan.image.to_string(),
                plan.image.how_to_pin()
            ),
        );
    }
    if plan.openclaw && advisories::openclaw_verdict(&plan.image) == Verdict::Unknown {
        plan.note(
            from,
            Outcome::Warning,
            format!(
                "its tag names no OpenClaw release, so whether it has the known \
                 remote-code-execution flaws cannot be told; make sure it is {} or later",
                advisories::openclaw_floor()
            ),
        );
    }
    let port_text = match source.port {
        Some(port) => format!("[workload] port = {port}"),
        None => format!(
            "[workload] port = {OPENCLAW_PORT} (OpenClaw's gateway port; the file names none)"
        ),
    };
    plan.note("containers.config.port", Outcome::Mapped, port_text);
    if let Some(memory) = source.memory_mb {
        if plan.openclaw && memory < OPENCLAW_MIN_MEMORY_MB {
            plan.note(
                "containers.config.memory_mb",
                Outcome::Warning,
                format!(
                    "[workload] memory_mb = {memory}: OpenClaw's gateway needs about 0.8 GB to \
                     start and would be killed; 2048 is safer"
                ),
            );
        } else {
            plan.note(
                "containers.config.memory_mb",
                Outcome::Mapped,
                format!("[workload] memory_mb = {memory}"),
            );
        }
    }
    match source.max_instances {
        Some(1) => plan.note(
            "containers.max_instances",
            Outcome::Mapped,
            "[workload] max_instances = 1",
        ),
        Some(max) => plan.note(
            "containers.max_instances",
            Outcome::Warning,
            format!(
                "[workload] max_instances = 1, not {max}: hardshell runs exactly one instance \
                 of the workload per machine, since its state has one owner at a time (the \
                 state lease); for another instance, run another hardshell machine on another \
                 bucket prefix ([storage] prefix)"
            ),
        ),
        None => {}
    }
    plan.note(
        "(routes)",
        Outcome::Warning,
        format!(
            "[workload] host = {:?}: the workload's own origin, beside the edge's; {}",
            plan.host,
            if options.host.is_some() {
                "as given with --host"
            } else if source.route_host.is_some() {
                "the Worker's route; point its DNS at this machine"
            } else {
                "set it to its own name (e.g. openclaw.<your edge's host>), or pass --host"
            }
        ),
    );
}

fn map_auth(plan: &mut Plan, vars: &mut BTreeMap<String, String>) -> Result<(), ImportError> {
    if let Some(value) = vars.remove("REQUIRE_AUTH") {
        if value.trim().eq_ignore_ascii_case("false") || value.trim() == "0" {
            return Err(ImportError::Weaker {
                key: "vars.REQUIRE_AUTH".into(),
                reason: "\"false\" would let anyone who finds the URL drive the agent; hardshell \
                         has no unauthenticated mode: every request passes the edge's access \
                         check. Remove it (or set \"true\") and import again"
                    .into(),
            });
        }
        plan.note(
            "vars.REQUIRE_AUTH",
            Outcome::Reported,
            "hardshell's only mode: every route is behind the edge's access check ([access])",
        );
    }
    if let Some(route) = vars.remove("PAIRING_ROUTE") {
        plan.note(
            "vars.PAIRING_ROUTE",
            Outcome::Reported,
            format!("{route} is behind the edge like every route of the workload: reached only after login"),
        );
    }
    Ok(())
}

fn map_ratelimit(plan: &mut Plan, vars: &mut BTreeMap<String, String>) -> Result<(), ImportError> {
    for (name, key) in [
        ("RATE_LIMIT_RPM", "requests_per_minute"),
        ("RATE_LIMIT_BURST", "burst"),
    ] {
        let Some(value) = vars.remove(name) else {
            continue;
        };
        let number: u32 = value
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ImportError::Shape {
                key: format!("vars.{name}"),
                message: "expected a whole number of at least 1".into(),
            })?;
        if name == "RATE_LIMIT_RPM" {
            plan.ratelimit.0 = Some(number);
        } else {
            plan.ratelimit.1 = Some(number);
        }
        plan.note(
            &format!("vars.{name}"),
            Outcome::Mapped,
            format!("[ratelimit] {key} = {number}"),
        );
    }
    Ok(())
}

fn map_models(plan: &mut Plan, vars: &mut BTreeMap<String, String>) {
    for (provider_var, model_var) in [
        ("LLM_PROVIDER", "LLM_MODEL"),
        ("LLM_FALLBACK_PROVIDER", "LLM_FALLBACK_MODEL"),
    ] {
        let provider = vars.remove(provider_var);
        let model = vars.remove(model_var);
        let from = format!("vars.{provider_var}");
        if let Some(provider) = &provider {
            match known::provider(provider) {
                Some(secret) => {
                    let hosts = secret.hosts.iter().map(|h| (*h).to_owned()).collect();
                    plan.add_secret(&from, secret.name, hosts);
                }
                None => plan.note(
                    &from,
                    Outcome::Warning,
                    format!(
                        "provider {provider:?} is not one the import knows ({}): its key is not \
                         mapped; name it with --secret NAME=HOST",
                        known::provider_ids().join(", ")
                    ),
                ),
            }
        }
        if let Some(model) = model {
            let reference = match &provider {
                Some(provider) => format!("{}/{model}", provider.trim().to_ascii_lowercase()),
                None => model,
            };
            plan.note(
                &format!("vars.{model_var}"),
                Outcome::Reported,
                format!(
                    "OpenClaw's own config chooses its model: {reference} (see the settings below)"
                ),
            );
            plan.models.push(reference);
        }
    }
}

fn map_other_vars(plan: &mut Plan, vars: BTreeMap<String, String>) {
    for (name, value) in vars {
        let from = format!("vars.{name}");
        match name.as_str() {
            "MOLTHUB_ALLOWLIST" | "MOLTHUB_ALLOW_UNOFFICIAL" => {
                plan.note(
                    &from,
                    Outcome::Warning,
                    format!(
                        "NOT enforced by hardshell yet (modules are a later issue); passed to \
                         the workload's environment as [workload.env] {name}"
                    ),
                );
                plan.env.insert(name, value);
            }
            "BROWSER_MODE" | "CDP_ENDPOINT" => plan.note(
                &from,
                Outcome::Reported,
                "Cloudflare's Browser Rendering has no counterpart yet (hardshell's browser is a \
                 later issue); not passed",
            ),
            _ if RESERVED_ENV.contains(&name.to_ascii_uppercase().as_str()) => plan.note(
                &from,
                Outcome::Reported,
                "hardshell sets this itself (the shell's way out through the broker); not passed",
            ),
            _ if name.is_empty()
                || name.contains('=')
                || !name.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                plan.note(&from, Outcome::Reported, "not a variable name; not passed");
            }
            _ => {
                plan.note(
                    &from,
                    Outcome::Mapped,
                    format!("[workload.env] {name} (as Moltworker passes vars)"),
                );
                plan.env.insert(name, value);
            }
        }
    }
}

fn map_storage(plan: &mut Plan, source: &Wrangler) {
    let endpoint = match &source.account_id {
        Some(account) => format!("https://{account}.r2.cloudflarestorage.com"),
        None => "https://ACCOUNT_ID.r2.cloudflarestorage.com".to_owned(),
    };
    let fill_in = if source.account_id.is_some() {
        String::new()
    } else {
        "; replace ACCOUNT_ID in its endpoint with your Cloudflare account id".to_owned()
    };
    for (i, bucket) in source.r2_buckets.iter().enumerate() {
        let from = format!("r2_buckets[{i}]");
        if plan.storage.is_none() {
            plan.note(
                &from,
                Outcome::Warning,
                format!(
                    "[storage] backend = \"s3\" with bucket {:?} (binding {}), encrypted before \
                     it is stored; needs an R2 API token's {R2_ACCESS_KEY_ID} and \
                     {R2_SECRET_ACCESS_KEY}{fill_in}",
                    bucket.bucket_name,
                    bucket.binding.as_deref().unwrap_or("unnamed")
                ),
            );
            plan.storage = Some(Bucket {
                name: bucket.bucket_name.clone(),
                endpoint: endpoint.clone(),
            });
        } else {
            plan.note(
                &from,
                Outcome::Reported,
                "a second bucket: hardshell keeps state in one; not mapped",
            );
        }
    }
    if plan.openclaw {
        let text = if plan.storage.is_some() {
            format!(
                "[workload] state_dir = {OPENCLAW_STATE_DIR:?}, kept in [storage] (Moltworker mapped its bucket there)"
            )
        } else {
            format!("[workload] state_dir = {OPENCLAW_STATE_DIR:?}, kept in [storage]")
        };
        plan.note("(state)", Outcome::Mapped, text);
    }
    if let Some(logpush) = &source.logpush {
        let bucket = logpush
            .destination
            .as_deref()
            .and_then(|d| d.strip_prefix("r2://"))
            .map(|b| b.trim_end_matches('/'))
            .filter(|b| !b.is_empty() && !b.contains('/'));
        match (logpush.enabled, bucket) {
            (true, Some(bucket)) => {
                plan.note(
                    "logpush",
                    Outcome::Mapped,
                    format!(
                        "[audit.s3] bucket {bucket:?}: hardshell's tamper-evident audit log \
                         (always on) is written there{fill_in}"
                    ),
                );
                plan.audit = Some(Bucket {
                    name: bucket.to_owned(),
                    endpoint: endpoint.clone(),
                });
            }
            _ => plan.note(
                "logpush",
                Outcome::Reported,
                "hardshell's tamper-evident audit log is always on, in the state store ([audit])",
            ),
        }
    }
    if source.browser {
        plan.note(
            "browser",
            Outcome::Reported,
            "Cloudflare's Browser Rendering binding has no counterpart yet: hardshell's browser is a later issue",
        );
    }
}
