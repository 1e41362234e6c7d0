//! `[dangerous]`: the one door to weaker settings.

use serde::{Deserialize, Serialize};

/// `[dangerous]`: every setting that weakens a protection. All are off by default,
/// and each one that is on logs a warning whenever hardshell starts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Dangerous {
    /// Store objects without encryption. Anyone who can read the data directory or
    /// the bucket can then read every session, memory note and secret.
    pub unencrypted_storage: bool,
    /// Allow a plain-`http://` S3 endpoint that is not on loopback: credentials are
    /// still signed, but object contents and names cross the network unprotected.
    pub storage_allow_http: bool,
    /// Allow a plain-`http://` model provider that is not on loopback: prompts,
    /// replies and any API key cross the network unprotected.
    pub llm_allow_http: bool,
    /// Addresses the egress broker may dial although they are internal
    /// (loopback, private, link-local…), as CIDR blocks: each one lets code in a
    /// shell reach machines on your side of the network.
    pub egress_internal: Vec<super::Cidr>,
    /// Addresses the browser's broker may dial although they are internal, as
    /// CIDR blocks: pages may then load from (and send to) those machines.
    /// Kept apart from `egress_internal`, so opening one to exec shells does
    /// not open it to web pages, nor the reverse.
    pub browser_internal: Vec<super::Cidr>,
    /// Accept a `[workload] image` without a `@sha256:` digest: what runs is
    /// whatever the registry serves for the tag that day.
    pub unpinned_images: bool,
    /// Accept a `[workload] image` whose tag names an OpenClaw release with a
    /// known remote-code-execution advisory (see `hardshell_config::advisories`).
    pub known_vulnerable_images: bool,
}

impl Dangerous {
    /// `(key, consequence)` for every setting that is on, for the start-up warnings.
    pub fn enabled(&self) -> Vec<(&'static str, &'static str)> {
        let mut on = Vec::new();
        if self.unencrypted_storage {
            on.push((
                "dangerous.unencrypted_storage",
                "objects are stored unencrypted; whoever reads the storage reads everything",
            ));
        }
        if self.storage_allow_http {
            on.push((
                "dangerous.storage_allow_http",
                "the S3 endpoint is plain http off loopback; object traffic is unprotected",
            ));
        }
        if self.llm_allow_http {
            on.push((
                "dangerous.llm_allow_http",
                "a model provider is plain http off loopback; prompts and keys are unprotected",
            ));
        }
        if !self.egress_internal.is_empty() {
            on.push((
                "dangerous.egress_internal",
                "shells may reach internal addresses through the egress broker",
            ));
        }
        if !self.browser_internal.is_empty() {
            on.push((
                "dangerous.browser_internal",
                "browser pages may reach internal addresses through the browser's broker",
            ));
        }
        if self.unpinned_images {
            on.push((
                "dangerous.unpinned_images",
                "the workload image is not pinned by digest; the registry decides what runs",
            ));
        }
        if self.known_vulnerable_images {
            on.push((
                "dangerous.known_vulnerable_images",
                "the workload image may be a release with known remote-code-execution flaws",
            ));
        }
        on
    }
}
