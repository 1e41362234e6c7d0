//! Whether the store honours conditional writes: a create over an object
//! that exists, and an update against a version that is no longer the
//! object's, must both be refused. hardshell's compare-and-swap stands on
//! them (`If-None-Match: *` and `If-Match` on S3).

use crate::{Finding, Severity};

/// The checks [`check`] runs.
pub const CHECKS: &[&str] = &["storage.conditional-writes"];

/// The check [`versions`] runs.
pub const VERSION_CHECKS: &[&str] = &["storage.versions"];

/// At most this many objects are named one by one; the rest are counted.
const NAMED: usize = 20;

/// The findings for what the version register's check of the store
/// `endpoint` found wrong: each problem is storage's own words, naming the
/// object and what happened to it.
pub fn versions(endpoint: &str, problems: &[String]) -> Vec<Finding> {
    let why = "Someone with write access to the storage put back an older copy of what \
               hardshell wrote, or deleted it: a revoked token, a removed passkey or device, or \
               an old spend ledger would come back. hardshell refuses these objects, so what \
               needs them fails until they are dealt with.";
    let fix = "find out who can write to the storage and take that away; then restore the \
               objects from a backup, or write or delete each one again with the command that \
               manages it once you have looked at it";
    let mut findings: Vec<Finding> = problems
        .iter()
        .take(NAMED)
        .map(|problem| {
            Finding::new(
                "storage.versions",
                Severity::High,
                format!("in {endpoint}: {problem}"),
                why,
                fix,
            )
        })
        .collect();
    if problems.len() > NAMED {
        findings.push(Finding::new(
            "storage.versions",
            Severity::High,
            format!(
                "in {endpoint}: {} more objects are rolled back or gone",
                problems.len() - NAMED
            ),
            why,
            fix,
        ));
    }
    findings
}

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
    fn each_rolled_back_object_is_a_high_finding_and_past_twenty_they_are_counted() {
        assert_eq!(versions("file:///o", &[]), []);
        let one = versions(
            "file:///o",
            &["object tokens/a was rolled back: …".to_owned()],
        );
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].severity, Severity::High);
        assert_eq!(
            one[0].what,
            "in file:///o: object tokens/a was rolled back: …"
        );
        let many: Vec<String> = (0..25)
            .map(|n| format!("object tokens/{n} is missing"))
            .collect();
        let found = versions("s3://b", &many);
        assert_eq!(found.len(), 21);
        assert_eq!(
            found[20].what,
            "in s3://b: 5 more objects are rolled back or gone"
        );
    }

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
