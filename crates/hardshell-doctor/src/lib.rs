//! `hardshell doctor`: a deployment checked, each finding with a severity,
//! why it matters and the exact fix.
//!
//! Each check is a plain function of what was read (the config, the modes
//! of the key and the data directory, the kernel's facts, the edge's
//! certificate, the tokens, the certificates hardshell issued, the audit
//! logs' verdicts), so each is tested
//! with the good input and the bad. The CLI reads them (`hardshell doctor`,
//! in the `hardshell` crate); [`kernel::KernelFacts::read`] is the one
//! place here that reads the host.
//!
//! What a finding says comes from the owner's own config and store; the
//! CLI still prints it through its terminal escaping, as it prints any
//! stored text.

pub mod audit;
pub mod backup;
pub mod certificate;
pub mod clock;
pub mod config;
pub mod files;
pub mod issued;
pub mod kernel;
pub mod locked;
pub mod models;
pub mod secrets;
pub mod storage;
pub mod tokens;

use std::fmt::Write as _;

use serde::Serialize;

/// How much a finding matters. `doctor` exits non-zero on any [`High`].
///
/// [`High`]: Severity::High
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing is exposed by it alone.
    Low,
    /// Weakens a layer; fix it when you can.
    Medium,
    /// Exposes the agent, its keys or its record, or stops it from running
    /// safely: fix it now.
    High,
}

impl Severity {
    /// The word the text report shows.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
        }
    }
}

/// One thing to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check's stable name (`files.master-key-mode`), for scripts.
    pub check: &'static str,
    pub severity: Severity,
    /// What was found, naming the setting, file or record.
    pub what: String,
    /// Why it matters.
    pub why: String,
    /// Exactly what to do.
    pub fix: String,
}

impl Finding {
    pub fn new(
        check: &'static str,
        severity: Severity,
        what: impl Into<String>,
        why: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            check,
            severity,
            what: what.into(),
            why: why.into(),
            fix: fix.into(),
        }
    }
}

/// What `doctor` ran and found.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Every check run, found something or not, in the order run.
    pub checks: Vec<&'static str>,
    /// What they found, the most severe first.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Records that the group of checks `checks` ran and found `findings`.
    pub fn add(&mut self, checks: &[&'static str], findings: Vec<Finding>) {
        self.checks.extend_from_slice(checks);
        self.findings.extend(findings);
        // Stable: findings of one severity keep the order they were found in.
        self.findings
            .sort_by_key(|finding| std::cmp::Reverse(finding.severity));
    }

    /// How many findings are `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|finding| finding.severity == severity)
            .count()
    }

    /// The report for a person: each finding with why and how to fix it,
    /// then a line of totals. `escape` makes stored text safe for a
    /// terminal.
    pub fn text(&self, escape: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        for finding in &self.findings {
            let _ = writeln!(
                out,
                "{:<6} {}: {}\n       why: {}\n       fix: {}",
                finding.severity.label(),
                finding.check,
                escape(&finding.what),
                escape(&finding.why),
                escape(&finding.fix),
            );
        }
        let _ = writeln!(
            out,
            "{} checks: {} high, {} medium, {} low",
            self.checks.len(),
            self.count(Severity::High),
            self.count(Severity::Medium),
            self.count(Severity::Low),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_listed_most_severe_first_and_counted() {
        let mut report = Report::default();
        report.add(
            &["a", "b"],
            vec![
                Finding::new("a", Severity::Low, "l", "w", "f"),
                Finding::new("b", Severity::High, "h1", "w", "f"),
            ],
        );
        report.add(
            &["c"],
            vec![
                Finding::new("c", Severity::Medium, "m", "w", "f"),
                Finding::new("c", Severity::High, "h2", "w", "f"),
            ],
        );
        let order: Vec<&str> = report.findings.iter().map(|f| f.what.as_str()).collect();
        assert_eq!(order, ["h1", "h2", "m", "l"]);
        assert_eq!(report.count(Severity::High), 2);
        let text = report.text(&|s| s.to_owned());
        assert!(
            text.starts_with("HIGH   b: h1\n       why: w\n       fix: f\n"),
            "{text}"
        );
        assert!(
            text.ends_with("3 checks: 2 high, 1 medium, 1 low\n"),
            "{text}"
        );
    }

    #[test]
    fn the_text_report_passes_every_stored_word_through_the_escape() {
        let mut report = Report::default();
        report.add(
            &["x"],
            vec![Finding::new("x", Severity::Low, "a\u{1b}[2J", "b", "c")],
        );
        let text = report.text(&|s| s.replace('\u{1b}', "\\e"));
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("a\\e[2J"), "{text}");
    }
}
