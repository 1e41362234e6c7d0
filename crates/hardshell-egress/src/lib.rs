//! hardshell's egress: how every shell reaches the outside, from the config
//! to the broker that enforces it. `[egress]` becomes the exec shells'
//! broker policy, bindings and leak scan ([`exec_broker`]); `[llm]` becomes
//! the model gateway ([`LlmGateway`]): the agent shell's broker routes, their
//! tap (the spend cap and the usage meter), and the chain entries the agent
//! is given ([`agent_settings`]).
//!
//! Invariants: a credential the config names is read only through
//! [`Credentials`], and the leak scan is made by consuming it
//! ([`Credentials::scanner`]), so none can be resolved after the scan exists
//! and escape it; a provider's key goes from its reference in the config to
//! the broker's secret lookup without leaving this crate, and the agent
//! holds only its placeholder; every broker decision is recorded in the
//! audit log it is given at construction.
#![forbid(unsafe_code)]

mod bound;
mod brokers;
mod browser;
mod config;
mod credentials;
mod models;
mod module;
mod stored;

use std::path::PathBuf;

pub use bound::BoundValues;
pub use brokers::{exec_broker, model_broker, serve_model_broker};
pub use browser::{BrowserEgress, browser_broker};
pub use config::{agent_settings, browser_settings, gateway, ledger};
pub use credentials::Credentials;
pub use models::{AgentProvider, LlmGateway, LlmGatewayError, ProviderRoute};
pub use module::{ModuleEgress, module_broker};
pub use stored::{StoredSecrets, StoredSecretsError};

/// Why the egress could not be set up. Messages are those `hardshell up`
/// has always shown (hence "edge setup" on the broker's steps).
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// A value of the config, located in its file.
    #[error(transparent)]
    Config(#[from] hardshell_config::ConfigError),
    /// Reading a secret the config names from the store.
    #[error(transparent)]
    ReadSecret(#[from] hardshell_secrets::SecretsError),
    /// Where the usage ledger is kept.
    #[error(transparent)]
    LedgerScope(#[from] hardshell_storage::StorageError),
    #[error(transparent)]
    LedgerKey(#[from] hardshell_storage::KeyError),
    #[error("building the model gateway")]
    BuildGateway(#[source] LlmGatewayError),
    #[error("edge setup: {0}")]
    ModelRoutes(LlmGatewayError),
    #[error("edge setup: the broker's TLS roots: {0}")]
    TlsRoots(rustls::Error),
    #[error("edge setup: {}: {error}", socket.display())]
    BindBroker {
        socket: PathBuf,
        error: std::io::Error,
    },
    /// A module's accepted host that the broker cannot route to.
    #[error("a module's host {host:?} cannot be a broker route: {detail}")]
    ModuleHost { host: String, detail: String },
}
