//! The audit logs: each hash chain verifies from its first record to its
//! signed head (`hardshell audit verify`).

use crate::{Finding, Severity};

/// The checks [`check`] runs.
pub const CHECKS: &[&str] = &["audit.verify"];

/// One log's verification, as `hardshell_audit::verify` reported it.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The log's id (`edge-<host>`).
    pub log: String,
    /// Where its chain is broken; none when it is intact.
    pub problems: Vec<String>,
}

/// The findings for `verdicts`.
pub fn check(verdicts: &[Verdict]) -> Vec<Finding> {
    verdicts
        .iter()
        .filter_map(|verdict| {
            let first = verdict.problems.first()?;
            Some(Finding::new(
                "audit.verify",
                Severity::High,
                format!(
                    "the audit log {} is NOT intact ({} problems; the first: {first})",
                    verdict.log,
                    verdict.problems.len()
                ),
                "Records were changed, removed or reordered after they were written: the log \
                 can no longer show what happened, and whoever did it could write the store.",
                format!(
                    "see every problem with `hardshell audit verify --log {}`; restore its \
                     objects from a backup, and find out who else holds the store's \
                     credentials",
                    verdict.log
                ),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_log_is_high_and_an_intact_one_is_not_mentioned() {
        let found = check(&[
            Verdict {
                log: "edge-a".into(),
                problems: Vec::new(),
            },
            Verdict {
                log: "edge-b".into(),
                problems: vec!["seq 4: hash mismatch".into(), "seq 5: gap".into()],
            },
        ]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, Severity::High);
        assert_eq!(
            found[0].what,
            "the audit log edge-b is NOT intact (2 problems; the first: seq 4: hash mismatch)"
        );
    }
}
