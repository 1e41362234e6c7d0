//! Reading `hardshell.toml`: syntax, then credential scan, then types, then meaning.
//! Every error names the file, the line and column, and the dotted key.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use crate::inline_secret::looks_like_credential;
use crate::model::Config;

mod browser;
mod channels;
mod modules;
mod validate;
mod workload;

pub use validate::is_program_name;

/// Keys whose values look random but are public identifiers, not credentials:
/// Cloudflare Access's AUD tag is 64 hex digits and appears in every token; a
/// Discord application's public key is 64 hex digits too, public by design.
const PUBLIC_IDENTIFIERS: &[&str] = &["access.cloudflare.audience", "channels.discord.public_key"];

/// Larger configs are refused before parsing; a real one is a few kilobytes.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not an acceptable config.
    #[error("{}:{line}:{column}: {}{message}", path.display(), key.as_deref().map(|k| format!("`{k}`: ")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// The dotted key, e.g. `storage.s3.bucket`, when one is involved.
        key: Option<String>,
        /// What is wrong and, where there is one, what to do instead.
        message: String,
    },
}

/// A parsed config together with where it came from, so relative paths resolve
/// against its directory and later checks can still point at a line.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The typed config.
    pub config: Config,
    /// The file it was read from.
    pub path: PathBuf,
    /// The URL clients use to reach the edge (see `[edge] public_url`).
    pub public_url: url::Url,
    text: String,
    spans: Vec<KeySpan>,
}

#[derive(Debug, Clone)]
struct KeySpan {
    path: String,
    key: Range<usize>,
    value: Range<usize>,
}

impl LoadedConfig {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let read_err = |source| ConfigError::Read {
            path: path.to_owned(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read_err)?.len();
        if size > MAX_CONFIG_BYTES {
            return Err(read_err(std::io::Error::other(format!(
                "{size} bytes is over the {MAX_CONFIG_BYTES}-byte limit for a config file"
            ))));
        }
        let text = std::fs::read_to_string(path).map_err(read_err)?;
        Self::parse(&text, path)
    }

    /// The file's text, as it was read.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Checks `text` as if it had been read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut loaded = Self {
            config: Config::default(),
            path: path.to_owned(),
            public_url: url::Url::parse("http://localhost/").map_err(|e| ConfigError::Read {
                path: path.to_owned(),
                source: std::io::Error::other(e),
            })?,
            text: text.to_owned(),
            spans: Vec::new(),
        };
        let table = DeTable::parse(text).map_err(|e| loaded.toml_error(&e))?;
        index_spans(table.get_ref(), "", &mut loaded.spans);
        loaded.reject_inline_credentials(table.get_ref(), "")?;
        loaded.config = toml::from_str(text).map_err(|e| loaded.toml_error(&e))?;
        loaded.validate()?;
        loaded.public_url = loaded.resolve_public_url()?;
        Ok(loaded)
    }

    /// The directory relative paths in the config are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        }
    }

    /// `data_dir`, resolved.
    pub fn data_dir(&self) -> PathBuf {
        self.base_dir().join(&self.config.data_dir)
    }

    /// `master_key_file`, resolved, defaulting to `<data_dir>/master.key`.
    pub fn master_key_file(&self) -> PathBuf {
        match &self.config.master_key_file {
            Some(file) => self.base_dir().join(file),
            None => self.data_dir().join("master.key"),
        }
    }

    /// An error pointing at `key` (dotted, e.g. `storage.s3.prefix`), for checks made
    /// after loading by code that knows more than this crate (the storage layer, say).
    pub fn error_at(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let offset = self
            .spans
            .iter()
            .find(|span| span.path == key)
            .map(|span| span.value.start)
            .or_else(|| self.table_header_offset(key))
            .unwrap_or(0);
        self.invalid(offset, Some(key.to_owned()), message.into())
    }

    fn table_header_offset(&self, key: &str) -> Option<usize> {
        let mut parent = key;
        while let Some((head, _)) = parent.rsplit_once('.') {
            if let Some(span) = self.spans.iter().find(|span| span.path == head) {
                return Some(span.key.start);
            }
            parent = head;
        }
        None
    }

    fn invalid(&self, offset: usize, key: Option<String>, message: String) -> ConfigError {
        let (line, column) = line_column(&self.text, offset);
        ConfigError::Invalid {
            path: self.path.clone(),
            line,
            column,
            key,
            message,
        }
    }

    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let offset = e.span().map_or(0, |span| span.start);
        let key = self.key_at(offset);
        self.invalid(offset, key, e.message().trim().to_owned())
    }

    /// The most specific key whose name or value covers `offset`.
    fn key_at(&self, offset: usize) -> Option<String> {
        self.spans
            .iter()
            .filter(|span| span.key.contains(&offset) || span.value.contains(&offset))
            .max_by_key(|span| span.path.len())
            .map(|span| span.path.clone())
    }

    fn reject_inline_credentials(
        &self,
        table: &DeTable<'_>,
        prefix: &str,
    ) -> Result<(), ConfigError> {
        for (key, value) in table {
            let path = join(prefix, key.get_ref());
            self.reject_in_value(value.get_ref(), value.span(), &path)?;
        }
        Ok(())
    }

    fn reject_in_value(
        &self,
        value: &DeValue<'_>,
        span: Range<usize>,
        path: &str,
    ) -> Result<(), ConfigError> {
        match value {
            DeValue::String(_) if PUBLIC_IDENTIFIERS.contains(&path) => Ok(()),
            // A module publisher's minisign public key: random-looking, public by design.
            DeValue::String(text) if is_trusted_module_key(path) && modules::is_minisign_public_key(text) => Ok(()),
            DeValue::String(text) => match looks_like_credential(text) {
                // The message never repeats the value: it is probably a live secret.
                Some(kind) => Err(self.invalid(
                    span.start,
                    Some(path.to_owned()),
                    format!(
                        "this looks like {kind}; credentials do not belong in the config file. \
                         Store it with `hardshell secret put NAME` and refer to it as \"secret:NAME\""
                    ),
                )),
                None => Ok(()),
            },
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.reject_in_value(item.get_ref(), item.span(), &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            DeValue::Table(table) => self.reject_inline_credentials(table, path),
            _ => Ok(()),
        }
    }
}

/// `modules.trusted_keys[N].key`: the one list of public keys, whose paths
/// carry an index and so cannot be named in [`PUBLIC_IDENTIFIERS`].
fn is_trusted_module_key(path: &str) -> bool {
    path.strip_prefix("modules.trusted_keys[")
        .and_then(|rest| rest.strip_suffix("].key"))
        .is_some_and(|index| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn index_spans(table: &DeTable<'_>, prefix: &str, out: &mut Vec<KeySpan>) {
    for (key, value) in table {
        let path = join(prefix, key.get_ref());
        out.push(KeySpan {
            path: path.clone(),
            key: key.span(),
            value: value.span(),
        });
        index_value(value.get_ref(), &path, out);
    }
}

fn index_value(value: &DeValue<'_>, path: &str, out: &mut Vec<KeySpan>) {
    match value {
        DeValue::Table(table) => index_spans(table, path, out),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                out.push(KeySpan {
                    path: item_path.clone(),
                    key: item.span(),
                    value: item.span(),
                });
                index_value(item.get_ref(), &item_path, out);
            }
        }
        _ => {}
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}
