//! Secrets as placeholders, and the leak scan.
//!
//! Code in a shell holds `hs-secret:NAME`, never a value. The broker swaps a
//! placeholder for the value only in a request to a host the secret is bound
//! to (and, when the binding names one, only in that header); a placeholder
//! anywhere else refuses the whole request ([`Misdirected`]), naming the
//! secret but holding neither its value nor the placeholder text.
//!
//! A model route's requests are the exception ([`Placeholders::Inert`]):
//! its conversation quotes placeholders, which pass as text; only the
//! provider's key placeholder in its key header is swapped.
//!
//! The leak scan looks for secret values themselves in what leaves (and in
//! tool output before the model sees it): raw, base64 (standard and URL-safe,
//! at any alignment inside a longer encoded run), hex and percent-encoded
//! (escaped where needed, or every byte), base32, JSON-escaped, in any ASCII
//! case, and also with line breaks taken out (encoders wrap what they print).

use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, MatchKind, PatternID};
use base64::Engine as _;

use crate::host::{Host, HostPattern};
use crate::policy::Placeholders;

mod live;
mod named;
mod redact;
mod stream;

pub use live::{CHECK_EVERY, LiveScanner, NamedValues, SecretSource, SourceError};
pub use named::NamedSecret;
pub use redact::{Redactor, Redactors};
pub use stream::{Stopped, StreamScan};

/// What a placeholder starts with.
pub const PREFIX: &str = "hs-secret:";

/// Values shorter than this are not scanned for: too many innocent matches.
pub const MIN_SCANNED_BYTES: usize = 8;

/// Where a secret may be used.
#[derive(Debug, Clone)]
pub struct Binding {
    pub hosts: Vec<HostPattern>,
    /// If set, only in this request header (compared case-insensitively).
    pub header: Option<String>,
}

/// Where in a request a placeholder was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<'a> {
    /// The URL path (Telegram's bot token lives there).
    Path,
    Header(&'a str),
    Query,
    Body,
}

/// A placeholder where its secret may not go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret {name} is not bound to {host} ({where_})")]
pub struct Misdirected {
    pub name: String,
    pub host: String,
    pub where_: String,
}

/// Finds every `hs-secret:NAME` in `text`: `(start, end, name)`.
fn placeholders(text: &str) -> Vec<(usize, usize, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(PREFIX) {
        let start = from + at;
        let name_start = start + PREFIX.len();
        let name_len = text[name_start..]
            .bytes()
            .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
            .count();
        let end = name_start + name_len;
        if name_len > 0 {
            found.push((start, end, &text[name_start..end]));
        }
        from = end.max(start + 1);
    }
    found
}

/// Whether `text` ends inside a placeholder's name: cut there, the name
/// may go on in what follows, and swapping the part seen would swap another
/// secret's (`KEY` for `KEY_2`) or refuse for the wrong reason.
pub fn ends_in_placeholder(text: &str) -> bool {
    placeholders(text)
        .last()
        .is_some_and(|(_, end, _)| *end == text.len())
}

/// The names of the placeholders in `text`, in order, repeats included.
pub fn placeholder_names(text: &str) -> Vec<&str> {
    placeholders(text)
        .into_iter()
        .map(|(_, _, name)| name)
        .collect()
}

/// `text` with each placeholder replaced by its value, if every one found is
/// bound to `host` (and to this header, where a binding names one).
pub fn substitute(
    text: &str,
    host: &Host,
    place: Place<'_>,
    bindings: &BTreeMap<String, Binding>,
    value_of: impl Fn(&str) -> Option<String>,
) -> Result<String, Misdirected> {
    let bound_here = |name: &str| {
        bindings.get(name).is_some_and(|binding| {
            let host_ok = binding.hosts.iter().any(|p| p.matches(host));
            let place_ok = match (&binding.header, place) {
                (None, _) => true,
                (Some(bound), Place::Header(header)) => bound.eq_ignore_ascii_case(header),
                (Some(_), _) => false,
            };
            host_ok && place_ok
        })
    };
    substitute_where(text, host, place, bound_here, value_of)
}

/// `text` as the route's [`Placeholders`] rule has it: swapped where bound
/// ([`substitute`]), or, on a model route, left as text everywhere but the
/// key header, where only the route's own keys are swapped.
pub fn swap_for_route(
    text: &str,
    host: &Host,
    place: Place<'_>,
    placeholders: &Placeholders,
    bindings: &BTreeMap<String, Binding>,
    value_of: impl Fn(&str) -> Option<String>,
) -> Result<String, Misdirected> {
    match (placeholders, place) {
        (Placeholders::Bound, _) => substitute(text, host, place, bindings, value_of),
        (Placeholders::Inert { key: Some(key) }, Place::Header(header))
            if key.header.eq_ignore_ascii_case(header) =>
        {
            let own = |name: &str| key.secrets.iter().any(|secret| secret == name);
            substitute_where(text, host, place, own, value_of)
        }
        (Placeholders::Inert { .. }, _) => Ok(text.to_owned()),
    }
}

/// `text` with each placeholder replaced by its value, if `allowed` allows
/// every one found.
fn substitute_where(
    text: &str,
    host: &Host,
    place: Place<'_>,
    allowed: impl Fn(&str) -> bool,
    value_of: impl Fn(&str) -> Option<String>,
) -> Result<String, Misdirected> {
    let found = placeholders(text);
    if found.is_empty() {
        return Ok(text.to_owned());
    }
    let where_ = match place {
        Place::Header(name) => format!("header {}", name.to_ascii_lowercase()),
        Place::Path => "path".to_owned(),
        Place::Query => "query".to_owned(),
        Place::Body => "body".to_owned(),
    };
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end, name) in found {
        let misdirected = || Misdirected {
            name: name.to_owned(),
            host: host.to_string(),
            where_: where_.clone(),
        };
        if !allowed(name) {
            return Err(misdirected());
        }
        let value = value_of(name).ok_or_else(misdirected)?;
        out.push_str(&text[last..start]);
        out.push_str(&value);
        last = end;
    }
    out.push_str(&text[last..]);
    Ok(out)
}

/// In which form a secret value was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Raw,
    Base64,
    Hex,
    UrlEncoded,
    /// RFC 4648 base32, either case, padded or not (names under a
    /// wildcard route carry it: DNS labels are case-insensitive).
    Base32,
    /// Its bytes in reverse order (`rev`).
    Reversed,
    /// As a JSON string may carry it: `/` as `\/`, `"` and `\` escaped,
    /// or every character as `\uXXXX` (either case).
    JsonEscaped,
}

/// A secret value found where it must not be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub name: String,
    pub form: Form,
}

/// Searches for every form of a set of secret values at once.
#[derive(Clone)]
pub struct LeakScanner {
    automaton: Option<AhoCorasick>,
    patterns: Vec<(String, Form)>,
    /// The longest form searched for, in bytes.
    longest: usize,
}

impl std::fmt::Debug for LeakScanner {
    /// Names only: the patterns are the secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.patterns.iter().map(|(n, _)| n.as_str()).collect();
        names.dedup();
        f.debug_struct("LeakScanner")
            .field("secrets", &names)
            .finish()
    }
}

impl LeakScanner {
    /// A scanner for `secrets`; values shorter than [`MIN_SCANNED_BYTES`]
    /// are left out.
    pub fn new(secrets: &[NamedSecret]) -> Self {
        let mut needles: Vec<Vec<u8>> = Vec::new();
        let mut patterns = Vec::new();
        for secret in secrets
            .iter()
            .filter(|s| s.expose().len() >= MIN_SCANNED_BYTES)
        {
            for (form, needle) in forms(secret.expose()) {
                if !needle.is_empty() && !needles.contains(&needle) {
                    needles.push(needle);
                    patterns.push((secret.name().to_owned(), form));
                }
            }
        }
        // Without regard to ASCII case: hex and percent escapes in mixed
        // case are the same bytes, and a header name arrives lower-cased.
        let automaton = if needles.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .ascii_case_insensitive(true)
                .build(&needles)
                .ok()
        };
        let longest = needles.iter().map(Vec::len).max().unwrap_or(0);
        Self {
            automaton,
            patterns,
            longest,
        }
    }

    /// The longest form searched for, in bytes (0 with no secret): a
    /// stream scanned in pieces keeps this much less one of each piece to
    /// see a value split across two.
    pub fn longest(&self) -> usize {
        self.longest
    }

    /// The first secret found in `haystack`, or in it with its whitespace
    /// taken out, if any.
    pub fn find(&self, haystack: &[u8]) -> Option<Finding> {
        let automaton = self.automaton.as_ref()?;
        let found = automaton.find(haystack).or_else(|| {
            let (unwrapped, _) = unwrapped(haystack)?;
            automaton.find(&unwrapped)
        })?;
        let (name, form) = &self.patterns[found.pattern().as_usize()];
        Some(Finding {
            name: name.clone(),
            form: *form,
        })
    }

    /// `text` with every secret found replaced by `[redacted:NAME]`, and what
    /// was found; a value wrapped over lines (as `base64` and `xxd -p` print
    /// it), or with spaces between its characters, is replaced with all it
    /// spans.
    pub fn redact(&self, text: &str) -> (String, Vec<Finding>) {
        let (text, mut findings) = self.redact_in_line(text);
        let Some((automaton, (unwrapped, at))) =
            self.automaton.as_ref().zip(unwrapped(text.as_bytes()))
        else {
            return (text, findings);
        };
        let spans = automaton
            .find_iter(&unwrapped)
            .map(|found| (at[found.start()], at[found.end() - 1] + 1, found.pattern()));
        let out = self.replace_spans(&text, spans, &mut findings);
        (out, findings)
    }

    /// A command's two streams, `first` and `second`, each redacted, and
    /// then scanned joined in either order: a value printed half to each is
    /// found too. When it is, both are given back redacted as one, in the
    /// first (the second empty): which part was where is gone with it.
    pub fn redact_streams(&self, first: &str, second: &str) -> (String, String, Vec<Finding>) {
        let (first, mut findings) = self.redact(first);
        let (second, more) = self.redact(second);
        findings.extend(more);
        for joined in [format!("{first}{second}"), format!("{second}{first}")] {
            if self.find(joined.as_bytes()).is_some() {
                let (redacted, more) = self.redact(&joined);
                findings.extend(more);
                return (redacted, String::new(), findings);
            }
        }
        (first, second, findings)
    }

    /// [`LeakScanner::redact`] for values within a line.
    fn redact_in_line(&self, text: &str) -> (String, Vec<Finding>) {
        let Some(automaton) = &self.automaton else {
            return (text.to_owned(), Vec::new());
        };
        let mut findings = Vec::new();
        let spans = automaton
            .find_iter(text)
            .map(|found| (found.start(), found.end(), found.pattern()));
        let out = self.replace_spans(text, spans, &mut findings);
        (out, findings)
    }

    /// `text` with each span (byte offsets into `text`, in order, with the
    /// pattern found there) replaced by `[redacted:NAME]` and recorded in
    /// `findings`. Spans are widened to character boundaries (a match splits
    /// a UTF-8 character only if a secret does); one that starts inside the
    /// last replaced is skipped.
    fn replace_spans(
        &self,
        text: &str,
        spans: impl Iterator<Item = (usize, usize, PatternID)>,
        findings: &mut Vec<Finding>,
    ) -> String {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for (start, end, pattern) in spans {
            let start = (0..=start.min(text.len()))
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            let end = (end.min(text.len())..=text.len())
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(text.len());
            if start < last {
                continue;
            }
            let (name, form) = &self.patterns[pattern.as_usize()];
            out.push_str(&text[last..start]);
            out.push_str(&format!("[redacted:{name}]"));
            last = end;
            findings.push(Finding {
                name: name.clone(),
                form: *form,
            });
        }
        out.push_str(&text[last..]);
        out
    }
}

/// `haystack` without its ASCII whitespace (and the JSON escapes of line
/// breaks and tabs, `\n`, `\r`, `\t`: a request body in JSON carries a
/// command's output escaped), with each byte kept at its offset in
/// `haystack`; `None` when it has none. Encoders wrap what they print
/// (`base64` at 76 columns, `xxd -p` at 60), and a value can be printed with
/// spaces between its characters.
fn unwrapped(haystack: &[u8]) -> Option<(Vec<u8>, Vec<usize>)> {
    let escaped =
        |i: usize| haystack[i] == b'\\' && matches!(haystack.get(i + 1), Some(b'n' | b'r' | b't'));
    if !haystack
        .iter()
        .enumerate()
        .any(|(i, b)| b.is_ascii_whitespace() || escaped(i))
    {
        return None;
    }
    let mut kept = Vec::with_capacity(haystack.len());
    let mut at = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if escaped(i) {
            i += 2;
            continue;
        }
        if !haystack[i].is_ascii_whitespace() {
            kept.push(haystack[i]);
            at.push(i);
        }
        i += 1;
    }
    Some((kept, at))
}

/// Every form of `value` to search for.
fn forms(value: &[u8]) -> Vec<(Form, Vec<u8>)> {
    let mut forms = vec![(Form::Raw, value.to_vec())];
    for engine in [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        // The value may start at any of three byte offsets within a longer
        // encoded run; for each, the characters that depend on the value
        // alone are the same whatever surrounds it.
        for offset in 0..3usize {
            let mut data = vec![0u8; offset];
            data.extend_from_slice(value);
            let encoded = engine.encode(&data);
            let skip = match offset {
                0 => 0,
                1 => 2,
                _ => 3,
            };
            let full = (data.len() * 8) / 6;
            if full > skip {
                forms.push((Form::Base64, encoded.as_bytes()[skip..full].to_vec()));
            }
        }
    }
    // Base32 the same way, at any of five byte offsets; its padding comes
    // after the characters that depend on the value alone.
    for offset in 0..5usize {
        let mut data = vec![0u8; offset];
        data.extend_from_slice(value);
        let encoded = data_encoding::BASE32_NOPAD.encode(&data);
        let skip = (offset * 8).div_ceil(5);
        let full = (data.len() * 8) / 5;
        if full > skip {
            forms.push((Form::Base32, encoded.as_bytes()[skip..full].to_vec()));
        }
    }
    forms.push((Form::Hex, hex::encode(value).into_bytes()));
    forms.push((Form::Hex, hex::encode_upper(value).into_bytes()));
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    for upper in [true, false] {
        let mut encoded = String::new();
        for &b in value {
            if unreserved(b) {
                encoded.push(char::from(b));
            } else if upper {
                encoded.push_str(&format!("%{b:02X}"));
            } else {
                encoded.push_str(&format!("%{b:02x}"));
            }
        }
        forms.push((Form::UrlEncoded, encoded.into_bytes()));
    }
    // Every byte escaped, unreserved ones too (the case of the escapes does
    // not matter to the search).
    let every: String = value.iter().map(|b| format!("%{b:02x}")).collect();
    forms.push((Form::UrlEncoded, every.into_bytes()));
    forms.extend(
        json_escaped(value)
            .into_iter()
            .map(|f| (Form::JsonEscaped, f)),
    );
    forms.push((Form::Reversed, value.iter().rev().copied().collect()));
    forms
}

/// `value` as JSON strings carry it, if it is text: escaped as a JSON
/// encoder must (`"`, `\\`, control characters), that with `/` as `\/` too
/// (as PHP and others write it), and every character as `\uXXXX`. A mix of
/// escaped and plain characters other than these is not among them.
fn json_escaped(value: &[u8]) -> Vec<Vec<u8>> {
    let Ok(text) = std::str::from_utf8(value) else {
        return Vec::new();
    };
    let escaped = |slash: bool| {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' if slash => out.push_str("\\/"),
                c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                c => out.push(c),
            }
        }
        out.into_bytes()
    };
    let every: String = text
        .encode_utf16()
        .map(|unit| format!("\\u{unit:04x}"))
        .collect();
    vec![escaped(false), escaped(true), every.into_bytes()]
}

#[cfg(test)]
mod tests;
