//! `[browser]`'s rules: a browser that can load something and says what,
//! an unambiguous choice between listed hosts and any public one, a binary
//! named by a plain absolute path, and bounded counts, sizes and times.

use std::ops::RangeInclusive;

use crate::load::workload::is_plain_absolute;
use crate::load::{ConfigError, LoadedConfig};

const MAX_INSTANCES: RangeInclusive<u64> = 1..=16;
/// Chromium with one page needs a few hundred MiB; below this it is killed
/// by the shell's OOM limit before its first page.
const MEMORY_MB: RangeInclusive<u64> = 256..=65_536;
const MAX_PAGES: RangeInclusive<u64> = 1..=100;
/// Of one core: up to 64 cores, as `[workload] cpu_percent`.
const CPU_PERCENT: RangeInclusive<u64> = 1..=6_400;

impl LoadedConfig {
    pub(super) fn validate_browser(&self) -> Result<(), ConfigError> {
        let browser = &self.config.browser;
        if browser.allow_public && !browser.allow.is_empty() {
            return Err(self.error_at(
                "browser.allow_public",
                "browser.allow lists hosts and allow_public allows every public one: \
                 which wins would be unclear; keep one",
            ));
        }
        if browser.enabled && browser.allow.is_empty() && !browser.allow_public {
            return Err(self.error_at(
                "browser.allow",
                "the browser could load nothing: list the hosts pages may load in \
                 browser.allow, or set browser.allow_public = true",
            ));
        }
        let chromium = browser.chromium.to_str().unwrap_or("");
        if !is_plain_absolute(chromium) || chromium == "/" || chromium.chars().any(char::is_control)
        {
            return Err(self.error_at(
                "browser.chromium",
                format!(
                    "{:?} must be the browser binary's absolute path, without . or .. parts",
                    browser.chromium
                ),
            ));
        }
        for (key, value, range) in [
            (
                "browser.max_instances",
                u64::from(browser.max_instances),
                MAX_INSTANCES,
            ),
            ("browser.memory_mb", browser.memory_mb, MEMORY_MB),
            ("browser.max_pages", u64::from(browser.max_pages), MAX_PAGES),
            (
                "browser.cpu_percent",
                browser.cpu_percent.map_or(100, u64::from),
                CPU_PERCENT,
            ),
        ] {
            if !range.contains(&value) {
                return Err(
                    self.error_at(key, format!("must be {} to {}", range.start(), range.end()))
                );
            }
        }
        for (key, value) in [
            ("browser.idle_timeout_secs", browser.idle_timeout_secs),
            ("browser.max_lifetime_secs", browser.max_lifetime_secs),
        ] {
            if value == 0 {
                return Err(self.error_at(key, "must be at least 1"));
            }
        }
        if browser.max_lifetime_secs < browser.idle_timeout_secs {
            return Err(self.error_at(
                "browser.max_lifetime_secs",
                format!(
                    "must be at least browser.idle_timeout_secs ({} s): a session would end \
                     before it could be idle that long",
                    browser.idle_timeout_secs
                ),
            ));
        }
        Ok(())
    }
}
