//! Echo redaction: secret values in an answer put back into placeholder form.
//!
//! Building the automaton over every form of the values takes hundreds of µs
//! (measured by `bench/broker.sh`: ~350 µs for one value), more than the rest
//! of a request through the broker, and the same values are swapped into
//! request after request to one host. So the built patterns are kept per
//! broker ([`Redactors`]) for the last few sets of values, and each answer
//! gets only its own pending bytes.

use std::sync::{Arc, Mutex};

use aho_corasick::{AhoCorasick, MatchKind};

use super::{Form, MIN_SCANNED_BYTES, NamedSecret, PREFIX, forms};

/// How many sets of values a broker keeps built: the hosts a shell's
/// secrets are bound to, seldom more than a handful.
const KEPT: usize = 8;

/// Puts placeholders back where secret values appear in a stream of bytes:
/// a response from a destination a secret is bound to, or to a request the
/// broker swapped values into, which a destination may echo (an API that
/// reflects its request headers) or hand back later (a note stored with a
/// placeholder in it). Every form the leak scan knows (base64, hex,
/// percent-encoded, JSON-escaped, any ASCII case) becomes the placeholder,
/// not only the raw value. The end of each piece that could be the start of
/// a value is held back until the next piece shows whether it is, so a
/// value split across two pieces is still seen, and everything else passes
/// at once: server-sent events arrive one by one, not a window's worth
/// late.
pub struct Redactor {
    patterns: Arc<Patterns>,
    pending: Vec<u8>,
}

/// What a [`Redactor`] looks for and what it puts in its place; shared by
/// every answer redacted for the same values.
struct Patterns {
    automaton: AhoCorasick,
    /// The forms searched for, to tell whether a piece's end may begin one.
    needles: Vec<zeroize::Zeroizing<Vec<u8>>>,
    replacements: Vec<Vec<u8>>,
    names: Vec<String>,
    longest: usize,
}

impl std::fmt::Debug for Redactor {
    /// Names only: the patterns are the secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.patterns.names)
            .finish_non_exhaustive()
    }
}

impl Redactor {
    /// A redactor for `secrets`, built now; `None` when there is no
    /// non-empty value. [`Redactors::get`] reuses a built one.
    pub fn new(secrets: &[NamedSecret]) -> Option<Self> {
        Patterns::build(secrets).map(|patterns| Self::over(Arc::new(patterns)))
    }

    fn over(patterns: Arc<Patterns>) -> Self {
        Self {
            patterns,
            pending: Vec::new(),
        }
    }

    /// What can be passed on after `chunk`.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(chunk);
        // The tail may be the start of a value the next piece completes.
        self.release(true)
    }

    /// The rest, at the end of the stream.
    pub fn finish(&mut self) -> Vec<u8> {
        self.release(false)
    }

    /// `whole` (a header's value) with every value replaced; the stream's
    /// pending bytes are not touched.
    pub fn whole(&self, whole: &[u8]) -> Option<Vec<u8>> {
        let patterns = &self.patterns;
        patterns.automaton.find(whole)?;
        let mut out = Vec::with_capacity(whole.len());
        let mut last = 0;
        for found in patterns.automaton.find_iter(whole) {
            out.extend_from_slice(&whole[last..found.start()]);
            out.extend_from_slice(&patterns.replacements[found.pattern().as_usize()]);
            last = found.end();
        }
        out.extend_from_slice(&whole[last..]);
        Some(out)
    }

    /// The pending bytes with every value replaced, but (when `partial`)
    /// for an end after the last value found that may begin another, which
    /// stays pending.
    fn release(&mut self, partial: bool) -> Vec<u8> {
        let patterns = &self.patterns;
        let mut out = Vec::with_capacity(self.pending.len());
        let mut last = 0;
        for found in patterns.automaton.find_iter(&self.pending) {
            out.extend_from_slice(&self.pending[last..found.start()]);
            out.extend_from_slice(&patterns.replacements[found.pattern().as_usize()]);
            last = found.end();
        }
        let keep_from = if partial {
            patterns
                .partial_from(&self.pending, last)
                .unwrap_or(self.pending.len())
        } else {
            self.pending.len()
        };
        out.extend_from_slice(&self.pending[last..keep_from]);
        self.pending.drain(..keep_from);
        out
    }
}

impl Patterns {
    fn build(secrets: &[NamedSecret]) -> Option<Self> {
        let mut needles: Vec<Vec<u8>> = Vec::new();
        let mut replacements = Vec::new();
        let mut names = Vec::new();
        for secret in secrets.iter().filter(|s| !s.expose().is_empty()) {
            let (name, value) = (secret.name(), secret.expose());
            names.push(name.to_owned());
            // A value shorter than the leak scan's minimum is put back only
            // as itself: its encoded forms (at every offset) would be a few
            // characters each, and would rewrite unrelated text in every
            // answer from the host it is bound to.
            let short = value.len() < MIN_SCANNED_BYTES;
            for (form, needle) in forms(value) {
                if short && form != Form::Raw {
                    continue;
                }
                if !needle.is_empty() && !needles.contains(&needle) {
                    needles.push(needle);
                    replacements.push(format!("{PREFIX}{name}").into_bytes());
                }
            }
        }
        let longest = needles.iter().map(Vec::len).max()?;
        // Hex and percent escapes in either case are the same bytes.
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(true)
            .build(&needles)
            .ok()?;
        Some(Self {
            automaton,
            needles: needles.into_iter().map(zeroize::Zeroizing::new).collect(),
            replacements,
            names,
            longest,
        })
    }

    /// Where the longest end of `bytes` that is the start (not the whole)
    /// of a form begins, if one is; at most the longest form less one byte
    /// from the end.
    fn partial_from(&self, bytes: &[u8], from: usize) -> Option<usize> {
        let from = from.max(bytes.len().saturating_sub(self.longest - 1));
        (from..bytes.len()).find(|&at| {
            let end = &bytes[at..];
            self.needles.iter().any(|needle| {
                needle.len() > end.len() && needle[..end.len()].eq_ignore_ascii_case(end)
            })
        })
    }
}

/// A broker's built redactors, for the last [`KEPT`] sets of values, the
/// most recently used first. The values are kept to compare with (wiped when
/// dropped, like every copy of a value the broker holds).
#[derive(Default)]
pub struct Redactors {
    kept: Mutex<Vec<(Vec<NamedSecret>, Arc<Patterns>)>>,
}

impl std::fmt::Debug for Redactors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactors").finish_non_exhaustive()
    }
}

impl Redactors {
    /// A redactor for `secrets` (in this order), built once per set of
    /// names and values and then shared; `None` when there is no non-empty
    /// value.
    pub fn get(&self, secrets: &[NamedSecret]) -> Option<Redactor> {
        let same = |kept: &[NamedSecret]| {
            kept.len() == secrets.len()
                && kept
                    .iter()
                    .zip(secrets)
                    .all(|(a, b)| a.name() == b.name() && a.expose() == b.expose())
        };
        {
            let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(at) = kept.iter().position(|(values, _)| same(values)) {
                let entry = kept.remove(at);
                let patterns = entry.1.clone();
                kept.insert(0, entry);
                return Some(Redactor::over(patterns));
            }
        }
        // Built outside the lock: other answers need not wait for it.
        let patterns = Arc::new(Patterns::build(secrets)?);
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.insert(0, (secrets.to_vec(), patterns.clone()));
        kept.truncate(KEPT);
        Some(Redactor::over(patterns))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn secrets(value: &str) -> Vec<NamedSecret> {
        vec![NamedSecret::new("API_KEY", value.as_bytes().to_vec())]
    }

    #[test]
    fn a_kept_redactor_is_shared_for_the_same_values_and_never_for_others() {
        let redactors = Redactors::default();
        let first = redactors.get(&secrets("value-one-123456")).unwrap();
        let again = redactors.get(&secrets("value-one-123456")).unwrap();
        assert!(Arc::ptr_eq(&first.patterns, &again.patterns));
        // Another value (the secret was rotated) is built anew, and redacts
        // the new value, not the old.
        let mut rotated = redactors.get(&secrets("value-two-654321")).unwrap();
        assert!(!Arc::ptr_eq(&first.patterns, &rotated.patterns));
        let mut out = rotated.push(b"a value-two-654321 b value-one-123456");
        out.extend(rotated.finish());
        assert_eq!(out, b"a hs-secret:API_KEY b value-one-123456");
        // Each answer has its own pending bytes.
        let (mut a, mut b) = (
            redactors.get(&secrets("value-one-123456")).unwrap(),
            redactors.get(&secrets("value-one-123456")).unwrap(),
        );
        let mut out_a = a.push(b"x value-one");
        let mut out_b = b.push(b"y ");
        out_a.extend(a.push(b"-123456"));
        out_a.extend(a.finish());
        out_b.extend(b.finish());
        assert_eq!(out_a, b"x hs-secret:API_KEY");
        assert_eq!(out_b, b"y ");
        // No more than KEPT sets are kept.
        for n in 0..KEPT + 3 {
            redactors.get(&secrets(&format!("value-{n:02}-abcdefgh")));
        }
        assert_eq!(redactors.kept.lock().unwrap().len(), KEPT);
        assert!(redactors.get(&secrets("")).is_none());
    }
}
