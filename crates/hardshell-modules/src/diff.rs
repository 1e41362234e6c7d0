//! What an update changes, in the owner's words: every host, secret,
//! workspace access, limit and tool added, removed or changed, and whether
//! the signing key changed. Every update needs the owner's yes; the diff
//! says whether it asks for more than was accepted (widens) or not.

use std::collections::BTreeSet;
use std::fmt;

use crate::capabilities::{Capabilities, HostAccess};
use crate::lock::LockedModule;
use crate::manifest::Tool;
use crate::policy::Verified;

/// One difference between the locked module and an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub effect: Effect,
    /// In plain words, e.g. `adds host https://api.example.com:443 any path, any method`.
    pub text: String,
}

/// Whether a change gives the module more than it was accepted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// More: a new host, secret, method, path, tool, or a higher limit.
    Widens,
    /// Less than before.
    Narrows,
    /// Neither (a version, a publisher's words).
    Neutral,
}

/// Every change an update makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapabilityDiff {
    pub changes: Vec<Change>,
}

impl CapabilityDiff {
    /// The changes from `locked` to `update`.
    pub fn between(locked: &LockedModule, update: &Verified) -> Self {
        let manifest = update.manifest();
        let mut changes = Vec::new();
        let signer = update.signer();
        // Key ids are the key maker's choice: the key itself is compared,
        // and one key under another name in `[modules] trusted_keys` is
        // shown as a change too.
        if signer.key != locked.key
            || signer.key_id != locked.key_id
            || signer.key_name != locked.key_name
        {
            changes.push(Change {
                effect: Effect::Widens,
                text: format!(
                    "is signed by another key: {} ({}, {}) instead of {} ({}, {})",
                    signer.key_name,
                    signer.key_id,
                    signer.key,
                    locked.key_name,
                    locked.key_id,
                    locked.key
                ),
            });
        }
        if manifest.version != locked.version {
            changes.push(neutral(format!(
                "version {} -> {}",
                locked.version, manifest.version
            )));
        }
        if manifest.publisher != locked.publisher {
            changes.push(neutral(format!(
                "publisher {:?} -> {:?}",
                locked.publisher, manifest.publisher
            )));
        }
        capabilities(&locked.capabilities, &manifest.capabilities, &mut changes);
        tools(&locked.tools, &manifest.tools, &mut changes);
        Self { changes }
    }

    /// Whether the update asks for anything the lock did not accept.
    pub fn widens(&self) -> bool {
        self.changes.iter().any(|c| c.effect == Effect::Widens)
    }
}

fn neutral(text: String) -> Change {
    Change {
        effect: Effect::Neutral,
        text,
    }
}

fn capabilities(old: &Capabilities, new: &Capabilities, out: &mut Vec<Change>) {
    hosts(&old.hosts, &new.hosts, out);
    let old_secrets: BTreeSet<String> = old.secrets.iter().map(secret_text).collect();
    let new_secrets: BTreeSet<String> = new.secrets.iter().map(secret_text).collect();
    for added in new_secrets.difference(&old_secrets) {
        out.push(widens(format!("adds secret {added}")));
    }
    for removed in old_secrets.difference(&new_secrets) {
        out.push(narrows(format!("drops secret {removed}")));
    }
    if new.public_web != old.public_web {
        out.push(if new.public_web {
            widens("adds reading any public web page (GET and HEAD of any host)".to_owned())
        } else {
            narrows("drops reading any public web page".to_owned())
        });
    }
    if new.workspace != old.workspace {
        let text = format!("workspace {} -> {}", old.workspace, new.workspace);
        out.push(by_order(new.workspace > old.workspace, text));
    }
    if new.memory_mb != old.memory_mb {
        let text = format!("memory {} MiB -> {} MiB", old.memory_mb, new.memory_mb);
        out.push(by_order(new.memory_mb > old.memory_mb, text));
    }
    if new.timeout_ms != old.timeout_ms {
        let text = format!(
            "time per call {} ms -> {} ms",
            old.timeout_ms, new.timeout_ms
        );
        out.push(by_order(new.timeout_ms > old.timeout_ms, text));
    }
}

/// Hosts are matched by scheme, name and port; a matched host whose
/// methods or path prefix changed is one change, widening if it now
/// allows a request it did not.
fn hosts(old: &[HostAccess], new: &[HostAccess], out: &mut Vec<Change>) {
    let same_route = |a: &HostAccess, b: &HostAccess| {
        a.scheme == b.scheme && a.host == b.host && a.port == b.port
    };
    for access in new {
        match old.iter().find(|o| same_route(o, access)) {
            None => out.push(widens(format!("adds host {access}"))),
            Some(before) if before != access => {
                let text = format!("changes host {before} -> {access}");
                out.push(by_order(allows_more(before, access), text));
            }
            Some(_) => {}
        }
    }
    for access in old {
        if !new.iter().any(|n| same_route(n, access)) {
            out.push(narrows(format!("drops host {access}")));
        }
    }
}

/// Whether `after` allows some request `before` did not.
fn allows_more(before: &HostAccess, after: &HostAccess) -> bool {
    let more_methods = match (&before.methods, &after.methods) {
        (_, None) => before.methods.is_some(),
        (None, Some(_)) => false,
        (Some(old), Some(new)) => !new.is_subset(old),
    };
    let more_paths = match (&before.path_prefix, &after.path_prefix) {
        (_, None) => before.path_prefix.is_some(),
        (None, Some(_)) => false,
        (Some(old), Some(new)) => !new.starts_with(old.as_str()),
    };
    more_methods || more_paths
}

fn tools(old: &[Tool], new: &[Tool], out: &mut Vec<Change>) {
    for tool in new {
        match old.iter().find(|o| o.name == tool.name) {
            None => out.push(widens(format!("adds tool {}", tool.name))),
            // What the model is told a tool does, or may be given, changed:
            // the owner reviews it as new.
            Some(before) if before != tool => {
                out.push(widens(format!("changes tool {}", tool.name)));
            }
            Some(_) => {}
        }
    }
    for tool in old {
        if !new.iter().any(|n| n.name == tool.name) {
            out.push(narrows(format!("drops tool {}", tool.name)));
        }
    }
}

fn secret_text(secret: &crate::capabilities::SecretUse) -> String {
    format!("{} (for {})", secret.name, secret.host)
}

fn widens(text: String) -> Change {
    Change {
        effect: Effect::Widens,
        text,
    }
}

fn narrows(text: String) -> Change {
    Change {
        effect: Effect::Narrows,
        text,
    }
}

fn by_order(more: bool, text: String) -> Change {
    if more { widens(text) } else { narrows(text) }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.effect {
            Effect::Widens => "+",
            Effect::Narrows => "-",
            Effect::Neutral => " ",
        };
        write!(f, "{mark} {}", self.text)
    }
}
