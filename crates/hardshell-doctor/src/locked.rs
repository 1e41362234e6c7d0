//! What the owner locked: each module's package and each OpenClaw skill's
//! files still the ones accepted (`hardshell module verify`, without its
//! audit records: `doctor` writes nothing).

use crate::{Finding, Severity};

/// The checks [`check`] runs.
pub const CHECKS: &[&str] = &["locked.verify"];

/// One locked module or skill, as loading it went.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// "module" or "OpenClaw skill".
    pub kind: &'static str,
    pub name: String,
    /// Why it did not load; nothing when it did.
    pub failure: Option<String>,
}

/// The findings for `verdicts`: each one that did not load is high.
pub fn check(verdicts: &[Verdict]) -> Vec<Finding> {
    verdicts
        .iter()
        .filter_map(|verdict| {
            let failure = verdict.failure.as_deref()?;
            Some(Finding::new(
                "locked.verify",
                Severity::High,
                format!(
                    "the {} {} fails verification: {failure}",
                    verdict.kind, verdict.name
                ),
                "What is stored is not what the owner accepted (changed in the store, or \
                 signed by a key no longer trusted): it is left out at every start, and \
                 whoever could write the store tried to run code.",
                format!(
                    "`hardshell module verify` records it; remove it (hardshell module rm{} \
                     {}) and add it again from its source after a review, and find out who \
                     else holds the store's credentials",
                    if verdict.kind == "module" {
                        ""
                    } else {
                        " --openclaw"
                    },
                    verdict.name
                ),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_loads_is_no_finding_and_what_does_not_is_high_with_its_own_removal() {
        let verdict = |kind, name: &str, failure: Option<&str>| Verdict {
            kind,
            name: name.into(),
            failure: failure.map(Into::into),
        };
        let found = check(&[
            verdict("module", "echo", None),
            verdict("module", "fetch", Some("changed")),
            verdict("OpenClaw skill", "weather", Some("changed")),
        ]);
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|f| f.severity == Severity::High));
        assert_eq!(
            found[0].what,
            "the module fetch fails verification: changed"
        );
        assert!(
            found[0].fix.contains("hardshell module rm fetch)"),
            "{}",
            found[0].fix
        );
        assert!(
            found[1]
                .fix
                .contains("hardshell module rm --openclaw weather)"),
            "{}",
            found[1].fix
        );
    }
}
