//! Between the edge and one module's host process (`hardshell-module-host`,
//! in the module's shell): what the process is started with ([`HostStart`],
//! its one argument, as JSON), then JSON lines on its standard streams.
//! The process first writes [`MODULE_HOST_READY`] once its component is
//! compiled; then one [`ModuleCall`] in, one [`ModuleAnswer`] out, in turn.
//! JSON escapes every newline inside a string, so a line is exactly one
//! message; each side reads a line bounded by the `MAX_*` here and refuses a
//! longer one.
//!
//! The host process may be hostile (a module that escaped wasmtime runs
//! it): the edge reads its answer as untrusted text, bounded, and keeps of
//! a failure only its closed [`ModuleFailure`] for the audit log.
//!
//! This is a crate of its own, not a part of `hardshell-protocol`, because
//! the module host is a program of its own: it links wasmtime and Cranelift,
//! which the edge, the shells' init and the agent never load, and whatever
//! it shares with them it compiles again. This crate is what they share.

use std::net::SocketAddr;
use std::path::PathBuf;

use hardshell_vocabulary::Host;
use serde::{Deserialize, Serialize};

/// The host process's first line: its component is compiled, and calls
/// are timed from here.
pub const MODULE_HOST_READY: &[u8] = b"ready\n";

/// Longest tool name, in bytes.
pub const MAX_MODULE_TOOL_BYTES: usize = 64;
/// Longest arguments (a JSON object's text), in bytes.
pub const MAX_MODULE_ARGUMENTS_BYTES: usize = 256 * 1024;
/// Longest call line the host process reads.
pub const MAX_MODULE_CALL_LINE_BYTES: usize = 2 * MAX_MODULE_ARGUMENTS_BYTES;
/// Longest answer text the host process passes on (the module host's own
/// bound on what a module answers).
pub const MAX_MODULE_ANSWER_BYTES: usize = 1 << 20;
/// Longest answer line the edge reads: the text, escaped.
pub const MAX_MODULE_ANSWER_LINE_BYTES: usize = 6 * MAX_MODULE_ANSWER_BYTES + 1024;
/// Longest [`HostStart`] argument the host process reads, in bytes: the
/// grants of 32 hosts with their path prefixes fit many times over.
pub const MAX_HOST_START_BYTES: usize = 64 * 1024;

/// Where a module's shell has the conversation's workspace, when the module
/// is granted it (the module itself sees it as `/workspace`). Not the
/// shell's own `/workspace`, which is always read-write to the shell and
/// stays an empty directory of root's in a module's shell.
pub const CONVERSATION_WORKSPACE: &str = "/conversation";

/// What the host process is started with: its one argument, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostStart {
    /// The module's component, as its shell sees it.
    pub component: PathBuf,
    /// The forwarder to the module's broker, on the shell's loopback.
    pub proxy: SocketAddr,
    /// What the owner accepted for the module.
    pub grants: ModuleGrants,
}

/// The capabilities accepted for one module, as its host applies them.
/// Anything not written here does not exist for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleGrants {
    /// Where its outgoing HTTP requests may go; empty: nowhere.
    pub hosts: Vec<HostGrant>,
    /// Besides `hosts`: `GET` and `HEAD` of any host on its scheme's default
    /// port, the broker deciding every address a name resolves to (never an
    /// internal one), no secret swapped in.
    #[serde(default)]
    pub public_web: bool,
    /// Its view of the conversation's workspace (at `/workspace` in its
    /// shell), if any.
    pub workspace: WorkspaceGrant,
    /// Linear memory (all memories together) a call may hold, in MiB.
    pub memory_mb: u32,
    /// Wall-clock time a call may take, compute and waiting alike.
    pub timeout_ms: u64,
}

/// One destination a module may send HTTP requests to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostGrant {
    /// `http` or `https`.
    pub scheme: String,
    /// An exact host name (no wildcards), as the modules crate and the
    /// broker name hosts: lower case, without a trailing dot.
    #[serde(with = "host_name")]
    pub host: Host,
    /// The port; requests without one use the scheme's default.
    pub port: u16,
    /// Methods allowed (upper case, e.g. `GET`); `None`: any method a
    /// manifest can name.
    pub methods: Option<Vec<String>>,
    /// Paths allowed: this path, or below it when it ends with `/`, or below
    /// it as a whole segment otherwise; `None`: any path.
    pub path_prefix: Option<String>,
}

/// What a module may do with the conversation's workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceGrant {
    /// No `/workspace` at all.
    None,
    Read,
    Write,
}

/// One tool call, as the host process is given it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleCall {
    pub tool: String,
    /// The arguments, as JSON text (an object).
    pub arguments: String,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModuleAnswer {
    /// The tool's answer, for the model.
    Answered { text: String },
    /// It failed: `message` is for the model (it may hold the module's own
    /// words), `failure` for the audit log.
    Failed {
        failure: ModuleFailure,
        message: String,
    },
}

/// Why a call failed, as the audit log records it: a closed set, never the
/// module's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleFailure {
    /// It ran past its time limit.
    Timeout,
    /// It needed more than its memory limit.
    Memory,
    /// It made a request it was not granted.
    Denied,
    /// It crashed (a trap).
    Trap,
    /// The tool answered with an error of its own.
    Tool,
    /// Its answer was over the limit.
    TooLarge,
    /// The call could not be made: no such tool, arguments too long, the
    /// host could not apply the grants, or the host process failed.
    Refused,
}

impl ModuleFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleFailure::Timeout => "timeout",
            ModuleFailure::Memory => "memory",
            ModuleFailure::Denied => "denied",
            ModuleFailure::Trap => "trap",
            ModuleFailure::Tool => "tool",
            ModuleFailure::TooLarge => "too_large",
            ModuleFailure::Refused => "refused",
        }
    }
}

/// A [`Host`] written as its name, and parsed (so checked) again when read.
mod host_name {
    use hardshell_vocabulary::Host;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(host: &Host, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(host.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Host, D::Error> {
        let name = String::deserialize(d)?;
        Host::parse(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` reads as a `T` and writes back exactly as it was.
    fn pinned<T: Serialize + serde::de::DeserializeOwned>(text: &str) {
        let value: T = serde_json::from_str(text).expect("it reads");
        assert_eq!(serde_json::to_string(&value).expect("it writes"), text);
    }

    #[test]
    fn module_lines_keep_their_wire_shape() {
        pinned::<ModuleCall>(r#"{"tool":"search","arguments":"{\"q\":\"rust\"}"}"#);
        pinned::<ModuleAnswer>(r#"{"status":"answered","text":"three results"}"#);
        pinned::<ModuleAnswer>(
            r#"{"status":"failed","failure":"timeout","message":"ran past 5000 ms"}"#,
        );
        let extra = r#"{"tool":"search","arguments":"{}","workspace":"/etc"}"#;
        assert!(serde_json::from_str::<ModuleCall>(extra).is_err());
    }

    #[test]
    fn the_start_argument_keeps_its_wire_shape_and_checks_its_hosts() {
        pinned::<HostStart>(
            r#"{"component":"/module/module.wasm","proxy":"127.0.0.1:3128","grants":{"hosts":[{"scheme":"https","host":"api.search.example","port":443,"methods":["GET"],"path_prefix":"/v1/"}],"public_web":false,"workspace":"read","memory_mb":64,"timeout_ms":5000}}"#,
        );
        let odd_host =
            r#"{"scheme":"https","host":"Evil Host","port":443,"methods":null,"path_prefix":null}"#;
        assert!(serde_json::from_str::<HostGrant>(odd_host).is_err());
        let extra = r#"{"hosts":[],"workspace":"none","memory_mb":1,"timeout_ms":1,"env":{}}"#;
        assert!(serde_json::from_str::<ModuleGrants>(extra).is_err());
    }

    #[test]
    fn every_failure_keeps_its_name() {
        for failure in [
            ModuleFailure::Timeout,
            ModuleFailure::Memory,
            ModuleFailure::Denied,
            ModuleFailure::Trap,
            ModuleFailure::Tool,
            ModuleFailure::TooLarge,
            ModuleFailure::Refused,
        ] {
            let text = format!("\"{}\"", failure.as_str());
            assert_eq!(serde_json::to_string(&failure).expect("it writes"), text);
        }
    }
}
