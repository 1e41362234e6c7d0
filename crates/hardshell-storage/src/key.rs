//! Object keys: parsed once, so a caller holding a [`Scope`](crate::Scope) can never
//! name anything outside it.
//!
//! A key is a relative path of one or more segments joined by `/`. Each segment is
//! 1 to 128 characters from `[A-Za-z0-9._-]` and does not start with `.`. That rules
//! out `..`, `.`, hidden names, absolute keys, empty segments, backslashes, percent
//! escapes and every non-ASCII look-alike at once: there is no encoding step later
//! that could turn an accepted key into a different one.

use std::fmt;

/// Longest accepted key, in bytes, including separators.
pub const MAX_KEY_LEN: usize = 512;
/// Longest accepted segment, in bytes.
pub const MAX_SEGMENT_LEN: usize = 128;

/// A validated, relative object key such as `secrets/ANTHROPIC_API_KEY`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey(String);

/// Why a string is not an [`ObjectKey`]. The rejected text is carried (escaped) so the
/// caller's error says what was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("object key is empty")]
    Empty,
    #[error("object key {key:?} is longer than {MAX_KEY_LEN} bytes")]
    TooLong { key: String },
    #[error("object key {key:?} is absolute; keys are relative to their scope")]
    Absolute { key: String },
    #[error("object key {key:?} has an empty segment")]
    EmptySegment { key: String },
    #[error("object key {key:?} has a segment starting with '.' (no '.', '..' or hidden names)")]
    DotSegment { key: String },
    #[error("object key {key:?} has a segment longer than {MAX_SEGMENT_LEN} bytes")]
    SegmentTooLong { key: String },
    #[error(
        "object key {key:?} contains {found:?}; allowed are A-Z a-z 0-9 . _ - and / between segments"
    )]
    ForbiddenCharacter { key: String, found: char },
}

impl ObjectKey {
    /// Parses `text` as a key, refusing anything that is not plainly a relative path.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let key = || text.escape_debug().to_string();
        if text.is_empty() {
            return Err(KeyError::Empty);
        }
        if text.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong {
                key: text.chars().take(64).collect::<String>() + "…",
            });
        }
        if text.starts_with('/') {
            return Err(KeyError::Absolute { key: key() });
        }
        for segment in text.split('/') {
            check_segment(segment).map_err(|fault| fault.into_error(key()))?;
        }
        Ok(Self(text.to_owned()))
    }

    /// A key of exactly one segment; `/` is refused like any other forbidden character.
    pub fn segment(text: &str) -> Result<Self, KeyError> {
        if let Some(found) = text.chars().find(|c| *c == '/') {
            return Err(KeyError::ForbiddenCharacter {
                key: text.escape_debug().to_string(),
                found,
            });
        }
        Self::parse(text)
    }

    /// `self/child`, both already valid, so the result is valid too.
    pub fn join(&self, child: &ObjectKey) -> Result<ObjectKey, KeyError> {
        let joined = format!("{}/{}", self.0, child.0);
        if joined.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong {
                key: joined.chars().take(64).collect::<String>() + "…",
            });
        }
        Ok(ObjectKey(joined))
    }

    /// The key relative to `prefix`, if it lies under it.
    pub fn strip_prefix(&self, prefix: &ObjectKey) -> Option<ObjectKey> {
        self.0
            .strip_prefix(prefix.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .map(|rest| ObjectKey(rest.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last segment, e.g. `ANTHROPIC_API_KEY` for `secrets/ANTHROPIC_API_KEY`.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

enum SegmentFault {
    Empty,
    Dot,
    TooLong,
    Character(char),
}

impl SegmentFault {
    fn into_error(self, key: String) -> KeyError {
        match self {
            SegmentFault::Empty => KeyError::EmptySegment { key },
            SegmentFault::Dot => KeyError::DotSegment { key },
            SegmentFault::TooLong => KeyError::SegmentTooLong { key },
            SegmentFault::Character(found) => KeyError::ForbiddenCharacter { key, found },
        }
    }
}

fn check_segment(segment: &str) -> Result<(), SegmentFault> {
    if segment.is_empty() {
        return Err(SegmentFault::Empty);
    }
    if let Some(found) = segment
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(SegmentFault::Character(found));
    }
    if segment.starts_with('.') {
        return Err(SegmentFault::Dot);
    }
    if segment.len() > MAX_SEGMENT_LEN {
        return Err(SegmentFault::TooLong);
    }
    Ok(())
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectKey({:?})", self.0)
    }
}

impl std::str::FromStr for ObjectKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_relative_keys_are_accepted() {
        for ok in [
            "a",
            "secrets/ANTHROPIC_API_KEY",
            "sessions/web/2026-11-24.json",
            "a-b_c.d/e",
        ] {
            assert_eq!(
                ObjectKey::parse(ok).map(|k| k.to_string()),
                Ok(ok.to_owned())
            );
        }
    }

    #[test]
    fn traversal_and_encoding_tricks_are_refused() {
        type Expect = fn(&KeyError) -> bool;
        let cases: &[(&str, Expect)] = &[
            ("", |e| matches!(e, KeyError::Empty)),
            ("/etc/passwd", |e| matches!(e, KeyError::Absolute { .. })),
            ("..", |e| matches!(e, KeyError::DotSegment { .. })),
            ("a/../b", |e| matches!(e, KeyError::DotSegment { .. })),
            ("a/./b", |e| matches!(e, KeyError::DotSegment { .. })),
            (".hidden", |e| matches!(e, KeyError::DotSegment { .. })),
            ("a//b", |e| matches!(e, KeyError::EmptySegment { .. })),
            ("a/", |e| matches!(e, KeyError::EmptySegment { .. })),
            ("a\\..\\b", |e| {
                matches!(e, KeyError::ForbiddenCharacter { found: '\\', .. })
            }),
            ("a/%2e%2e/b", |e| {
                matches!(e, KeyError::ForbiddenCharacter { found: '%', .. })
            }),
            ("a\0b", |e| {
                matches!(e, KeyError::ForbiddenCharacter { found: '\0', .. })
            }),
            ("a/\u{2025}/b", |e| {
                matches!(e, KeyError::ForbiddenCharacter { .. })
            }),
            ("a/\u{ff0e}\u{ff0e}/b", |e| {
                matches!(e, KeyError::ForbiddenCharacter { .. })
            }),
            ("a b", |e| {
                matches!(e, KeyError::ForbiddenCharacter { found: ' ', .. })
            }),
            ("a\nb", |e| {
                matches!(e, KeyError::ForbiddenCharacter { found: '\n', .. })
            }),
        ];
        for (input, expected) in cases {
            let err = ObjectKey::parse(input).expect_err(input);
            assert!(expected(&err), "{input:?} gave {err:?}");
        }
    }

    #[test]
    fn overlong_keys_and_segments_are_refused() {
        let long_segment = "a".repeat(MAX_SEGMENT_LEN + 1);
        assert!(matches!(
            ObjectKey::parse(&long_segment),
            Err(KeyError::SegmentTooLong { .. })
        ));
        let long_key = vec!["a".repeat(100); 6].join("/");
        assert!(matches!(
            ObjectKey::parse(&long_key),
            Err(KeyError::TooLong { .. })
        ));
    }

    #[test]
    fn segment_refuses_separators() {
        assert!(ObjectKey::segment("a/b").is_err());
        assert!(ObjectKey::segment("ab").is_ok());
    }

    #[test]
    fn strip_prefix_respects_segment_boundaries() {
        let prefix = ObjectKey::parse("agent").unwrap();
        let inside = ObjectKey::parse("agent/notes").unwrap();
        let sibling = ObjectKey::parse("agents/notes").unwrap();
        assert_eq!(inside.strip_prefix(&prefix).unwrap().as_str(), "notes");
        assert_eq!(sibling.strip_prefix(&prefix), None);
        assert_eq!(prefix.strip_prefix(&prefix), None);
    }

    proptest! {
        #[test]
        fn accepted_keys_never_contain_traversal(input in "\\PC{0,40}") {
            if let Ok(key) = ObjectKey::parse(&input) {
                prop_assert!(!key.as_str().starts_with('/'));
                prop_assert!(key.as_str().split('/').all(|s| !s.is_empty() && !s.starts_with('.')));
                prop_assert!(key.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b)));
            }
        }

        #[test]
        fn joined_keys_stay_under_their_prefix(a in "[a-z]{1,8}", b in "[a-z./_-]{1,20}") {
            let prefix = ObjectKey::parse(&a).unwrap();
            if let Ok(child) = ObjectKey::parse(&b) {
                let joined = prefix.join(&child).unwrap();
                prop_assert_eq!(joined.strip_prefix(&prefix), Some(child));
            }
        }
    }
}
