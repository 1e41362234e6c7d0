//! Host names and the patterns routes allow them by.
//!
//! A pattern is an exact name (`api.example.com`) or a wildcard over whole
//! labels (`*.example.com`: one or more labels before `.example.com`, never
//! `example.com` itself, and never `example.com.evil.net`). Names are compared
//! in lower case, without a trailing dot; only ASCII names (punycode for
//! international ones) are accepted, so two spellings cannot hide one host.
//!
//! The config parses `[egress]` hosts into patterns when it is loaded, so a
//! bad one is reported with its file and line; the broker matches with them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A host name, checked and normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Host(String);

/// Why a name or pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// Not an ASCII host name.
    #[error("{0:?} is not a host name (ASCII letters, digits and hyphens in dot-separated labels)")]
    Invalid(String),
    /// A `*` anywhere but as the whole first label of a name with a dot.
    #[error("{0:?}: a wildcard must be a whole first label, as in *.example.com")]
    Wildcard(String),
}

fn is_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

impl Host {
    /// `text` as a host name: lower-cased, one trailing dot dropped.
    pub fn parse(text: &str) -> Result<Host, HostError> {
        let lower = text.to_ascii_lowercase();
        let name = lower.strip_suffix('.').unwrap_or(&lower);
        if name.len() > 253 || !name.split('.').all(is_label) {
            return Err(HostError::Invalid(text.to_owned()));
        }
        Ok(Host(name.to_owned()))
    }

    /// The name, lower case, without a trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An allowed host: exact, or every name under a suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// This name only.
    Exact(Host),
    /// `*.suffix`: the suffix without its leading dot.
    Under(Host),
}

impl HostPattern {
    /// `text` as an exact name or `*.suffix`, the suffix holding a dot
    /// (`*.com` would allow a whole top-level domain).
    pub fn parse(text: &str) -> Result<HostPattern, HostError> {
        match text.strip_prefix("*.") {
            Some(suffix) => {
                if suffix.contains('*') {
                    return Err(HostError::Wildcard(text.to_owned()));
                }
                let suffix = Host::parse(suffix)?;
                // `*.com` would allow a whole top-level domain.
                if !suffix.0.contains('.') {
                    return Err(HostError::Wildcard(text.to_owned()));
                }
                Ok(HostPattern::Under(suffix))
            }
            None if text.contains('*') => Err(HostError::Wildcard(text.to_owned())),
            None => Host::parse(text).map(HostPattern::Exact),
        }
    }

    /// Whether `host` is this name, or one under this suffix.
    pub fn matches(&self, host: &Host) -> bool {
        match self {
            HostPattern::Exact(exact) => exact == host,
            HostPattern::Under(suffix) => host
                .0
                .strip_suffix(&suffix.0)
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        }
    }

    /// Whether some host matches both patterns: a secret bound to
    /// `*.example.com` is bound to a host of a route for `api.example.com`,
    /// and the other way round.
    pub fn overlaps(&self, other: &HostPattern) -> bool {
        match (self, other) {
            (HostPattern::Exact(a), HostPattern::Exact(b)) => a == b,
            (HostPattern::Exact(host), pattern) | (pattern, HostPattern::Exact(host)) => {
                pattern.matches(host)
            }
            // Two suffixes share a host where one is the other or under it.
            (HostPattern::Under(a), HostPattern::Under(b)) => {
                a == b || self.matches(b) || other.matches(a)
            }
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(host) => write!(f, "{host}"),
            HostPattern::Under(suffix) => write!(f, "*.{suffix}"),
        }
    }
}

/// Written as parsed: the config's `hosts = ["*.example.com"]`.
impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        HostPattern::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for HostPattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn host(text: &str) -> Host {
        Host::parse(text).unwrap()
    }

    #[test]
    fn patterns_overlap_where_one_host_matches_both() {
        let p = |text: &str| HostPattern::parse(text).unwrap();
        for (a, b) in [
            ("api.test.com", "api.test.com"),
            ("*.test.com", "api.test.com"),
            ("api.test.com", "*.test.com"),
            ("*.test.com", "*.test.com"),
            ("*.test.com", "*.eu.test.com"),
            ("*.eu.test.com", "*.test.com"),
        ] {
            assert!(p(a).overlaps(&p(b)), "{a} {b}");
        }
        for (a, b) in [
            ("api.test.com", "web.test.com"),
            ("*.test.com", "test.com"),
            ("test.com", "*.test.com"),
            ("*.test.com", "*.other.com"),
            ("*.test.com", "*.atest.com"),
        ] {
            assert!(!p(a).overlaps(&p(b)), "{a} {b}");
        }
    }

    #[test]
    fn wildcards_are_bounded_by_labels() {
        let pattern = HostPattern::parse("*.example.com").unwrap();
        for allowed in ["api.example.com", "a.b.example.com", "API.Example.COM."] {
            assert!(pattern.matches(&host(allowed)), "{allowed}");
        }
        for refused in [
            "example.com",
            "example.com.evil.net",
            "evilexample.com",
            "api.example.com.evil.net",
            "example.co",
        ] {
            assert!(!pattern.matches(&host(refused)), "{refused}");
        }
        let exact = HostPattern::parse("api.example.com").unwrap();
        assert!(exact.matches(&host("api.example.com.")));
        assert!(!exact.matches(&host("x.api.example.com")));
    }

    #[test]
    fn odd_names_and_patterns_are_refused() {
        for bad in [
            "",
            ".",
            "a..b",
            "-a.com",
            "a-.com",
            "exa mple.com",
            "ex\u{e4}mple.com",
            "a.com/x",
            "a.com:80",
        ] {
            assert!(Host::parse(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "*",
            "*.com",
            "a.*.com",
            "*example.com",
            "**.example.com",
            "api.*",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Host::parse(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn patterns_deserialise_only_when_valid() {
        let pattern: HostPattern = serde_json::from_str(r#""*.Example.com""#).unwrap();
        assert_eq!(pattern, HostPattern::parse("*.example.com").unwrap());
        assert_eq!(
            serde_json::to_string(&pattern).unwrap(),
            r#""*.example.com""#
        );
        for bad in [r#""*.com""#, r#""a b.test""#, r#""""#] {
            assert!(serde_json::from_str::<HostPattern>(bad).is_err(), "{bad}");
        }
    }
}
