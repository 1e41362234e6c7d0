//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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

#[derive(Debug, Clone, Args)]
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
    /// API tokens for the CLI and programs: shown once, stored hashed, expiring.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Pair chat-platform senders (Telegram, Slack, Discord, WhatsApp) with
    /// the agent: approve a code a sender was given, list, revoke.
    #[command(subcommand)]
    Pair(PairCommand),
    /// Signed modules that add tools to the built-in agent: add (review,
    /// accept, lock), ls, rm, verify, update.
    #[command(subcommand)]
    Module(ModuleCommand),
    /// Device certificates (mTLS posture) from the edge's own CA.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// The egress broker's CA, which exec shells trust for inspected HTTPS.
    #[command(subcommand)]
    Egress(EgressCommand),
    /// Talk to the agent from a terminal (needs an API token of scope chat).
    Chat(ChatArgs),
    /// This month's model usage and spend, by provider and model.
    Usage,
    /// Read and edit the agent's memory notes (plain markdown).
    #[command(subcommand)]
    Memory(MemoryCommand),
    /// OCI images for workloads: pull (every byte checked against its digest),
    /// list, verify, prune.
    #[command(subcommand)]
    Image(ImageCommand),
    /// The tamper-evident audit log: verify it, or read it.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// One encrypted archive of the storage, the secrets and the audit logs
    /// (the master key only when asked, wrapped by a passphrase), and back.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// A workload's state directory in the object store: generations,
    /// snapshots, the lease.
    #[command(subcommand)]
    State(StateCommand),
    /// Check this deployment and say what to fix: exposure, dangerous
    /// settings, file modes, the kernel's layers, certificates, tokens, the
    /// audit logs. Exits non-zero on any high finding.
    Doctor(DoctorArgs),
    /// Start the edge and serve until SIGINT or SIGTERM.
    Up(UpArgs),
    /// Run hardshell as a systemd service: write the unit (hardened), or
    /// remove it.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Translate a Moltworker wrangler.toml into hardshell.toml, printing what
    /// went where and the `hardshell secret put` lines to run.
    Import(ImportArgs),
    /// Run the built-in agent (started by `up`; not for use by hand).
    #[command(hide = true)]
    Agent(AgentArgs),
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The report as JSON, for machines.
    #[arg(long)]
    pub json: bool,
    /// Also send one tiny request to each model of the chain (a paid
    /// provider bills it) and report those that do not answer.
    #[arg(long)]
    pub models: bool,
    /// Record that a copy of the master key is kept off this machine: doctor
    /// stops saying it is not, until the key changes.
    #[arg(long)]
    pub master_key_backed_up: bool,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The edge's control socket (storage, models, settings).
    #[arg(long)]
    pub control_socket: PathBuf,
    /// Where to listen for the edge, when not given a listening socket (in
    /// its shell, the edge passes one: `LISTEN_FDS=1`, descriptor 3).
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// The workspace with AGENTS.md, SOUL.md, USER.md, MEMORY.md.
    #[arg(long)]
    pub workspace: PathBuf,
    /// The edge's pid: the agent exits if its parent is not this process.
    #[arg(long)]
    pub parent_pid: Option<i32>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every record's hash chain, and say where it is broken.
    Verify {
        /// Only this log (default: every log in the audit store).
        #[arg(long)]
        log: Option<String>,
    },
    /// Print records as JSON lines.
    Tail {
        /// The log to read (default: this host's edge log, edge-<hostname>).
        #[arg(long)]
        log: Option<String>,
        /// Start at this sequence number.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Keep printing new records as they arrive.
        #[arg(long, short)]
        follow: bool,
    },
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The Moltworker wrangler.toml to read.
    #[arg(value_name = "WRANGLER_TOML")]
    pub file: PathBuf,
    /// Where to write the config.
    #[arg(long, value_name = "PATH", default_value = "hardshell.toml")]
    pub out: PathBuf,
    /// Replace --out if it exists.
    #[arg(long)]
    pub force: bool,
    /// Accept an image without a @sha256: digest, writing
    /// `[dangerous] unpinned_images = true` (the registry then decides what runs).
    #[arg(long)]
    pub allow_unpinned: bool,
    /// The workload's own host name, beside the edge's [default: openclaw.localhost].
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// A secret the workload uses beyond its model providers' keys, e.g.
    /// TELEGRAM_BOT_TOKEN, or NAME=HOST[,HOST] for one the import does not know.
    #[arg(long, value_name = "NAME[=HOSTS]")]
    pub secret: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to initialise; the config file goes there unless --config names one.
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Also look for a local OpenAI-compatible model server on this loopback
    /// port (Ollama's, llama.cpp's and LM Studio's usual ports are always looked at).
    #[arg(long = "local-model-port", value_name = "PORT")]
    pub local_model_ports: Vec<u16>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Check what `up` needs before it starts anything (the config, the
    /// master key, the stores, every credential it names, the certificate
    /// files) and exit: for ExecStartPre, or before a restart.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Write the systemd unit: Type=notify, `up --check` before each start,
    /// and the hardening that leaves the shells working.
    Install {
        /// Where unit files go.
        #[arg(long, default_value = "/etc/systemd/system")]
        unit_dir: PathBuf,
        /// The unit's name, without `.service`.
        #[arg(long, default_value = "hardshell")]
        name: String,
    },
    /// Remove the unit written by `install` (stopping and disabling it first
    /// when systemd runs here).
    Uninstall {
        #[arg(long, default_value = "/etc/systemd/system")]
        unit_dir: PathBuf,
        #[arg(long, default_value = "hardshell")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Write every object of the state store, the secret store and the audit
    /// bucket to FILE (made 0600, never over an existing file), each sealed
    /// under the master key. Stop `hardshell up` first for a consistent copy.
    Create {
        file: PathBuf,
        /// Put the master key in the archive too, wrapped by a passphrase
        /// (asked at the terminal, or one line of standard input).
        #[arg(long)]
        with_master_key: bool,
    },
    /// Restore FILE into this config's empty stores. Needs the master key it
    /// was made under: the key file or HARDSHELL_MASTER_KEY, or the archive's
    /// own copy and its passphrase (then written as the key file).
    Restore { file: PathBuf },
}

#[derive(Debug, Args)]
pub struct ConfigModelArgs {
    /// The model as provider/model, e.g. anthropic/claude-sonnet-4-5,
    /// openai/gpt-4o, ollama/llama3.2. It goes first in [llm] chain.
    pub model: String,
    /// The provider's base URL, for a provider hardshell does not know by name
    /// (anthropic, openai, ollama, llamacpp and lmstudio it does).
    #[arg(long)]
    pub base_url: Option<String>,
    /// The provider's API: anthropic or openai (the default for unknown names).
    #[arg(long)]
    pub kind: Option<String>,
    /// The secret holding the provider's API key (anthropic's and openai's
    /// are ANTHROPIC_API_KEY and OPENAI_API_KEY unless given).
    #[arg(long)]
    pub key_secret: Option<String>,
    /// The provider takes no API key.
    #[arg(long)]
    pub no_key: bool,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Pull an image into <data_dir>/images and print the digest it resolved to.
    Pull {
        /// `[registry/]repo[:tag]@sha256:…`, or `oci:/ABS/PATH[:tag]@sha256:…`
        /// for a local OCI layout. A reference without a digest is pulled, and
        /// its digest printed so it can be pinned.
        #[arg(value_name = "REF")]
        reference: String,
        /// A secret whose value is `user:password` for the registry.
        #[arg(long, value_name = "secret:NAME")]
        credential: Option<String>,
    },
    /// List pulled references and their digests.
    Ls,
    /// Re-hash every stored blob and check every unpacked root against its record.
    Verify,
    /// Remove blobs and roots no pulled reference keeps.
    Prune,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate hardshell.toml, load the master key and reach the storage.
    Check,
    /// Put a model first in the agent's chain, adding its provider if missing
    /// (the file keeps its comments, and is checked before it is replaced).
    Model(ConfigModelArgs),
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

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (once).
    Create {
        /// A label to recognise the token by, e.g. "laptop cli".
        #[arg(long)]
        name: String,
        /// What the token may do.
        #[arg(long, value_enum)]
        scope: TokenScopeArg,
        /// Lifetime, e.g. 90d, 12h, 30m (at most 366d).
        #[arg(long, default_value = "90d", value_parser = parse_lifetime)]
        expires_in: Lifetime,
    },
    /// List tokens: id, state, scope, expiry, name (never the token).
    List,
    /// Revoke a token by id.
    Revoke {
        /// The id shown by `token list`.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PairCommand {
    /// Paired senders and waiting requests (never their codes).
    Ls,
    /// Approve the request with this code: its sender talks to the agent
    /// from now on, as the role says.
    Approve {
        /// The code the sender was given, e.g. ABCD-EFGH (case and dashes do
        /// not matter).
        code: String,
        #[arg(long, value_enum)]
        role: PairRoleArg,
    },
    /// Pair a sender by its platform id without a code, e.g. your own
    /// account: telegram:123456789, slack:T0123:U0456, discord:80351110224678912,
    /// whatsapp:15551234567.
    Add {
        sender: String,
        #[arg(long, value_enum)]
        role: PairRoleArg,
    },
    /// End a sender's pairing (and any request of theirs).
    Revoke {
        /// As `pair ls` shows it, e.g. telegram:123456789.
        sender: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModuleCommand {
    /// Verify a signed module package, show who signed it and everything
    /// it may do, and lock it once you accept.
    Add {
        /// A package file on this machine, an https:// URL, or a package
        /// published to an OCI registry: oci://REGISTRY/REPOSITORY:TAG or
        /// oci://REGISTRY/REPOSITORY@sha256:DIGEST.
        source: String,
        /// Accept without asking: the sha256 of the exact package you
        /// reviewed, as `add` shows it. Needed without a terminal.
        #[arg(long, value_name = "SHA256")]
        accept: Option<String>,
        /// For an oci:// source: the registry's credential, secret:NAME (a
        /// secret whose value is user:password).
        #[arg(long, value_name = "secret:NAME")]
        credential: Option<String>,
        /// SOURCE is an OpenClaw skill (a folder with SKILL.md, or a
        /// .tar.gz/.tgz of one): show its files, scripts and install steps,
        /// and lock its exact files for the workload once you accept.
        #[arg(long)]
        openclaw: bool,
    },
    /// The accepted modules: name, version, publisher, key, package digest;
    /// then the accepted OpenClaw skills.
    Ls,
    /// Remove a module from the lock, and its stored package.
    Rm {
        name: String,
        /// NAME is a locked OpenClaw skill.
        #[arg(long)]
        openclaw: bool,
    },
    /// Check every locked module (or NAME) again: the stored bytes against
    /// the lock, the signature against [modules], every file's digest, and
    /// the capabilities against those accepted; without NAME, each locked
    /// OpenClaw skill's stored files against its digest too. Fails if any
    /// fails.
    Verify { name: Option<String> },
    /// Replace a locked module with a new package, after showing what its
    /// capabilities gain and lose; locks it once you accept.
    Update {
        name: String,
        /// A package file on this machine, an https:// URL, or oci://… as for `add`.
        source: String,
        /// Accept without asking: the sha256 of the exact package you reviewed.
        #[arg(long, value_name = "SHA256")]
        accept: Option<String>,
        /// For an oci:// source: the registry's credential, secret:NAME.
        #[arg(long, value_name = "secret:NAME")]
        credential: Option<String>,
    },
}

/// What a paired sender is.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PairRoleArg {
    /// One of your own accounts: it is you, the owner, with your sessions.
    Owner,
    /// Someone else: a principal of their own, chat only.
    Guest,
}

#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// List notes: name, size, title, tags.
    List,
    /// Print a note's markdown.
    Show {
        /// The note's name, as `memory list` shows it.
        name: String,
    },
    /// Edit a note (or start a new one) in $VISUAL or $EDITOR.
    Edit { name: String },
    /// Replace a note (or create one) with standard input.
    Write { name: String },
    /// Delete a note.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// The lease holder, the kept generations and the snapshots, with time,
    /// file count and size.
    Ls {
        /// The workload whose state to show.
        #[arg(long, default_value = "workload")]
        workload: String,
    },
    /// Name the current generation (cheap: it shares the stored files).
    Snapshot {
        /// A name of A-Z a-z 0-9 . _ - (not starting with '.').
        name: String,
        /// The workload whose state to snapshot.
        #[arg(long, default_value = "workload")]
        workload: String,
    },
    /// Make SNAPSHOT (default: the current generation) the current generation
    /// and the local copy. Refused while any sync holds the lease (stop
    /// `hardshell up` first); unsynced local changes are kept as a snapshot.
    Restore {
        /// The snapshot to restore, as `state ls` shows it.
        snapshot: Option<String>,
        /// The workload whose state to restore.
        #[arg(long, default_value = "workload")]
        workload: String,
        /// Host ids for the restored files [default: the state directory's owner].
        #[arg(long, value_name = "UID:GID", value_parser = crate::commands::state::parse_owner)]
        owner: Option<crate::commands::state::OwnerArg>,
    },
}

impl StateCommand {
    pub fn workload(&self) -> &str {
        match self {
            StateCommand::Ls { workload }
            | StateCommand::Snapshot { workload, .. }
            | StateCommand::Restore { workload, .. } => workload,
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TokenScopeArg {
    /// Talk to the agent.
    Chat,
    /// Also administer the instance.
    Admin,
    /// Drive a browser through the edge's /cdp (Playwright's connectOverCDP,
    /// OpenClaw), and nothing else.
    Browser,
}

#[derive(Debug, Clone, Copy)]
pub struct Lifetime(pub std::time::Duration);

/// Why a `--expires-in` value is not a lifetime.
#[derive(Debug, thiserror::Error)]
enum LifetimeError {
    #[error("{text:?}: expected a number and a unit, like 90d")]
    Number { text: String },
    #[error("{text:?}: the unit must be m, h, d or w")]
    Unit { text: String },
}

fn parse_lifetime(text: &str) -> Result<Lifetime, LifetimeError> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| LifetimeError::Number {
        text: text.to_owned(),
    })?;
    let seconds = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(LifetimeError::Unit {
                text: text.to_owned(),
            });
        }
    };
    Ok(Lifetime(std::time::Duration::from_secs(
        number.saturating_mul(seconds),
    )))
}

#[derive(Debug, Subcommand)]
pub enum EgressCommand {
    /// Print the egress CA's certificate (PEM, on standard output) for your
    /// own clients; made now if no edge has made it yet. Its key is never shown.
    Ca {
        #[command(subcommand)]
        action: Option<CaAction>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CaAction {
    /// Replace the egress CA with a new one (new key); a running edge takes it
    /// up within a second. Clients you gave the old certificate need the new one.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Issue a client certificate for a device and write it, with its key, to a directory.
    Issue {
        /// Lower-case name, e.g. "laptop".
        name: String,
        /// How long the certificate is valid, in days (at most 825).
        #[arg(long, default_value_t = 365)]
        days: u64,
        /// Directory for NAME.crt, NAME.key (0600) and the CA certificate.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// List issued certificates: name, state, serial, expiry.
    List,
    /// Revoke a device's certificate.
    Revoke {
        /// The device's name.
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The edge's URL [default: public_url from the config, else http://127.0.0.1:8787].
    #[arg(long)]
    pub url: Option<String>,
    /// A file holding the API token (or set HARDSHELL_TOKEN; else it is asked for).
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Continue this session instead of starting one.
    #[arg(long)]
    pub session: Option<String>,
    /// Send this one message, print the reply, and exit.
    #[arg(long, short)]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use clap::error::ErrorKind;

    use super::Cli;

    /// The config template tells people which commands to run; each must exist.
    #[test]
    fn every_command_the_config_template_names_exists() {
        let template = hardshell_config::TEMPLATE;
        let mut named = 0;
        for mention in template.split("`hardshell ").skip(1) {
            let command = mention.split('`').next().unwrap_or_default();
            let words = command.split_whitespace().filter(|word| {
                // Placeholders such as NAME stand for arguments, not subcommands.
                word.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            });
            let parsed = Cli::try_parse_from(std::iter::once("hardshell").chain(words));
            if let Err(e) = parsed {
                assert!(
                    !matches!(
                        e.kind(),
                        ErrorKind::InvalidSubcommand | ErrorKind::UnknownArgument
                    ),
                    "the template names `hardshell {command}`, which does not exist: {e}"
                );
            }
            named += 1;
        }
        assert!(named >= 5, "found only {named} commands in the template");
    }
}
