//! `[log]`: log output.

use serde::{Deserialize, Serialize};

/// `[log]`: how log lines are written to standard error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// `"text"` for people, `"json"` for log collectors (one object per line).
    pub format: LogFormat,
    /// Minimum level: `error`, `warn`, `info`, `debug` or `trace`. The environment
    /// variable `RUST_LOG` overrides it.
    pub level: LogLevel,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Minimum log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Normal operation (the default).
    #[default]
    Info,
    /// Detail for troubleshooting.
    Debug,
    /// Everything.
    Trace,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: LogLevel::Info,
        }
    }
}

impl LogLevel {
    /// The level's name as `tracing` filters spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}
