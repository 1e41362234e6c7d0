//! Reading the method table (`methods.txt`) into lookups: each line an
//! entry, each entry checked, so a typo in the table is an error at start,
//! never a method silently allowed or a rule silently skipped.

use std::collections::HashMap;

use super::{PolicyError, Rule, Verdict};

/// One entry: what to do with the method (or domain), and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) verdict: Verdict,
    pub(crate) reason: &'static str,
}

/// The table, split by how an entry matches.
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub(crate) exact: HashMap<&'static str, Entry>,
    /// Keyed by domain (`Page` for `Page.*`).
    pub(crate) domains: HashMap<&'static str, Entry>,
}

impl Table {
    pub(crate) fn parse(text: &'static str) -> Result<Table, PolicyError> {
        let mut table = Table::default();
        let mut lines = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (pattern, entry) = parse_line(line, number)?;
            let slot = match pattern {
                Pattern::Exact(method) => table.exact.insert(method, entry),
                Pattern::Domain(domain) => table.domains.insert(domain, entry),
            };
            if slot.is_some() {
                return Err(PolicyError::Duplicate { line: number });
            }
            lines.push((pattern, number));
        }
        table.refuse_redundant(&lines)?;
        Ok(table)
    }

    /// An exact entry that says what its domain's wildcard says anyway hides
    /// nothing and misleads the reader into thinking it matters.
    fn refuse_redundant(&self, lines: &[(Pattern, usize)]) -> Result<(), PolicyError> {
        for (pattern, line) in lines {
            let Pattern::Exact(method) = pattern else {
                continue;
            };
            let (Some(entry), Some(domain)) = (self.exact.get(method), domain_of(method)) else {
                continue;
            };
            let wildcard = self.domains.get(domain).map(|entry| entry.verdict);
            let same = matches!(
                (entry.verdict, wildcard),
                (Verdict::Allow, Some(Verdict::Allow)) | (Verdict::Deny, Some(Verdict::Deny))
            );
            if same {
                return Err(PolicyError::Redundant { line: *line });
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum Pattern {
    Exact(&'static str),
    Domain(&'static str),
}

fn parse_line(line: &'static str, number: usize) -> Result<(Pattern, Entry), PolicyError> {
    let mut words = line.split_whitespace();
    let (Some(pattern), Some(verdict)) = (words.next(), words.next()) else {
        return Err(PolicyError::Syntax { line: number });
    };
    let reason = words
        .next()
        .and_then(|first| line.find(first).map(|at| &line[at..]));
    let Some(reason) = reason else {
        return Err(PolicyError::NoReason { line: number });
    };
    let pattern = parse_pattern(pattern).ok_or(PolicyError::Pattern { line: number })?;
    let verdict = parse_verdict(verdict).ok_or(PolicyError::Verdict { line: number })?;
    if matches!(
        (pattern, verdict),
        (Pattern::Domain(_), Verdict::Rewrite(_))
    ) {
        // A rule reads one method's parameters; a domain's methods differ.
        return Err(PolicyError::Verdict { line: number });
    }
    Ok((pattern, Entry { verdict, reason }))
}

fn parse_pattern(text: &'static str) -> Option<Pattern> {
    let (domain, method) = text.split_once('.')?;
    if !is_name(domain) {
        return None;
    }
    if method == "*" {
        Some(Pattern::Domain(domain))
    } else if is_name(method) {
        Some(Pattern::Exact(text))
    } else {
        None
    }
}

fn parse_verdict(text: &str) -> Option<Verdict> {
    match text {
        "allow" => Some(Verdict::Allow),
        "deny" => Some(Verdict::Deny),
        _ => text
            .strip_prefix("rewrite:")
            .and_then(Rule::from_word)
            .map(Verdict::Rewrite),
    }
}

fn is_name(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether `text` is a method name: `Domain.method`, letters and digits.
pub(crate) fn is_method(text: &str) -> bool {
    text.split_once('.')
        .is_some_and(|(domain, method)| is_name(domain) && is_name(method))
}

/// `Page` for `Page.navigate`.
pub(crate) fn domain_of(method: &str) -> Option<&str> {
    method.split_once('.').map(|(domain, _)| domain)
}
