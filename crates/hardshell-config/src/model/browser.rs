//! `[browser]`: headless Chromium for the agent's browser tool and the edge's
//! `/cdp`. Each session is a fresh browser in a shell of its own, whose only
//! way out is the browser's broker; what that broker lets pages load is
//! decided here.

use std::path::PathBuf;
use std::time::Duration;

use hardshell_vocabulary::HostPattern;
use serde::{Deserialize, Serialize};

/// `[browser]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Browser {
    /// Whether browser sessions are offered at all; see [`crate::Config::browser_runs`].
    pub enabled: bool,
    /// Absolute path of the Chromium binary each browser shell runs.
    pub chromium: PathBuf,
    /// Hosts pages may load (exact, or `*.example.com` for the names under
    /// one), parsed as `[egress]` parses them. Every page load, sub-resource
    /// and redirect is checked against them by the broker.
    pub allow: Vec<HostPattern>,
    /// Any public host instead of `allow`. The broker's address guard still
    /// refuses loopback, private, link-local and metadata addresses. Exclusive
    /// with `allow`: with both, which one wins would be a guess.
    pub allow_public: bool,
    /// Browsers (each its own shell) at once; a session beyond it is refused.
    pub max_instances: u32,
    /// Memory each browser's shell may use, in MiB.
    pub memory_mb: u64,
    /// CPU each browser's shell may use, in percent of one core. Unset:
    /// every core of the machine. Chromium spreads a navigation over its
    /// browser, renderer and network processes at once: held to one core
    /// it was throttled in 40% of its scheduling periods and a page load
    /// took 1.5x as long (bench/browser.sh).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<u32>,
    /// A session that sends no command for this long ends.
    pub idle_timeout_secs: u64,
    /// A session ends after this long, whatever it does.
    pub max_lifetime_secs: u64,
    /// Pages (tabs, popups) a session may open.
    pub max_pages: u32,
}

impl Default for Browser {
    fn default() -> Self {
        Self {
            enabled: false,
            chromium: PathBuf::from("/usr/lib/chromium/chromium"),
            allow: Vec::new(),
            allow_public: false,
            max_instances: 2,
            memory_mb: 1024,
            cpu_percent: None,
            idle_timeout_secs: 300,
            max_lifetime_secs: 1800,
            max_pages: 20,
        }
    }
}

impl Browser {
    /// [`Browser::idle_timeout_secs`] as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// [`Browser::max_lifetime_secs`] as a duration.
    pub fn max_lifetime(&self) -> Duration {
        Duration::from_secs(self.max_lifetime_secs)
    }

    /// `(key, consequence)` for each setting that widens what pages may
    /// reach while the browser runs, for the start-up warnings (beside
    /// [`crate::Dangerous::enabled`]'s).
    pub fn warnings(&self) -> Vec<(&'static str, &'static str)> {
        let mut on = Vec::new();
        if self.enabled && self.allow_public {
            on.push((
                "browser.allow_public",
                "browser pages may load any public host; a page can send what it reads anywhere",
            ));
        }
        on
    }
}
