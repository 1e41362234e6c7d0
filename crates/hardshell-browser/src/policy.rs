//! The CDP method policy: every command a client sends is decided here, by a
//! table of methods (`policy/methods.txt`, one reason per entry) and the
//! rewrite rules that table names. Deny by default: a method the table does
//! not name is refused. The relay can send the browser only a [`Permitted`],
//! which only [`MethodPolicy::check`] makes.
//!
//! Nothing here logs or records parameters, and no refusal quotes them: a
//! refusal is a fixed sentence and a [`CdpRefusal`] word.

mod rules;
mod table;

use hardshell_audit::event::{BrowserHost, CdpMethod, CdpRefusal};

use crate::command::Command;
pub use rules::{SessionRules, SessionRulesError};
use table::{Table, domain_of};

/// The built-in table.
const METHODS: &str = include_str!("policy/methods.txt");

/// What the table says about one method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Allowed once its rule has checked or changed the parameters.
    Rewrite(Rule),
    Deny,
}

/// The rewrite rules, by the word the table names them with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `downloadPath` becomes the session's download directory.
    DownloadPath,
    /// `proxyServer`, `proxyBypassList`, `originsWithUniversalNetworkAccess`
    /// removed from a new browser context.
    ContextNetwork,
    /// A new page: a web URL, and counted against the page limit.
    NewPage,
    /// `url` must be http(s) or `about:blank`.
    WebUrl,
    /// `url`, when given, must be http(s) or `about:blank`.
    WebUrlIfAny,
    /// Every path in `files` inside the session's upload directory.
    UploadFiles,
    /// Every path in `data.files` inside the session's upload directory.
    DragFiles,
    /// A `browserContextId` is required.
    ContextCookies,
    /// Target discovery stays on (the proxy counts pages with it).
    KeepDiscovery,
}

impl Rule {
    pub const ALL: &'static [Rule] = &[
        Rule::DownloadPath,
        Rule::ContextNetwork,
        Rule::NewPage,
        Rule::WebUrl,
        Rule::WebUrlIfAny,
        Rule::UploadFiles,
        Rule::DragFiles,
        Rule::ContextCookies,
        Rule::KeepDiscovery,
    ];

    pub fn word(self) -> &'static str {
        match self {
            Rule::DownloadPath => "download-path",
            Rule::ContextNetwork => "context-network",
            Rule::NewPage => "new-page",
            Rule::WebUrl => "web-url",
            Rule::WebUrlIfAny => "web-url-if-any",
            Rule::UploadFiles => "upload-files",
            Rule::DragFiles => "drag-files",
            Rule::ContextCookies => "context-cookies",
            Rule::KeepDiscovery => "keep-discovery",
        }
    }

    fn from_word(word: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|rule| rule.word() == word)
    }
}

/// Why the method table could not be read: the line, never a guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("method table line {line}: expected a pattern, a verdict and a reason")]
    Syntax { line: usize },
    #[error("method table line {line}: an entry needs a reason")]
    NoReason { line: usize },
    #[error("method table line {line}: a pattern is Domain.method or Domain.*")]
    Pattern { line: usize },
    #[error(
        "method table line {line}: a verdict is allow, deny or rewrite:<rule> (a known rule, on one method)"
    )]
    Verdict { line: usize },
    #[error("method table line {line}: the pattern is already in the table")]
    Duplicate { line: usize },
    #[error("method table line {line}: the domain's wildcard already says this")]
    Redundant { line: usize },
}

/// A command the policy let through (perhaps changed): the only thing the
/// relay sends the browser for a client.
#[derive(Debug)]
pub struct Permitted {
    command: Command,
    navigated: Option<BrowserHost>,
    opens_page: bool,
}

impl Permitted {
    pub fn command(&self) -> &Command {
        &self.command
    }

    /// The host a navigation goes to, for the audit record.
    pub fn navigated(&self) -> Option<&BrowserHost> {
        self.navigated.as_ref()
    }

    /// Whether it opens a page (counted against the session's limit).
    pub fn opens_page(&self) -> bool {
        self.opens_page
    }
}

/// A command the policy refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub reason: CdpRefusal,
    /// Why, in a fixed sentence (a table reason or a rule's).
    pub detail: &'static str,
}

impl Refused {
    pub(crate) fn new(reason: CdpRefusal, detail: &'static str) -> Refused {
        Refused { reason, detail }
    }

    /// The CDP error code: "method not found" for methods the table refuses,
    /// a server error for refused parameters and limits.
    pub fn code(&self) -> i64 {
        match self.reason {
            CdpRefusal::NotListed | CdpRefusal::Denied => -32601,
            _ => -32000,
        }
    }

    /// The error message the client gets: the method (checked) and why.
    pub fn message(&self, method: &str) -> String {
        format!(
            "hardshell refused {}: {}",
            CdpMethod::or_invalid(method),
            self.detail
        )
    }
}

/// The method table, read and checked.
#[derive(Debug)]
pub struct MethodPolicy {
    table: Table,
}

impl MethodPolicy {
    /// The built-in table (`policy/methods.txt`).
    pub fn standard() -> Result<MethodPolicy, PolicyError> {
        Ok(MethodPolicy {
            table: Table::parse(METHODS)?,
        })
    }

    /// What the table says about `method`, and why: its exact entry, else its
    /// domain's wildcard, else a refusal.
    pub fn verdict(&self, method: &str) -> (Verdict, &'static str) {
        // Only `Domain.method` of letters and digits is looked up: Chromium
        // matches names exactly, and so must the table, or `Page.navigate `
        // would pass as one of `Page.*` without its rule.
        if !table::is_method(method) {
            return (Verdict::Deny, NOT_LISTED);
        }
        let entry = self
            .table
            .exact
            .get(method)
            .or_else(|| domain_of(method).and_then(|domain| self.table.domains.get(domain)));
        match entry {
            Some(entry) => (entry.verdict, entry.reason),
            None => (Verdict::Deny, NOT_LISTED),
        }
    }

    /// Every pattern the table names (`Domain.method`, `Domain.*`), to
    /// check against a browser's own protocol description.
    pub fn patterns(&self) -> Vec<String> {
        let exact = self.table.exact.keys().map(|method| (*method).to_owned());
        let domains = self
            .table
            .domains
            .keys()
            .map(|domain| format!("{domain}.*"));
        let mut patterns: Vec<String> = exact.chain(domains).collect();
        patterns.sort();
        patterns
    }

    /// Decides one command for a session with `rules`.
    pub fn check(&self, mut command: Command, rules: &SessionRules) -> Result<Permitted, Refused> {
        let method = command.method();
        let listed = table::is_method(method)
            && (self.table.exact.contains_key(method)
                || domain_of(method).is_some_and(|d| self.table.domains.contains_key(d)));
        let (verdict, reason) = self.verdict(command.method());
        let rule = match verdict {
            Verdict::Allow => None,
            Verdict::Rewrite(rule) => Some(rule),
            Verdict::Deny if listed => return Err(Refused::new(CdpRefusal::Denied, reason)),
            Verdict::Deny => return Err(Refused::new(CdpRefusal::NotListed, reason)),
        };
        let navigated = match rule {
            Some(rule) => rules::apply(rule, &mut command, rules)?,
            None => None,
        };
        Ok(Permitted {
            command,
            navigated,
            opens_page: rule == Some(Rule::NewPage),
        })
    }
}

const NOT_LISTED: &str = "not on hardshell's list of allowed methods";

#[cfg(test)]
mod tests;
