//! hardshell's configuration: one typed tree loaded from `hardshell.toml`.
//!
//! Invariants: unknown keys are rejected; every error names the file, the line and
//! the key; credentials are referred to by name and never accepted inline; every
//! setting that weakens security sits under `[dangerous]`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod advisories;
pub mod edit;
mod inline_secret;
mod load;
mod model;
mod secret_ref;

pub use hardshell_vocabulary::HostPattern;
// `[modules] allow`: the rule a package's manifest is held to.
pub use hardshell_vocabulary::ModuleName;
// `[workload] image`: the grammar `hardshell image pull` uses, so `config
// check` refuses exactly what a pull would.
pub use hardshell_vocabulary::{Digest, DigestError, ImageRef, ImageRefError, ImageSource};
// The headers the edge owns: its proxy scrubs with them, the config refuses
// them as an identity header.
pub use hardshell_vocabulary::headers::{
    HOP_BY_HOP, STRIPPED_FROM_CLIENT, is_edge_owned as is_edge_owned_header,
};
pub use inline_secret::looks_like_credential;
pub use load::{ConfigError, LoadedConfig, is_program_name};
pub use model::{
    Access, Acme, AcmeChallenge, Agent, ApiRoot, Approval, Audit, Browser, Channels, Cidr,
    Cloudflare, Config, DEFAULT_LISTEN, Dangerous, Devices, Discord, DiscordCommand,
    DiscordPublicKey, Edge, Egress, EgressRoute, EnvValue, Exec, Llm, Log, LogFormat, LogLevel,
    MAX_CHANNEL_IDS, MAX_FILE_MB, Metrics, Modules, Oidc, PLACEHOLDER_PREFIX, Passkey,
    PhoneNumberId, Price, Provider, ProviderKind, RESERVED_ENV, RateLimit, Rule, RuleRole, S3,
    SecretBinding, Shell, Slack, SlackChannel, SlackMode, SlashCommand, Storage, StorageBackend,
    Telegram, TelegramMode, Tls, TrustedKey, Unpaired, Upstream, Whatsapp, Workload,
    options_that_run_programs, runs_programs,
};
pub use secret_ref::{SecretRef, SecretRefError};

/// The commented `hardshell.toml` that `hardshell init` writes. It parses to
/// [`Config::default`], which a test keeps true.
pub const TEMPLATE: &str = include_str!("template.toml");

#[cfg(test)]
mod tests;
