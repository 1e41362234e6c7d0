//! The typed configuration tree: what `hardshell.toml` may contain.
//!
//! Every struct rejects unknown keys, every field has a default that is safe, and
//! every setting that weakens security lives in [`Dangerous`].

use std::path::PathBuf;

use hardshell_vocabulary::Platform;
use serde::{Deserialize, Serialize};

mod access;
mod agent;
mod browser;
mod channels;
mod dangerous;
mod edge;
mod egress;
mod exec;
mod log;
mod modules;
mod operations;
mod shell;
mod storage;
mod workload;

pub use access::{Access, Cloudflare, Devices, Oidc, Passkey, Rule, RuleRole};
pub use agent::{Agent, Llm, Price, Provider, ProviderKind};
pub use browser::Browser;
pub use channels::{
    ApiRoot, Channels, Discord, DiscordCommand, DiscordPublicKey, MAX_CHANNEL_IDS, MAX_FILE_MB,
    PhoneNumberId, Slack, SlackChannel, SlackMode, SlashCommand, Telegram, TelegramMode, Unpaired,
    Whatsapp,
};
pub use dangerous::Dangerous;
pub use edge::{Acme, AcmeChallenge, Cidr, Edge, Tls};
pub use egress::{Egress, EgressRoute, SecretBinding};
pub use exec::{Approval, Exec, options_that_run_programs, runs_programs};
pub use log::{Log, LogFormat, LogLevel};
pub use modules::{Modules, TrustedKey};
pub(crate) use operations::is_dns_name;
pub use operations::{Audit, Metrics, RateLimit, Upstream};
pub use shell::Shell;
pub use storage::{S3, Storage, StorageBackend};
pub use workload::{EnvValue, PLACEHOLDER_PREFIX, RESERVED_ENV, Workload};

/// The whole `hardshell.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory for this machine's state: the master key file, the local object
    /// store and lock files. Relative paths are resolved against the directory that
    /// holds the config file.
    pub data_dir: PathBuf,
    /// File holding the master key (64 hex digits, mode 0600). Defaults to
    /// `<data_dir>/master.key`. The environment variable `HARDSHELL_MASTER_KEY`,
    /// when set, takes precedence over any file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key_file: Option<PathBuf>,
    /// The edge: the only process that listens on the network.
    pub edge: Edge,
    /// Who may reach the agent, and how they log in.
    pub access: Access,
    /// Request rate limits.
    pub ratelimit: RateLimit,
    /// The tamper-evident audit log.
    pub audit: Audit,
    /// The built-in agent.
    pub agent: Agent,
    /// Model providers, the fallback chain and spend limits.
    pub llm: Llm,
    /// The agent's `exec` tool and who approves its commands.
    pub exec: Exec,
    /// The sandbox of the workload and of every tool run.
    pub shell: Shell,
    /// Where code in exec shells may connect, and the secrets it may use there.
    pub egress: Egress,
    /// Headless Chromium for the agent's browser tool and the edge's `/cdp`.
    pub browser: Browser,
    /// The built-in agent on chat platforms, for senders the owner paired.
    pub channels: Channels,
    /// Signed module packages: whose keys, which names.
    pub modules: Modules,
    /// Where authorised chat traffic is proxied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Upstream>,
    /// A digest-pinned OCI image run in a shell in place of the built-in
    /// agent (OpenClaw, say); excludes `[upstream]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<Workload>,
    /// Prometheus metrics on a separate loopback listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    /// Where state lives.
    pub storage: Storage,
    /// Log output.
    pub log: Log,
    /// Settings that weaken security. Each one that is on logs a warning at start.
    pub dangerous: Dangerous,
}

impl Config {
    /// Whether `hardshell up` runs the built-in agent: `[agent] enabled`,
    /// unless `[upstream]` or `[workload]` names another workload. Decided
    /// here only; the wiring, the edge's chat routes and the agent's settings
    /// follow it.
    pub fn agent_runs(&self) -> bool {
        self.agent.enabled && self.upstream.is_none() && self.workload.is_none()
    }

    /// Whether the agent has its `exec` tool (and tool shells are started
    /// for it): the agent runs, and `[exec] approval` is not `"deny"`.
    pub fn exec_runs(&self) -> bool {
        self.agent_runs() && self.exec.approval != Approval::Deny
    }

    /// Whether browser sessions are offered (browser shells, the edge's
    /// `/cdp`, the agent's browser tool): `[browser] enabled`. Decided here
    /// only, so the pool, the route and the tool cannot disagree.
    pub fn browser_runs(&self) -> bool {
        self.browser.enabled
    }

    /// Whether the edge runs `platform`'s adapter (and, where it takes
    /// webhooks, serves its route): `[channels.<platform>] enabled`, with the
    /// built-in agent running (loading refuses an enabled channel without
    /// it; this holds the rule again for a config built in code). Decided
    /// here only, so the adapter, the route table and pairing cannot disagree.
    pub fn channel_runs(&self, platform: Platform) -> bool {
        self.agent_runs() && self.channels.enabled(platform)
    }

    /// Whether any channel runs: pairing, `hardshell pair` and the channels'
    /// start-up follow it.
    pub fn channels_run(&self) -> bool {
        Platform::ALL.into_iter().any(|p| self.channel_runs(p))
    }

    /// The platforms whose webhook route the edge serves: those that run
    /// and take webhooks ([`Channels::takes_webhooks`]).
    pub fn channel_webhooks(&self) -> Vec<Platform> {
        Platform::ALL
            .into_iter()
            .filter(|&p| self.channel_runs(p) && self.channels.takes_webhooks(p))
            .collect()
    }
}

/// The default listen address: loopback only, port 8787.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            master_key_file: None,
            edge: Edge::default(),
            access: Access::default(),
            ratelimit: RateLimit::default(),
            audit: Audit::default(),
            agent: Agent::default(),
            llm: Llm::default(),
            exec: Exec::default(),
            shell: Shell::default(),
            egress: Egress::default(),
            browser: Browser::default(),
            channels: Channels::default(),
            modules: Modules::default(),
            upstream: None,
            workload: None,
            metrics: None,
            storage: Storage::default(),
            log: Log::default(),
            dangerous: Dangerous::default(),
        }
    }
}
