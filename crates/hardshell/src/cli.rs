//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A self-hosted personal AI agent that is safe to put on the internet.
///
/// Start with `hardshell init`, then `hardshell up`.
#[derive(Debug, Parser)]
#[command(
    name = "hardshell",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The configuration file [default: ./hardshell.toml; for `init DIR`, DIR/hardshell.toml].
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "HARDSHELL_CONFIG",
        value_name = "PATH"
    )]
    pub config: Option<PathBuf>,

    /// Read the master key from this file instead of the one the config names.
    /// HARDSHELL_MASTER_KEY (64 hex digits), when set, takes precedence over both.
    #[arg(
        long,
        global = true,
        env = "HARDSHELL_MASTER_KEY_FILE",
        value_name = "PATH"
    )]
    pub master_key_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented hardshell.toml and a data directory with a new master key.
    Init(InitArgs),
    /// Check the configuration, the master key and the storage it points at.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage secrets: API keys and credentials, stored encrypted, never shown.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Start the edge and serve until SIGINT or SIGTERM.
    Up,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to initialise; the config file goes there unless --config names one.
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate hardshell.toml, load the master key and reach the storage.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store a secret. Prompts without echo on a terminal; reads standard input
    /// when it is piped (one trailing newline is dropped).
    Put {
        /// Upper-case name, e.g. ANTHROPIC_API_KEY.
        name: String,
    },
    /// List secret names with their creation and update times (never values).
    List,
    /// Delete a secret.
    Rm {
        /// The secret's name.
        name: String,
    },
}
