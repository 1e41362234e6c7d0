//! What the owner did with modules: added, updated, removed, and what was
//! refused and why; and each call of a module's tool, with how it ended. A module by its name (or the name a refused package
//! claims), its package's SHA-256 and its signing key's id: never a file's
//! content, a tool's arguments or a manifest's free text.

use hardshell_vocabulary::{Digest, ModuleName};
use serde::{Deserialize, Serialize};

/// A module was accepted and locked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleAdded {
    pub module: ModuleName,
    /// The accepted package's `sha256:…`.
    pub package: Digest,
    /// The minisign key id that signed it (16 hex digits).
    pub key_id: String,
    pub official: bool,
    /// `None` for the command line on the host.
    pub actor: Option<String>,
}

/// A locked module was replaced by another package the owner accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleUpdated {
    pub module: ModuleName,
    /// The package it replaced.
    pub previous: Digest,
    pub package: Digest,
    pub key_id: String,
    /// Whether the update asked for more than was accepted before.
    pub widened: bool,
    pub actor: Option<String>,
}

/// A module was taken out of the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleRemoved {
    pub module: ModuleName,
    pub package: Digest,
    pub actor: Option<String>,
}

/// A package was refused (on add, update, verify or load).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleRefused {
    /// The name its manifest claims, when it has one that follows the
    /// rule; unverified when the refusal came before the signature held.
    pub module: Option<ModuleName>,
    /// The package's `sha256:…`, when it was read.
    pub package: Option<Digest>,
    pub reason: ModuleRefusal,
    pub actor: Option<String>,
}

/// Why a module package was refused: a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleRefusal {
    /// The archive, an entry or a file is over its limit.
    Oversized,
    /// Not a readable archive, or no `module.toml`.
    Archive,
    /// An entry that is not a regular file, or a name that could mean
    /// another place, or one name twice.
    EntryRefused,
    /// No signature.
    Unsigned,
    /// Signed by a key not in `[modules] trusted_keys`.
    UnknownKey,
    /// A trusted key's signature that does not match the manifest.
    BadSignature,
    /// A manifest that breaks its rules.
    Manifest,
    /// A file not listed, or listed and missing.
    FilesNotListed,
    /// A file whose digest is not the listed one.
    FileDigest,
    /// Signed by a key not marked official, with `allow_unofficial` off.
    Unofficial,
    /// A name `[modules] allow` does not list.
    NotAllowed,
    /// The owner did not accept it (said no, or no matching `--accept`).
    NotAccepted,
    /// An add of a name already added, an update of another name.
    Conflict,
    /// The stored package is not the locked one.
    PackageChanged,
    /// The package declares capabilities or tools other than accepted.
    CapabilitiesChanged,
    /// Signed by another key than accepted, or one no longer trusted.
    KeyChanged,
    /// A source this release cannot fetch from.
    Source,
}

/// The agent called a locked module's tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleCalled {
    pub module: ModuleName,
    /// The tool's name, as the lock has it (never the agent's text).
    pub tool: String,
    /// The locked package's `sha256:…`: what ran.
    pub package: Digest,
    pub session: String,
    /// As the module's host process reported it, but for a timeout and a
    /// process that failed, which the edge decides: a closed set, so a host
    /// that lies can name another outcome and nothing else.
    pub outcome: ModuleOutcome,
    pub duration_ms: u64,
}

/// How a module's tool call ended: a closed set, never the module's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleOutcome {
    /// The tool answered.
    Answered,
    /// It ran past its time limit.
    Timeout,
    /// It needed more than its memory limit.
    Memory,
    /// It made a request it was not granted.
    Denied,
    /// It crashed.
    Trap,
    /// The tool answered with an error of its own.
    Tool,
    /// Its answer was over the limit.
    TooLarge,
    /// The call was not made, or its host process failed.
    Refused,
}
