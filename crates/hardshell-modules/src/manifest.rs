//! `module.toml`: who made a module, what it adds (its tools), what it may
//! do (its capabilities) and the digest of every file it ships. Parsed
//! into types here, so a manifest that is accepted is one a runtime can
//! follow without checking it again; unknown keys are errors.
//!
//! ```toml
//! name = "web-search"
//! publisher = "hardshell"
//! version = "1.0.0"
//! description = "Searches the web."
//!
//! [[tools]]
//! name = "web_search"
//! description = "Search the web; returns titles and links."
//! parameters = { type = "object", properties = { query = { type = "string" } } }
//!
//! [capabilities]
//! hosts = [{ host = "api.search.example", methods = ["GET"], path_prefix = "/v1/" }]
//! secrets = [{ name = "SEARCH_API_KEY", host = "api.search.example" }]
//! workspace = "none"
//! memory_mb = 64
//! timeout_ms = 10000
//!
//! [files]
//! "module.wasm" = "sha256:…"
//! ```

use std::collections::{BTreeMap, BTreeSet};

use hardshell_vocabulary::{Digest, ModuleName};
use serde::{Deserialize, Serialize};

use crate::ModuleError;
use crate::capabilities::Capabilities;
use crate::error::shown;
use crate::package::{MANIFEST, PackagePath, SIGNATURE};

/// The file every package holds and the runtime instantiates.
pub const ENTRY_POINT: &str = "module.wasm";
/// Tools one module may add.
pub const MAX_TOOLS: usize = 32;
/// A tool's description and the module's, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 1024;
/// A tool's parameter schema, as JSON, in bytes.
pub const MAX_SCHEMA_BYTES: usize = 16 * 1024;
/// A publisher's name, in bytes.
pub const MAX_PUBLISHER_BYTES: usize = 128;

/// A parsed, checked `module.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: ModuleName,
    /// Who says they made it, in their words; the key that signed it is
    /// what proves anything.
    pub publisher: String,
    pub version: semver::Version,
    pub description: String,
    /// The tools the module adds to the agent.
    #[serde(default)]
    pub tools: Vec<Tool>,
    pub capabilities: Capabilities,
    /// Every file of the package but the manifest and its signature, by
    /// its SHA-256. The signature covers the manifest's exact bytes, so
    /// through these digests it covers every file, the wasm included.
    /// (ZeroClaw signs its manifest alone: its wasm can change under a
    /// valid signature. Here a changed byte anywhere is a refusal.)
    pub files: BTreeMap<PackagePath, Digest>,
}

/// A tool the module adds: what the model is shown of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// `a-z`, `0-9` and `_`, starting with a letter, at most 64: the name
    /// the model calls it by.
    pub name: String,
    pub description: String,
    /// The JSON schema of its arguments: an object, written in the
    /// manifest as an inline table or as a JSON string.
    #[serde(deserialize_with = "schema::deserialize")]
    pub parameters: serde_json::Value,
}

impl Manifest {
    /// Parses `module.toml`'s bytes and checks every rule a type does not
    /// already hold.
    pub fn parse(bytes: &[u8]) -> Result<Self, ModuleError> {
        let text = std::str::from_utf8(bytes).map_err(|_| refused("it is not UTF-8 text"))?;
        let manifest: Manifest = toml::from_str(text).map_err(|e| refused(e.message()))?;
        manifest.check()?;
        Ok(manifest)
    }

    fn check(&self) -> Result<(), ModuleError> {
        check_text("publisher", &self.publisher, MAX_PUBLISHER_BYTES)?;
        check_text("description", &self.description, MAX_DESCRIPTION_BYTES)?;
        if self.tools.len() > MAX_TOOLS {
            return Err(refused(&format!("more than {MAX_TOOLS} tools")));
        }
        let mut names = BTreeSet::new();
        for tool in &self.tools {
            tool.check()?;
            if !names.insert(tool.name.as_str()) {
                return Err(refused(&format!("tool {:?} is declared twice", tool.name)));
            }
        }
        self.capabilities
            .check()
            .map_err(|detail| refused(&detail))?;
        if !self.files.keys().any(|path| path.as_str() == ENTRY_POINT) {
            return Err(refused(&format!(
                "[files] must list {ENTRY_POINT}, the module's code"
            )));
        }
        if let Some(own) = self
            .files
            .keys()
            .find(|path| matches!(path.as_str(), MANIFEST | SIGNATURE))
        {
            return Err(refused(&format!(
                "[files] lists {own}, which cannot hold its own digest"
            )));
        }
        Ok(())
    }
}

impl Tool {
    fn check(&self) -> Result<(), ModuleError> {
        let good_name = matches!(self.name.as_bytes().first(), Some(b'a'..=b'z'))
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !good_name {
            return Err(refused(&format!(
                "tool name {:?}: use a-z, 0-9 and _, starting with a letter, at most 64",
                self.name.chars().take(80).collect::<String>()
            )));
        }
        check_text(
            "a tool's description",
            &self.description,
            MAX_DESCRIPTION_BYTES,
        )?;
        if !self.parameters.is_object() {
            return Err(refused(&format!(
                "tool {}: parameters must be a JSON schema object",
                self.name
            )));
        }
        let size = serde_json::to_vec(&self.parameters).map_or(usize::MAX, |json| json.len());
        if size > MAX_SCHEMA_BYTES {
            return Err(refused(&format!(
                "tool {}: parameters are over {MAX_SCHEMA_BYTES} bytes",
                self.name
            )));
        }
        Ok(())
    }
}

/// Text the owner is shown: bounded, and with no control or direction
/// characters that could rewrite what the terminal shows around it.
fn check_text(field: &str, text: &str, limit: usize) -> Result<(), ModuleError> {
    if text.trim().is_empty() || text.len() > limit {
        return Err(refused(&format!("{field} must be 1 to {limit} bytes")));
    }
    if text.chars().any(hardshell_audit::event::disturbs) {
        return Err(refused(&format!(
            "{field} holds control or text-direction characters"
        )));
    }
    Ok(())
}

/// A refusal whose detail may quote the manifest (serde names an unknown
/// key or variant as written).
fn refused(detail: &str) -> ModuleError {
    ModuleError::Manifest {
        detail: shown(detail, 300),
    }
}

/// A tool's `parameters`: an inline TOML table, or a JSON string (a schema
/// copied from elsewhere reads better as the JSON it was written in).
mod schema {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Json(String),
        Table(serde_json::Map<String, serde_json::Value>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<serde_json::Value, D::Error> {
        match Written::deserialize(d)? {
            Written::Table(table) => Ok(serde_json::Value::Object(table)),
            Written::Json(text) => {
                if text.len() > super::MAX_SCHEMA_BYTES {
                    return Err(serde::de::Error::custom("the schema is too long"));
                }
                serde_json::from_str(&text)
                    .map_err(|e| serde::de::Error::custom(format!("parameters is not JSON: {e}")))
            }
        }
    }
}
