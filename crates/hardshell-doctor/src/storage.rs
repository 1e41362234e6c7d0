//! Whether the store honours conditional writes: a create over an object
//! that exists, and an update against a version that is no longer the
//! object's, must both be refused. hardshell's compare-and-swap stands on
//! them (`If-None-Match: *` and `If-Match` on S3).

use crate::{Finding, Severity};

/// The checks [`check`] runs.
pub const CHECKS: &[&str] = &["storage.conditional-writes"];

/// What the probe saw: a throwaway object created, created again, replaced,
/// then updated against its first version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConditionalWrites {
    /// The second create was refused as a conflict.
    pub create_over_existing_refused: bool,
    /// The update against the first version was refused as a conflict.
    pub stale_update_refused: bool,
}

/// The findings for the store at `endpoint`, given what its probe saw.
pub fn check(endpoint: &str, probe: ConditionalWrites) -> Vec<Finding> {
    let mut ignored = Vec::new();
    if !probe.create_over_existing_refused {
        ignored.push("a create over an existing object (If-None-Match: *)");
    }
    if !probe.stale_update_refused {
        ignored.push("an update against a replaced version (If-Match)");
    }
    if ignored.is_empty() {
        return Vec::new();
    }
    vec![Finding::new(
        "storage.conditional-writes",
        Severity::High,
        format!("the store {endpoint} accepted {}", ignored.join(" and ")),
        "Tokens, sessions, the spend ledger, the audit log's head and a workload's lease \
         change by compare-and-swap: a store that ignores the condition lets two writers \
         overwrite each other without a word, so a second replica, or a workload moved to \
         another machine, loses or forks its state.",
        "use a store that honours If-None-Match and If-Match on PutObject (AWS S3, \
         Cloudflare R2, SeaweedFS, MinIO), or fix the proxy in front of it that drops \
         those headers",
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_that_refuses_both_has_no_finding_and_one_that_ignores_either_is_high() {
        let honours = ConditionalWrites {
            create_over_existing_refused: true,
            stale_update_refused: true,
        };
        assert_eq!(check("s3://b", honours), []);
        let found = check(
            "s3://b",
            ConditionalWrites {
                stale_update_refused: false,
                ..honours
            },
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, Severity::High);
        assert_eq!(
            found[0].what,
            "the store s3://b accepted an update against a replaced version (If-Match)"
        );
        let found = check(
            "s3://b",
            ConditionalWrites {
                create_over_existing_refused: false,
                stale_update_refused: false,
            },
        );
        assert!(
            found[0].what.contains("(If-None-Match: *) and an update"),
            "{found:?}"
        );
    }
}
